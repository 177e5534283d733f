"""Quotes made ahead of « Éditer un devis »: after the campaign notice, a published tariff grid or
a change of the organisation's details. The click then serves the stored quote and renders
nothing; with nothing prepared it still renders one (the fallback)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from chalicelib import jobs
from chalicelib.domain.documents import DocumentKind
from chalicelib.domain.members import organisation_values
from chalicelib.services import admin_members, admin_tariffs
from tests.functional.conftest import MEMBER, STAFF

MONTCLAIR = "org-montclair"


def quotes(rt, org_id=MONTCLAIR):
    return [d for d in rt.documents.for_organisation(org_id) if d.kind is DocumentKind.QUOTE]


@pytest.fixture
def no_render(rt, monkeypatch):
    """Any PDF rendered from here on fails the test."""
    def refuse(document):
        raise AssertionError(f"rendered on the click: {document.kind}")

    monkeypatch.setattr(rt.pdf, "render", refuse)


def click_quote(browser):
    browser.login(MEMBER)
    browser.get("/mon-compte/adhesions")
    response = browser.post("/mon-compte/devis", {})
    assert response.status_code == 303, response.body[:300]
    return response


def test_the_campaign_notice_prepares_each_notified_organisations_quote(rt, demo, clock, browser, monkeypatch):
    rt.sleep = lambda seconds: None
    clock.now = datetime(2026, 12, 1, 5, 0, tzinfo=timezone.utc)  # the 2027 campaign opens
    jobs.run_campaign_schedule(rt)
    jobs.drain_campaign_queue(rt)
    [prepared] = quotes(rt)
    assert prepared.content.year == 2027

    def refuse(document):
        raise AssertionError("rendered on the click")

    monkeypatch.setattr(rt.pdf, "render", refuse)
    click_quote(browser)  # served from the stored quote
    assert [q.number for q in quotes(rt)] == [prepared.number]


def test_a_changed_grid_prepares_the_quotes_of_the_tier_at_its_new_price(rt, demo, clock):
    clock.now = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
    staff = rt.contacts.find_by_email(STAFF).contact_id
    tier = rt.tariffs.grid(2027).tier("COL-3")
    admin_tariffs.update_grid_tier(rt, staff, 2027, "COL-3", {
        "category": tier.category.value, "label": tier.label, "amount": "750"})
    [quote] = quotes(rt)
    assert quote.content.totals.gross == 750
    assert quotes(rt, "org-durand") == []  # another tier: nothing made for it


def test_with_nothing_prepared_the_click_renders_the_quote_once(rt, demo, clock, browser, monkeypatch):
    clock.now = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
    real, rendered = rt.pdf.render, []
    monkeypatch.setattr(rt.pdf, "render", lambda document: rendered.append(document.kind) or real(document))
    click_quote(browser)
    assert rendered == [DocumentKind.QUOTE]
    browser.post("/mon-compte/devis", {})
    assert rendered == [DocumentKind.QUOTE]  # the second click serves the stored one


def test_an_organisation_edit_prepares_its_quote(rt, demo, clock):
    clock.now = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
    staff = rt.contacts.find_by_email(STAFF).contact_id
    org = rt.organisations.get(MONTCLAIR)
    values = organisation_values(org)
    values["name"] = "Ville de Montclair-sur-Loire"
    admin_members.update_organisation(rt, staff, MONTCLAIR, values)
    [quote] = quotes(rt)
    assert quote.content.buyer.name == "Ville de Montclair-sur-Loire"
