"""The seed's walk — quote, renewal, invoice, payment — on the days where the season turns.

Each test runs once per edge, on the demo that `make run` builds for that day (``load_demo``):
the day before the campaign opens, the opening day just after midnight, 31 December late in
the evening (also the last day the notice may still go), 1 January just after midnight, and a
leap day. Amounts are read from the grid of the season the app is in, never written here.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from chalicelib import jobs
from chalicelib.domain.model import MembershipStatus
from chalicelib.domain.renewal import RequestState
from chalicelib.local.demo import load_demo, open_season
from chalicelib.runtime import PARIS
from chalicelib.services.renewal import renewal_status
from tests.conftest import FakeClock, sent_emails
from tests.functional.conftest import STAFF, Browser
from tests.functional.test_admin_requests import pay

DURAND = "n.durand@paysages-durand.example"

# (the app's now in Paris, the season a renewal is for, whether the daily run sends the notice)
EDGES = {
    "day-before-opening": ("2026-11-30T10:00", 2026, False),
    "opening-day": ("2026-12-01T00:30", 2027, True),
    "31-december-last-notice-day": ("2026-12-31T23:30", 2027, True),
    "1-january": ("2027-01-01T00:30", 2027, False),
    "leap-day": ("2028-02-29T12:00", 2028, False),
}


@pytest.fixture(params=list(EDGES.values()), ids=list(EDGES))
def edge(request):
    return request.param


@pytest.fixture
def clock(edge) -> FakeClock:
    """Overrides the suite's clock: this module's runtime lives on the edge's day."""
    return FakeClock(datetime.fromisoformat(edge[0]).replace(tzinfo=PARIS).astimezone(timezone.utc))


@pytest.fixture
def world(rt, client):
    load_demo(rt)
    rt.sleep = lambda seconds: None  # the campaign's SES throttle: the fake clock does not move anyway
    return Browser(client)


def test_the_open_season_is_the_expected_one(rt, edge, world):
    assert open_season(rt) == edge[1]
    assert renewal_status(rt, "org-durand", rt.memberships.for_organisation("org-durand")).year == edge[1]


def test_the_daily_run_sends_the_notice_only_inside_its_window(rt, edge, world):
    jobs.run_campaign_schedule(rt)
    jobs.drain_campaign_queue(rt)
    to_durand = [m.subject for m in sent_emails() if DURAND in m.recipients]
    notices = [s for s in to_durand if s.startswith(f"Renouvellement de votre adhésion {edge[1]} ")]
    assert len(notices) == (1 if edge[2] else 0)
    assert all(str(edge[1] - 1) not in subject for subject in to_durand)  # never a past season's notice


def test_quote_renewal_invoice_and_payment(rt, edge, world):
    now, season = rt.clock(), edge[1]
    issue_year = now.astimezone(PARIS).year
    amount = rt.tariffs.grid(season).tier("ENT-2").amount  # Durand's tier, in the open season's grid
    browser = world
    browser.login(DURAND)

    # « Éditer un devis »: a quote for the open season, numbered in the year of issue
    browser.get("/mon-compte/adhesions")
    assert browser.post("/mon-compte/devis", {}).status_code == 303
    [quote] = [d for d in rt.documents.for_organisation("org-durand") if d.number.startswith("DEV-")]
    assert quote.number.startswith(f"DEV-{issue_year}-") and quote.year == season

    # « Renouveler l'adhésion » → « Enregistrer ma demande », without waiting for a purchase order
    assert str(season) in browser.get("/mon-compte/adhesions/renouveler").body.decode()
    response = browser.post("/mon-compte/adhesions/renouveler", {
        "tier_choice": "confirm", "payment_method": "virement", "wait_for_purchase_order": "no",
        "address_line1": "ZA des Grands Champs, 8 rue des Artisans", "postcode": "35000", "city": "Rennes",
        "siret": "48312345600027", "invoice_email": "compta@paysages-durand.example"})
    assert response.status_code == 303 and f"/demande/{season}?" in response.headers["Location"]

    # the invoice follows at once, for the season, numbered in the year of issue
    request = rt.renewals.latest("org-durand", season)
    assert request.state is RequestState.INVOICED and request.amount == amount
    assert re.fullmatch(rf"FAC-{issue_year}-\d{{5}}", request.invoice_number)
    assert any(request.invoice_number in m.subject + m.text for m in sent_emails() if DURAND in m.recipients)

    # staff record the payment (dated today): the season's membership is paid, with its certificate
    team = Browser(browser.client)
    team.login(STAFF)
    paid = pay(team, f"/admin/demandes/org-durand/{season}", str(amount).replace(".", ","),
               paid_on=now.astimezone(PARIS).date().isoformat(), reference="VIR DURAND")
    assert paid.status_code == 303, team.text()[:2000]
    assert rt.renewals.latest("org-durand", season).state is RequestState.PAID
    membership = next(m for m in rt.memberships.for_organisation("org-durand") if m.year == season)
    assert membership.status is MembershipStatus.PAID and membership.amount == amount
    assert any(d.number.startswith(f"ATT-{issue_year}-") for d in rt.documents.for_organisation("org-durand"))

    # nothing is left to renew for that season; the member's page says it is paid
    assert renewal_status(rt, "org-durand", rt.memberships.for_organisation("org-durand")).year != season
    browser.get("/mon-compte/adhesions")
    assert re.search(rf"{season}.{{0,400}}Payée", browser.text(), re.S)


def test_the_demo_shows_every_stage_of_the_open_season(rt, edge, world):
    """What the README promises of `make run`, whatever the day."""
    season, now = edge[1], rt.clock()
    states = {org: rt.renewals.latest(org, season) for org in ("org-durand", "org-grand-port", "org-val-fleuri",
                                                                 "org-federation")}
    assert states["org-durand"] is None  # still to renew
    assert states["org-grand-port"].state is RequestState.AWAITING_PURCHASE_ORDER
    assert states["org-val-fleuri"].state is RequestState.INVOICED
    assert states["org-federation"].state is RequestState.PAID
    for org_id in ("org-val-fleuri", "org-federation"):
        kinds = {d.number[:3] for d in rt.documents.for_organisation(org_id) if d.year == season}
        assert {"FAC"} <= kinds and (org_id != "org-federation" or "ATT" in kinds)
    for request in states.values():
        assert request is None or request.submitted_at <= now
    # the two seasons before, for the dashboard's curves
    assert {r.year for r in rt.renewals.for_organisation("org-beaulieu")} == {season - 1, season - 2}
