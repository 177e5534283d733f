"""The staff dashboard: organisations by state, the renewal rate day by day against last season,
who has not renewed yet (with contacts), and the page itself (SVG chart, escaping, season choice).

The 2027 campaign opens on 1 December 2026. The world built here, by hand:

- 1 Dec: Ville de Montclair asks to wait for its purchase order   → awaiting PO
- 3 Dec: Commune de Saint-Aubin submits                            → invoiced at once
- 4 Dec: Lycée de Beaulieu asks for another tier                   → tier decision pending
- 5 Dec: Fédération submits (waits for its PO); staff cancel it on 8 Dec
- 8 Dec: Ville de Grand-Port submits (invoiced at once); paid on 10 Dec
- today: 10 December 2026. Not renewed: Val Fleuri, Durand, and the Fédération (cancelled).

Seven organisations had to renew (each has a 2026 or 2025 membership), so the rate runs
1, 1, 2, 3, 4, 4, 4, 4, 4, 4 out of 7 from 1 to 10 December (the Fédération counts from 5 to
7 December, Grand-Port from 8 December).

Last season (2026 campaign, opened 1 December 2025), stored as history: Val Fleuri on
2 Dec 2025, Beaulieu on 3 Dec 2025 (cancelled on 6 Dec), Durand on 5 Dec 2025 — so
0, 1, 2, 2, 3, 2, 2, 2, 2, 2 out of 7 on the same days.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest

from chalicelib.domain.model import Address, Category, Contact, Membership, MembershipStatus, Organisation, Role
from chalicelib.domain.renewal import RequestState
from chalicelib.services import dashboard, renewal
from tests.bench.common import DynamoCounter
from tests.functional.conftest import MEMBER, STAFF
from tests.functional.renewal_support import plain

PAGE = "/admin/tableau-de-bord"
SVG = "{http://www.w3.org/2000/svg}"


def at(day: int, month: int = 12, year: int = 2026) -> datetime:
    """10:00 in Paris on that day (09:00 UTC in winter)."""
    return datetime(year, month, day, 9, 0, tzinfo=timezone.utc)


def submit(rt, clock, org_id: str, day: int, **choices):
    clock.now = at(day)
    contact = rt.contacts.for_organisation(org_id)[0]
    offer = renewal.start_renewal(rt, org_id, contact.contact_id)
    fields = {**asdict(offer.form), "payment_method": "virement", "wait_for_purchase_order": "no", **choices}
    return renewal.submit_renewal_request(rt, org_id, contact.contact_id, fields).request


def last_season(rt, model, org_id: str, submitted: datetime, cancelled: datetime | None = None):
    """A 2026 request as it was stored a year ago (the history the comparison curve reads)."""
    org = rt.organisations.get(org_id)
    request = replace(model, org_id=org_id, organisation_name=org.name, year=2026, attempt=1,
                      state=RequestState.READY_TO_INVOICE, submitted_at=submitted, updated_at=submitted,
                      history=(replace(model.history[0], at=submitted, state=RequestState.READY_TO_INVOICE),),
                      invoice_number="", version=None)
    rt.renewals.add(request.cancelled(cancelled, "staff") if cancelled else request)


@pytest.fixture
def staff_id(rt, demo):
    return rt.contacts.find_by_email(STAFF).contact_id


@pytest.fixture
def world(rt, clock, staff_id):
    """The season described in the module docstring; returns the requests by organisation."""
    made = {
        "org-montclair": submit(rt, clock, "org-montclair", 1, wait_for_purchase_order="yes"),
        "org-saint-aubin": submit(rt, clock, "org-saint-aubin", 3),
        "org-beaulieu": submit(rt, clock, "org-beaulieu", 4, tier_choice="change", requested_tier="ENS-2",
                               tier_comment="Nous sommes devenus un organisme de recherche."),
        "org-federation": submit(rt, clock, "org-federation", 5, wait_for_purchase_order="yes"),
    }
    clock.now = at(8)
    renewal.cancel_request(rt, "org-federation", 2027, cancelled_by=staff_id, reason="Doublon")
    made["org-grand-port"] = submit(rt, clock, "org-grand-port", 8)
    clock.now = at(10)
    renewal.mark_paid(rt, "org-grand-port", 2027, by=staff_id)
    model = made["org-montclair"]
    last_season(rt, model, "org-val-fleuri", at(2, year=2025))
    last_season(rt, model, "org-beaulieu", at(3, year=2025), cancelled=at(6, year=2025))
    last_season(rt, model, "org-durand", at(5, year=2025))
    clock.now = at(10) + timedelta(hours=5)
    return made


def tier_amount(rt, code: str) -> Decimal:
    return rt.tariffs.grid(2027).tier(code).amount


# --- the service ---------------------------------------------------------------------------


def test_organisations_are_counted_by_state_with_their_amounts(rt, world):
    view = dashboard.build_dashboard(rt)
    assert view.season == 2027 and view.opens_on == date(2026, 12, 1) and view.until == date(2026, 12, 10)
    lines = {line.key: line for line in view.lines}
    assert [line.key for line in view.lines] == [
        "not_renewed", "tier_decision_pending", "awaiting_purchase_order", "ready_to_invoice", "invoiced", "paid",
        "without_request"]
    expected = {
        "not_renewed": (3, tier_amount(rt, "COL-5") + tier_amount(rt, "ENT-2") + tier_amount(rt, "FED-1")),
        "tier_decision_pending": (1, tier_amount(rt, "ENS-1")),  # invoiced as offered until staff decide
        "awaiting_purchase_order": (1, tier_amount(rt, "COL-3")),
        "ready_to_invoice": (0, Decimal("0")),
        "invoiced": (1, tier_amount(rt, "COL-1")),
        "paid": (1, tier_amount(rt, "COL-5")),
        "without_request": (0, Decimal("0")),
    }
    assert {key: (line.organisations, line.amount) for key, line in lines.items()} == expected
    saint_aubin_invoice = rt.documents.by_number(world["org-saint-aubin"].invoice_number)
    grand_port_invoice = rt.documents.by_number(world["org-grand-port"].invoice_number)
    assert lines["invoiced"].invoiced == saint_aubin_invoice.total == Decimal("185.00")
    assert lines["paid"].invoiced == grand_port_invoice.total
    assert lines["awaiting_purchase_order"].invoiced == Decimal("0") and lines["not_renewed"].invoiced is None
    assert view.total.organisations == 7
    assert view.total.amount == sum(amount for _, amount in expected.values())


def test_the_rate_is_computed_day_by_day_from_the_stored_dates(rt, world):
    view = dashboard.build_dashboard(rt)
    current = view.current
    assert current.population == 7 and current.opens_on == date(2026, 12, 1)
    assert [p.day for p in current.points] == [date(2026, 12, d) for d in range(1, 11)]
    assert [p.renewed for p in current.points] == [1, 1, 2, 3, 4, 4, 4, 4, 4, 4]
    assert view.rate == Fraction(4, 7) and view.renewed == 4
    previous = view.previous
    assert previous.season == 2026 and previous.population == 7
    assert [p.day for p in previous.points][:2] == [date(2025, 12, 1), date(2025, 12, 2)]
    assert [p.renewed for p in previous.points] == [0, 1, 2, 2, 3, 2, 2, 2, 2, 2]
    assert view.previous_rate == Fraction(2, 7)


def test_the_curve_of_a_day_only_counts_what_was_true_that_day(rt, world, clock):
    clock.now = at(6)  # back to 6 December: Grand-Port had not asked yet, the Fédération was not cancelled
    view = dashboard.build_dashboard(rt)
    assert [p.renewed for p in view.current.points] == [1, 1, 2, 3, 4, 4]


def test_not_renewed_organisations_come_with_their_active_contacts(rt, world):
    durand = [c for c in rt.contacts.for_organisation("org-durand")]
    leaving = next(c for c in durand if c.name == "Émilie Roche")
    rt.contacts.update(leaving, replace(leaving, active=False))
    view = dashboard.build_dashboard(rt)
    names = [line.org.name for line in view.not_renewed]
    assert names == ["Communauté d'agglomération du Val Fleuri", "Fédération régionale des paysagistes",
                     "Paysages Durand SARL"]
    by_id = {line.org.org_id: line for line in view.not_renewed}
    assert [(c.name, c.email) for c in by_id["org-durand"].contacts] == [
        ("Nicolas Durand", "n.durand@paysages-durand.example")]
    assert by_id["org-durand"].last_year == 2025 and by_id["org-durand"].expected == tier_amount(rt, "ENT-2")
    assert by_id["org-federation"].cancelled_on == date(2026, 12, 8)
    assert by_id["org-val-fleuri"].cancelled_on is None


def test_memberships_recorded_without_a_request_are_counted_apart(rt, world):
    rt.memberships.save(Membership("org-durand", 2027, "ENT-2", "Entreprise", Decimal("360"), MembershipStatus.PAID))
    view = dashboard.build_dashboard(rt)
    lines = {line.key: line for line in view.lines}
    assert lines["without_request"].organisations == 1 and lines["without_request"].amount == Decimal("360")
    assert lines["not_renewed"].organisations == 2
    assert view.without_request == 1 and view.renewed == 4  # undated: not in the curve


def test_inactive_organisations_are_neither_to_renew_nor_listed(rt, world):
    durand = rt.organisations.get("org-durand")
    rt.organisations.update(replace(durand, active=False))
    view = dashboard.build_dashboard(rt)
    assert view.current.population == 6 and "org-durand" not in {n.org.org_id for n in view.not_renewed}


def test_a_past_season_ends_the_day_before_the_next_campaign(rt, world):
    view = dashboard.build_dashboard(rt, 2026)
    assert view.opens_on == date(2025, 12, 1) and view.until == date(2026, 11, 30)
    assert len(view.current.points) == 365 and view.current.last.renewed == 2
    assert len(view.table) <= 12


def test_a_season_not_open_yet_has_no_curve(rt, demo, clock):
    clock.now = at(1)
    view = dashboard.build_dashboard(rt, 2028)
    assert not view.opened and view.chart == "" and view.table == [] and view.rate is None


def test_the_dynamodb_requests_do_not_grow_with_the_organisations(rt, world):
    rt.settings_ttl_seconds = 3600  # the association's settings stay cached: count the dashboard's reads only
    counter = DynamoCounter()
    with counter.installed():
        dashboard.build_dashboard(rt)
    few = dict(counter.calls)
    for n in range(30):
        org = Organisation(f"org-extra-{n:02d}", f"Commune {n}", Category.COLLECTIVITE,
                           Address("1 place", "49000", "Angers"), f"mairie{n}@extra.example", current_tier="COL-1")
        rt.organisations.add(org)
        rt.memberships.save(Membership(org.org_id, 2026, "COL-1", "Commune", Decimal("180"), MembershipStatus.PAID))
        rt.contacts.add(Contact(f"contact-extra-{n}", f"c{n}@extra.example", f"Contact {n}", Role.CONTACT,
                                org.org_id))
    counter.calls.clear()
    with counter.installed():
        many = dashboard.build_dashboard(rt)
    assert many.current.population == 37
    assert dict(counter.calls) == few
    assert sum(few.values()) == 18 and few == {"Scan": 5, "Query": 13}  # one Scan: the Chorus Pro deposits


# --- the page ------------------------------------------------------------------------------


@pytest.fixture
def staff(browser):
    assert browser.login(STAFF).status_code == 303
    return browser


def chart_of(html: str) -> ET.Element:
    match = re.search(r"<svg.*?</svg>", html, re.S)
    assert match, "no chart on the page"
    return ET.fromstring(match.group(0))


def test_the_page_shows_states_rate_chart_and_who_to_call(world, staff):
    assert 'href="/admin/tableau-de-bord"' in staff.get("/admin").body.decode()
    response = staff.get(PAGE)
    assert response.status_code == 200
    html = response.body.decode()
    text = plain(staff.text(typography=True))
    assert "Tableau de bord — adhésions 2027" in text
    assert "57,1\u202f% (4 sur 7)" in text and "28,6\u202f% (2 sur 7" in text
    assert re.search(r"Facturée</th>\s*<td class=\"num\">1</td>", html)
    assert re.search(r"Pas encore renouvelée.*?</th>\s*<td class=\"num\">3</td>", html, re.S)
    assert 'href="/admin/campagne"' in html
    root = chart_of(html)
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Taux de renouvellement 2027, comparé à 2026"
    assert "4 sur 7" in root.find(f"{SVG}desc").text
    labels = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "1er déc." in labels and "100\u202f%" in labels and "57\u202f%" in labels
    assert len(root.findall(f"{SVG}polyline")) == 2
    table = re.search(r'<table class="chart-data">.*?</table>', html, re.S).group(0)
    assert "1er décembre 2026" in plain(table) and "10 décembre 2026" in plain(table)
    assert "57,1\u202f% (4/7)" in plain(table) and "28,6\u202f% (2/7)" in plain(table)
    missing = plain(html[html.index('id="missing-title"'):])
    assert "Pas encore renouvelées (3)" in missing
    assert "Nicolas Durand — n.durand@paysages-durand.example" in missing
    assert "Demande annulée le 8 décembre 2026" in missing
    assert 'href="/admin/structures/org-durand"' in html


def test_hostile_names_are_escaped_in_the_page_and_the_chart(world, staff, rt):
    hostile = '<script>alert("x")</script> & <b>Cie</b>'
    durand = rt.organisations.get("org-durand")
    rt.organisations.update(replace(durand, name=hostile))
    contact = next(c for c in rt.contacts.for_organisation("org-durand") if c.name == "Nicolas Durand")
    rt.contacts.update(contact, replace(contact, name='<img src=x onerror="alert(1)">'))
    html = staff.get(PAGE).body.decode()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>Cie</b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;Cie&lt;/b&gt;" in html
    chart_of(html)  # still well-formed XML


def test_the_season_can_be_chosen_and_bad_values_are_refused_in_french(world, staff):
    staff.get(f"{PAGE}?annee=2026")
    assert staff.last.status_code == 200
    assert "Tableau de bord — adhésions 2026" in staff.text() and '<option value="2026" selected>' in staff.text()
    for bad in ("abcd", "1999", "2100", "%3Cscript%3E"):
        response = staff.get(f"{PAGE}?annee={bad}")
        assert response.status_code == 400, bad
        assert "Année invalide : choisissez une saison entre 2000 et 2028." in staff.text()
        assert "<script>" not in response.body.decode()


def test_members_cannot_see_the_dashboard(browser, demo):
    browser.login(MEMBER)
    assert browser.get(PAGE).status_code == 403


def test_the_demo_for_make_run_has_requests_for_both_curves(rt, demo):
    from chalicelib.local.demo import load_demo_requests

    assert load_demo_requests(rt) == 9
    view = dashboard.build_dashboard(rt)  # 28 November 2026: the 2026 season, against 2025
    assert view.season == 2026 and view.renewed == 4 and view.previous.last.renewed == 3
    assert len({p.renewed for p in view.current.points}) > 2 and len({p.renewed for p in view.previous.points}) > 2
    assert {line.key: line.organisations for line in view.lines}["without_request"] == 2
