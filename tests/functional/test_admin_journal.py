"""The audit log page tells who did what, when, with the values before and after."""
from __future__ import annotations

import re

from chalicelib.domain.audit import ACTIONS
from chalicelib.services.audit import record
from tests.functional.conftest import MEMBER, MEMBER_B, STAFF
from tests.functional.test_admin_requests import SAINT_AUBIN_ANSWERS, submit


def events_shown(browser) -> str:
    return browser.text().partition('<table class="journal">')[2]


def test_staff_actions_appear_with_before_and_after_and_can_be_filtered(browser, rt, clock):
    browser.login(STAFF)
    browser.get("/admin/structures/org-durand")
    browser.post("/admin/structures/org-durand/statut", {"active": "non", "confirmer": "1"})
    browser.get("/admin/tarifs/2027")
    browser.post("/admin/tarifs/2027/tranches/COL-1", {"category": "collectivite", "label": "Petite commune",
                                                        "amount": "200", "rank": "0"})
    browser.get("/admin/journal")
    page = browser.text()
    assert "Structure désactivée" in page and "Tranche tarifaire modifiée" in page
    assert "Camille Martin (equipe@cite-verte.example)" in page
    assert "Montant : « 185,00 € » → « 200,00 € »" in visible(browser)
    assert "Active : « oui » → « non »" in visible(browser)
    assert "Code de la tranche" not in visible(browser)  # recorded, but unchanged
    assert '<a href="/admin/structures/org-durand">Paysages Durand SARL</a>' in page
    assert '<a href="/admin/tarifs/2027">Grille tarifaire 2027, tranche COL-1</a>' in page

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


def visible(browser) -> str:
    """The journal's rows as read on screen: tags (and the ids in their links) left out."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", events_shown(browser)))


def test_a_renewal_reads_in_french_with_names_and_links(browser, new_browser, rt, campaign_open):
    member = new_browser()
    member.login(MEMBER_B)
    submit(member, SAINT_AUBIN_ANSWERS)  # invoiced at once by the automatic follow-up
    moreau = rt.contacts.find_by_email(MEMBER_B)
    browser.login(STAFF)
    browser.get("/admin/journal")
    page, shown = browser.text(), visible(browser)
    assert "évènements en décembre 2026" in page
    assert "Demande d'adhésion enregistrée" in shown and "Facture émise" in shown
    assert "Julie Moreau (j.moreau@saint-aubin.example)" in shown and "Traitement automatique" in shown
    assert '<a href="/admin/demandes/org-saint-aubin/2027">Demande 2027 de Commune de Saint-Aubin-des-Prés</a>' in page
    assert "Mode de paiement : — → « Virement bancaire »" in shown
    assert "Attendre le bon de commande : — → « non »" in shown
    assert "1er décembre 2026 à 10:30" in shown
    invoice = rt.renewals.latest("org-saint-aubin", 2027).invoice_number
    assert f"Facture {invoice} de Commune de Saint-Aubin-des-Prés" in shown
    assert re.search(r"Montant TTC : — → « [0-9 ]+,[0-9]{2} € »", shown)
    for raw in ("payment_method", "wait_for_purchase_order", "awaiting_purchase_order", "ready_to_invoice",
                "invoice_number", "org-saint-aubin", moreau.contact_id, "sha256", "True", "False", "None"):
        assert raw not in shown, raw


def test_automatic_actors_and_unknown_actions_still_read_sensibly(browser, rt):
    record(rt, "chorus.status", actor="chorus-pro", target="FAC-2026-00042", org_id="org-montclair",
           after={"status": "MISE_EN_PAIEMENT", "at": "2026-11-27T09:00:00+00:00", "comment": ""})
    record(rt, "mystery.thing", actor="robot-inconnu", target="", after={"brand_new_field": True},
           counts={"x": 1})
    browser.login(STAFF)
    response = browser.get("/admin/journal")
    assert response.status_code == 200
    shown = visible(browser)
    assert "Chorus Pro Nouveau statut Chorus Pro Facture FAC-2026-00042 de Ville de Montclair" in shown
    assert "Statut Chorus Pro : — → « Mise en paiement »" in shown and "27 novembre 2026 à 10:00" in shown
    assert "Autre action (mystery.thing)" in shown and "Compte supprimé" in shown
    assert "Brand new field : — → « oui »" in shown
