"""Tariff grids per year: edit until invoiced, then only through an explicit new version."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from chalicelib.adapters.dynamo.audit import AuditTable
from chalicelib.domain.errors import NotFound, ValidationError
from chalicelib.services import admin_tariffs as tariffs
from tests.functional.conftest import STAFF

YEAR = 2027  # the demo has grids 2024 to 2027


@pytest.fixture
def staff(rt, demo):
    return rt.contacts.find_by_email(STAFF).contact_id


def invoice_for(year: int) -> None:
    """An issued invoice for membership ``year``, as the documents module stores it."""
    from chalicelib.adapters.dynamo.documents import DocumentTable

    DocumentTable(f"doc-{year}", kind="invoice", number=f"FAC-2026-0000{year % 10}", org_id="org-montclair",
                  year=year, issued_at=datetime(2026, 11, 28, tzinfo=timezone.utc), sort_key="x", total="742.00",
                  sha256="0" * 64, s3_key="k", data="{}").save()


def amounts(rt, year=YEAR):
    return {t.code: t.amount for t in rt.tariffs.grid(year).tiers}


def test_year_has_invoices_reads_the_documents_table(rt, staff):
    assert tariffs.year_has_invoices(rt, YEAR) is False
    invoice_for(YEAR)
    assert tariffs.year_has_invoices(rt, YEAR) is True
    assert tariffs.year_has_invoices(rt, YEAR - 1) is False


def test_edit_add_and_remove_tiers_while_not_invoiced(rt, staff):
    tariffs.update_grid_tier(rt, staff, YEAR, "COL-2", {"category": "collectivite", "label": "Commune moyenne",
                                                         "amount": "410,00", "rank": "1"})
    tariffs.add_grid_tier(rt, staff, YEAR, {"code": "col-6", "category": "collectivite", "label": "Métropole",
                                            "amount": "2500", "rank": "9"})
    tariffs.remove_grid_tier(rt, staff, YEAR, "ENS-2")
    grid = amounts(rt)
    assert grid["COL-2"] == Decimal("410.00") and grid["COL-6"] == Decimal("2500.00") and "ENS-2" not in grid
    actions = sorted(i.action for i in AuditTable.scan())
    assert actions == ["tariff.tier_added", "tariff.tier_removed", "tariff.tier_updated"]


def test_bad_tier_values_are_refused(rt, staff):
    with pytest.raises(ValidationError) as raised:
        tariffs.add_grid_tier(rt, staff, YEAR, {"code": "COL-1", "category": "collectivite", "label": "x", "amount": "1"})
    assert "existe déjà" in raised.value.errors["form"]
    with pytest.raises(ValidationError) as raised:
        tariffs.update_grid_tier(rt, staff, YEAR, "COL-1", {"category": "collectivite", "label": "x", "amount": "-3"})
    assert "amount" in raised.value.errors
    with pytest.raises(NotFound):
        tariffs.remove_grid_tier(rt, staff, YEAR, "NOPE")
    with pytest.raises(NotFound):
        tariffs.grid_page(rt, "inconnu")


def test_copy_last_years_grid_to_a_new_year_with_a_revaluation(rt, staff):
    target = tariffs.copy_grid(rt, staff, {"source": str(YEAR), "target": str(YEAR + 1), "percent": "2"})
    assert target == YEAR + 1
    assert amounts(rt, YEAR + 1)["COL-1"] == (amounts(rt)["COL-1"] * Decimal("1.02")).quantize(Decimal("0.01"))
    with pytest.raises(ValidationError) as raised:
        tariffs.copy_grid(rt, staff, {"source": str(YEAR), "target": str(YEAR + 1), "percent": ""})
    assert "existe déjà" in raised.value.errors["target"]
    with pytest.raises(ValidationError) as raised:
        tariffs.copy_grid(rt, staff, {"source": "2010", "target": "2031", "percent": ""})
    assert "source" in raised.value.errors


def test_an_invoiced_year_is_frozen(rt, staff):
    invoice_for(YEAR)
    before = amounts(rt)
    with pytest.raises(ValidationError, match="formulaire") as raised:
        tariffs.update_grid_tier(rt, staff, YEAR, "COL-1", {"category": "collectivite", "label": "x", "amount": "1"})
    assert "nouvelle version" in raised.value.errors["form"]
    with pytest.raises(ValidationError):
        tariffs.add_grid_tier(rt, staff, YEAR, {"code": "X", "category": "entreprise", "label": "x", "amount": "1"})
    with pytest.raises(ValidationError):
        tariffs.remove_grid_tier(rt, staff, YEAR, "COL-1")
    assert amounts(rt) == before
    assert tariffs.grid_page(rt, YEAR).editing == "frozen"


def test_a_new_version_is_edited_aside_then_published_and_the_old_one_archived(rt, staff):
    invoice_for(YEAR)
    live_before = amounts(rt)
    tariffs.start_new_version(rt, staff, YEAR, "Correction COL-1")
    tariffs.update_grid_tier(rt, staff, YEAR, "COL-1", {"category": "collectivite", "label": "Petite commune",
                                                         "amount": "199", "rank": "0"})
    tariffs.remove_grid_tier(rt, staff, YEAR, "ENS-2")
    assert amounts(rt) == live_before  # nothing anyone reads changed yet
    page = tariffs.grid_page(rt, YEAR)
    assert page.editing == "draft" and page.draft.version == 2
    tariffs.publish_version(rt, staff, YEAR)
    after = amounts(rt)
    assert after["COL-1"] == Decimal("199.00") and "ENS-2" not in after
    page = tariffs.grid_page(rt, YEAR)
    assert page.editing == "frozen" and page.live_version == 2
    [archived] = page.archived
    assert archived.version == 1 and {t.code: t.amount for t in archived.tiers} == live_before
    # the next change needs another version, numbered 3
    assert tariffs.start_new_version(rt, staff, YEAR).version == 3


def test_new_version_only_when_invoiced_and_discarding_it(rt, staff):
    with pytest.raises(ValidationError, match="formulaire"):
        tariffs.start_new_version(rt, staff, YEAR)
    invoice_for(YEAR)
    tariffs.start_new_version(rt, staff, YEAR)
    with pytest.raises(ValidationError):
        tariffs.start_new_version(rt, staff, YEAR)
    tariffs.discard_version(rt, staff, YEAR)
    assert tariffs.grid_page(rt, YEAR).draft is None
    with pytest.raises(ValidationError):
        tariffs.publish_version(rt, staff, YEAR)


# --- through the app ---------------------------------------------------------------------

def test_grid_page_shows_categories_tiers_and_amounts(browser):
    browser.login(STAFF)
    browser.get("/admin/tarifs")
    assert f'href="/admin/tarifs/{YEAR}"' in browser.last.body.decode()
    browser.get(f"/admin/tarifs/{YEAR}")
    page = browser.text()
    assert "Collectivité" in page and "COL-3" in page and "Commune de 20 000 à 50 000 habitants" in page
    assert "742,00 €" in page  # 720 × 1.03, rounded to the euro by the demo


def test_edit_a_tier_through_the_page_with_a_bad_amount_then_a_good_one(browser, rt):
    browser.login(STAFF)
    browser.get(f"/admin/tarifs/{YEAR}")
    response = browser.post(f"/admin/tarifs/{YEAR}/tranches/COL-1",
                            {"category": "collectivite", "label": "Petite commune", "amount": "cent", "rank": "0"})
    assert response.status_code == 400
    assert 'id="f-amount-COL-1-error"' in response.body.decode()
    response = browser.post(f"/admin/tarifs/{YEAR}/tranches/COL-1",
                            {"category": "collectivite", "label": "Petite commune", "amount": "190,50", "rank": "0"})
    assert response.status_code == 303
    assert amounts(rt)["COL-1"] == Decimal("190.50")


def test_copy_and_versions_through_the_pages(browser, rt):
    browser.login(STAFF)
    browser.get("/admin/tarifs")
    response = browser.post("/admin/tarifs/copie", {"source": str(YEAR), "target": str(YEAR + 1), "percent": "0"})
    assert response.status_code == 303 and response.headers["Location"].startswith(f"/admin/tarifs/{YEAR + 1}")
    invoice_for(YEAR)
    browser.get(f"/admin/tarifs/{YEAR}")
    assert "cette grille est figée" in browser.text()
    refused = browser.post(f"/admin/tarifs/{YEAR}/tranches/COL-1",
                           {"category": "collectivite", "label": "x", "amount": "1", "rank": "0"})
    assert refused.status_code == 400 and "créez une nouvelle version" in browser.text()
    assert browser.post(f"/admin/tarifs/{YEAR}/version", {"note": "Correction"}).status_code == 303
    browser.get(f"/admin/tarifs/{YEAR}")
    assert "Nouvelle version 2 en préparation" in browser.text()
    assert browser.post(f"/admin/tarifs/{YEAR}/version/publication", {}).status_code == 303
    browser.get(f"/admin/tarifs/{YEAR}")
    assert "Versions archivées" in browser.text() and "Version 1" in browser.text()
