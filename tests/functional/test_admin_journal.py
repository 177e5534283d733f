"""The audit log page tells who did what, when, with the values before and after."""
from __future__ import annotations

from chalicelib.domain.audit import ACTIONS
from tests.functional.conftest import MEMBER, STAFF


def events_shown(browser) -> str:
    return browser.text().partition('<table class="journal">')[2]


def test_staff_actions_appear_with_before_and_after_and_can_be_filtered(browser, rt, clock):
    browser.login(STAFF)
    browser.get("/admin/structures/org-durand")
    browser.post("/admin/structures/org-durand/statut", {"active": "non"})
    browser.get("/admin/tarifs/2027")
    browser.post("/admin/tarifs/2027/tranches/COL-1", {"category": "collectivite", "label": "Petite commune",
                                                        "amount": "200", "rank": "0"})
    browser.get("/admin/journal")
    page = browser.text()
    assert "Structure désactivée" in page and "Tranche tarifaire modifiée" in page
    assert "Camille Martin (equipe@cite-verte.example)" in page
    assert "« 185.00 » → « 200.00 »" in page or "« 185 » → « 200.00 »" in page
    assert "« oui » → « non »" in page

    browser.get("/admin/journal?action=organisation.disabled")
    assert "Structure désactivée" in events_shown(browser) and "Tranche tarifaire modifiée" not in events_shown(browser)
    browser.get(f"/admin/journal?auteur={STAFF}&action=tariff.tier_updated")
    assert "Tranche tarifaire modifiée" in events_shown(browser) and "Structure désactivée" not in events_shown(browser)
    browser.get("/admin/journal?auteur=personne@ailleurs.example")
    assert "Aucun évènement" in browser.text()
    browser.get("/admin/journal?mois=2026-10")
    assert "Aucun évènement" in browser.text()


def test_failed_logins_can_be_found_by_the_typed_email(browser, new_browser):
    intruder = new_browser()
    intruder.login(MEMBER, "mauvais mot de passe 12")
    browser.login(STAFF)
    browser.get(f"/admin/journal?auteur={MEMBER}&action=login.failure")
    assert "Échec de connexion" in events_shown(browser)


def test_bad_filters_get_a_french_message_not_a_500(browser):
    browser.login(STAFF)
    response = browser.get("/admin/journal?mois=2026-13")
    assert response.status_code == 400 and "format AAAA-MM" in browser.text()
    response = browser.get("/admin/journal?action=drop.tables")
    assert response.status_code == 400


def test_every_admin_action_has_a_french_label():
    import re
    from pathlib import Path

    sources = "".join(p.read_text() for p in Path("chalicelib/services").glob("admin_*.py"))
    sources += Path("chalicelib/services/exports.py").read_text() + Path("chalicelib/services/imports.py").read_text()
    used = set(re.findall(r'"([a-z]+\.[a-z_]+)"', sources)) & {a for a in re.findall(r'record\(rt, "([^"]+)"', sources)}
    used |= {"organisation.enabled", "organisation.disabled", "contact.enabled", "contact.disabled"}
    assert used and used <= set(ACTIONS)
