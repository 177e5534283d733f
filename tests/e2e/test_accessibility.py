"""Every member and staff page, at 1280 px and on a 375 px phone: axe-core (WCAG 2.1 A and AA
rules) finds no violation, and no page is wider than the screen (wide tables scroll inside a
focusable frame of their own)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_member_journey import login
from tests.e2e.test_renewal_walk import demo_code

MEMBER = "m.lefevre@montclair.example"
STAFF = "equipe@cite-verte.example"
PUBLIC_PAGES = ["/", "/connexion", "/mot-de-passe-oublie"]
MEMBER_PAGES = ["/mon-compte", "/mon-compte/adhesions", "/mon-compte/adhesions/renouveler", "/mon-compte/mot-de-passe"]
STAFF_PAGES = ["/admin", "/admin/demandes", "/admin/demandes/org-val-fleuri/2027", "/admin/demandes/org-grand-port/2027",
               "/admin/tableau-de-bord", "/admin/structures", "/admin/structures/org-val-fleuri",
               "/admin/structures/org-montclair/modifier", "/admin/structures/nouvelle", "/admin/tarifs",
               "/admin/campagne", "/admin/exports", "/admin/import", "/admin/journal", "/admin/equipe",
               "/admin/parametres", "/_dev/taches", "/_dev/courriels"]
# Pages reached by a button, not an address: (page, field to fill (CSS), its value, button). Each
# confirmation page is checked, never confirmed.
CONFIRMATION_PAGES = [
    ("/admin/structures/org-val-fleuri", None, None, "Désactiver la structure"),
    ("/admin/structures/org-montclair", None, None, "Retirer Sophie Garnier"),
    ("/admin/demandes/org-val-fleuri/2027", "form[action$='/annulation'] textarea[name=reason]", "Adhésion résiliée.",
     "Annuler la demande et émettre l'avoir"),
]
WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def problems(page, axe, url: str, path: str, width: int) -> list[str]:
    page.goto(url + path)
    return problems_here(page, axe, path, width)


def problems_here(page, axe, name: str, width: int) -> list[str]:
    found = [f"{name} @{width}px: {v['id']} ({len(v['nodes'])}) {v['nodes'][0]['target']}"
             for v in axe.run(page, options=WCAG_AA).response["violations"]]
    wide = page.evaluate("document.documentElement.scrollWidth")
    if wide > width:
        found.append(f"{name} @{width}px: the page is {wide} px wide")
    return found


def confirmation_problems(page, axe, url: str, width: int) -> list[str]:
    found = []
    for path, field, value, button in CONFIRMATION_PAGES:
        page.goto(url + path)
        if field:
            page.locator(field).fill(value)
        page.get_by_role("button", name=button).click()
        expect(page.get_by_role("heading", name="Ce qui va se passer")).to_be_visible()
        found += problems_here(page, axe, f"{path} → « {button} »", width)
    return found


@pytest.mark.parametrize("width", [1280, 375])
def test_no_accessibility_violation_and_nothing_off_screen(chromium, app_server, width):
    from axe_playwright_python.sync_playwright import Axe

    axe, url = Axe(), app_server.url
    context = chromium.new_context(locale="fr-FR", viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        found = [p for path in PUBLIC_PAGES for p in problems(page, axe, url, path, width)]
        login(page, url, MEMBER, app_server.demo_password)
        expect(page.get_by_role("link", name="Mon compte").first).to_be_visible()
        found += [p for path in MEMBER_PAGES for p in problems(page, axe, url, path, width)]
        page.get_by_role("button", name="Se déconnecter").click()
        code = demo_code(page, url)
        login(page, url, STAFF, app_server.demo_password)
        page.get_by_label("Code à 6 chiffres").fill(code)
        page.get_by_role("button", name="Valider").click()
        expect(page.get_by_role("link", name="Administration").first).to_be_visible()
        found += [p for path in STAFF_PAGES for p in problems(page, axe, url, path, width)]
        found += confirmation_problems(page, axe, url, width)
    finally:
        context.close()
    assert found == [], "\n".join(found)
