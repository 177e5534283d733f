"""A commune's renewal to « Mise en paiement », in a real browser against `make run` and its
Chorus Pro stand-in: the form shows the structure from the directory, the invoice is deposited,
the member and staff see its status, and staff see « Mise en paiement » once the stand-in (as
the commune's accountant would) moves it there."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.test_member_journey import login
from tests.e2e.test_renewal_walk import STAFF, switch_to

COMMUNE = "j.moreau@saint-aubin.example"


def test_a_communes_invoice_goes_to_chorus_pro_and_reaches_mise_en_paiement(page, app_server):
    url, password = app_server.url, app_server.demo_password
    login(page, url, COMMUNE, password)
    page.get_by_role("link", name="Mes adhésions").first.click()
    page.get_by_role("link", name="Renouveler l'adhésion").click()
    chorus_card = page.locator("#chorus-structure")
    expect(chorus_card).to_contain_text("Commune de Saint-Aubin-des-Prés (SIRET 21490123400015)")
    expect(chorus_card).to_contain_text("ni code service ni numéro d'engagement")
    page.get_by_label("Mandat administratif").check()
    page.get_by_label("Non, vous pouvez éditer la facture dès maintenant").check()
    page.get_by_role("button", name="Vérifier ma demande").click()
    page.get_by_role("button", name="Enregistrer ma demande").click()
    expect(page.get_by_role("status").first).to_contain_text("enregistrée")

    # the invoice is issued and deposited after the answer (tasks): the member reloads
    deposited = re.compile(r"Facture déposée sur Chorus Pro le \d\d/\d\d/\d{4} — transmise à vos services")
    for _ in range(30):
        page.reload()
        if deposited.search(page.locator("main").inner_text()):
            break
        page.wait_for_timeout(500)
    expect(page.locator("main")).to_contain_text(deposited)
    invoice_number = re.search(r"FAC-\d{4}-\d{5}", page.locator("main").inner_text()).group(0)

    # the commune's accountant puts it into payment (the stand-in, on the local tasks page)
    page.goto(url + "/_dev/taches")
    row = page.get_by_role("row").filter(has_text=invoice_number)
    expect(row).to_contain_text("MISE_A_DISPOSITION")
    row.get_by_label(f"Nouveau statut de {invoice_number}").select_option("MISE_EN_PAIEMENT")
    row.get_by_role("button", name="Appliquer").click()
    expect(page.get_by_role("status").first).to_contain_text("1 statut(s) mis à jour")

    switch_to(page, url, STAFF, password)
    page.goto(url + "/admin/demandes")
    page.get_by_role("link", name=re.compile("Commune de Saint-Aubin-des-Prés")).first.click()
    chorus = page.get_by_role("region", name="Chorus Pro")
    expect(chorus).to_contain_text("Mise en paiement — paiement attendu")
    expect(chorus).to_contain_text("Mise à disposition de l'acheteur")

    switch_to(page, url, COMMUNE, password)
    page.get_by_role("link", name="Mes adhésions").first.click()
    expect(page.locator("main")).to_contain_text("— mise en paiement")
