"""Staff manage organisations and contacts through the /admin pages."""
from __future__ import annotations

import re

import pytest

from tests.conftest import sent_emails
from tests.functional.conftest import MEMBER, STAFF

NEW_ORG = {"name": "Ville de Belleville", "category": "collectivite", "siret": "732 829 320 00074",
           "address_line1": "1 place de la Mairie", "address_line2": "", "postcode": "44100", "city": "Belleville",
           "invoice_email": "compta@belleville.example", "current_tier": "COL-2", "public_buyer": "oui",
           "service_code": "", "buyer_requirement": "none"}


@pytest.fixture(autouse=True)
def belleville_in_the_directory(chorus):
    """Ville de Belleville, a public buyer, is a structure of the Chorus Pro directory."""
    from chalicelib.local.chorus_standin import Service, Structure

    chorus.add_structure(Structure("73282932000074", "Ville de Belleville", engagement_required=True,
                                   services=[Service("COMPTA", "Comptabilité")]))


def staff_browser(browser):
    assert browser.login(STAFF).status_code == 303
    return browser


def test_staff_home_links_every_admin_page(browser):
    staff_browser(browser).get("/admin")
    page = browser.text()
    for link in ("/admin/structures", "/admin/tarifs", "/admin/parametres", "/admin/exports", "/admin/import",
                 "/admin/journal", "/admin/equipe"):
        assert f'href="{link}"' in page


def test_member_gets_403_and_anonymous_is_sent_to_login(browser, new_browser):
    browser.login(MEMBER)
    assert browser.get("/admin/structures").status_code == 403
    anonymous = new_browser()
    response = anonymous.get("/admin/structures/org-montclair")
    assert response.status_code == 303 and response.headers["Location"].startswith("/connexion")


def test_search_and_filter_organisations(browser):
    staff_browser(browser).get("/admin/structures?q=montclair")
    assert "Ville de Montclair" in browser.text() and "Paysages Durand" not in browser.text()
    browser.get("/admin/structures?categorie=entreprise")
    assert "Paysages Durand SARL" in browser.text() and "Ville de Montclair" not in browser.text()


def test_create_organisation_with_bad_values_shows_french_errors_next_to_fields(browser):
    staff_browser(browser).get("/admin/structures/nouvelle")
    response = browser.post("/admin/structures/nouvelle", {**NEW_ORG, "siret": "73282932000075", "postcode": "441"})
    assert response.status_code == 400
    html = response.body.decode()
    assert 'id="f-siret-error"' in html and "clé de contrôle incorrecte" in browser.text()
    assert 'id="f-postcode-error"' in html and "5 chiffres" in browser.text()
    assert 'value="Ville de Belleville"' in html  # what was typed is kept


def test_create_then_edit_then_disable_an_organisation(browser, rt):
    staff_browser(browser).get("/admin/structures/nouvelle")
    response = browser.post("/admin/structures/nouvelle", NEW_ORG)
    assert response.status_code == 303
    location = response.headers["Location"]
    org_path = location.split("?")[0]
    browser.get(location)
    assert "La structure a été créée." in browser.text() and "73282932000074" in browser.text()
    browser.get(org_path + "/modifier")
    response = browser.post(org_path + "/modifier", {**NEW_ORG, "city": "Belleville-sur-Loire"})
    assert response.status_code == 303
    assert "Belleville-sur-Loire" in browser.get(org_path).body.decode()
    assert browser.post(org_path + "/statut", {"active": "non", "confirmer": "1"}).status_code == 303
    browser.get(org_path)
    assert "Désactivée" in browser.text() and "Réactiver la structure" in browser.text()


def test_add_a_contact_who_is_invited_and_creates_a_password(browser, new_browser, rt):
    staff_browser(browser).get("/admin/structures/org-durand")
    response = browser.post("/admin/structures/org-durand/contacts",
                            {"name": "Léa Durand", "email": "lea@paysages-durand.example",
                             "receives_notices": "oui", "invite": "oui"})
    assert response.status_code == 303
    browser.get(response.headers["Location"])
    assert "a reçu une invitation" in browser.text() and "Pas encore de mot de passe" in browser.text()
    [message] = sent_emails()
    link = re.search(r"https://adhesions\.test(/mot-de-passe/nouveau\?jeton=[\w-]+)", message.text).group(1)
    assert "Tilleul" not in message.text
    contact = new_browser()
    assert contact.get(link).status_code == 200
    password = "Quatre chevaux blancs dans la prairie"
    token = link.split("jeton=")[1]
    assert contact.post("/mot-de-passe/nouveau", {"jeton": token, "password": password,
                                                   "confirmation": password}).status_code == 303
    assert contact.login("lea@paysages-durand.example", password).status_code == 303
    assert "Paysages Durand SARL" in contact.get("/mon-compte").body.decode()


def test_duplicate_contact_email_is_refused_next_to_the_field(browser):
    staff_browser(browser).get("/admin/structures/org-durand")
    response = browser.post("/admin/structures/org-durand/contacts",
                            {"name": "X", "email": MEMBER, "receives_notices": "oui"})
    assert response.status_code == 400
    assert 'id="f-email-error"' in response.body.decode()
    assert "Un compte existe déjà avec cette adresse e-mail." in browser.text()


def test_contact_actions_from_the_organisation_page(browser, new_browser, rt):
    garnier = rt.contacts.find_by_email("s.garnier@montclair.example")
    member = new_browser()
    member.login("s.garnier@montclair.example")
    staff_browser(browser).get("/admin/structures/org-montclair")
    base = f"/admin/contacts/{garnier.contact_id}"
    assert browser.post(base + "/avis", {"receives_notices": "non"}).status_code == 303
    assert not rt.contacts.get(garnier.contact_id).receives_notices
    assert browser.post(base + "/statut", {"active": "non", "confirmer": "1"}).status_code == 303
    assert member.get("/mon-compte").status_code == 303  # logged out at once
    assert member.login("s.garnier@montclair.example").status_code == 400
    browser.get("/admin/structures/org-montclair")
    assert "Retiré" in browser.text()
    assert browser.post(base + "/statut", {"active": "oui"}).status_code == 303
    browser.get(base + "/modifier")
    assert browser.post(base + "/modifier", {"name": "Sophie Garnier", "email": "sophie@montclair.example"}).status_code == 303
    assert member.login("sophie@montclair.example").status_code == 303


def confirmation_form(browser) -> tuple[str, dict]:
    """The action and hidden fields of the confirmation page's « Confirmer » form."""
    html = browser.last.body.decode()
    [(action, body)] = [f for f in re.findall(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', html, re.S)
                        if 'name="confirmer"' in f[1]]
    return action, dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body))


def test_disabling_an_organisation_first_says_what_will_happen(browser, rt):
    staff_browser(browser).get("/admin/structures/org-montclair")
    response = browser.post("/admin/structures/org-montclair/statut", {"active": "non"})
    assert response.status_code == 200
    text = browser.text()
    assert "Désactiver Ville de Montclair ?" in text and "Ce qui va se passer" in text
    assert "ne recevra plus ni l'avis de renouvellement ni les relances" in text
    assert "Marc Lefèvre (m.lefevre@montclair.example)" in text and "pourront encore se connecter" in text
    assert "plus demander de devis ni renouveler l'adhésion" in text and "vous pourrez la réactiver" in text
    assert 'href="/admin/structures/org-montclair"' in browser.last.body.decode()  # « Retour »
    assert rt.organisations.get("org-montclair").active  # nothing done yet
    action, fields = confirmation_form(browser)
    assert (action, fields["active"], fields["confirmer"]) == ("/admin/structures/org-montclair/statut", "non", "1")
    assert browser.post(action, fields).status_code == 303
    assert not rt.organisations.get("org-montclair").active
    # enabling it again is not destructive: done at once
    assert browser.post(action, {"active": "oui"}).status_code == 303
    assert rt.organisations.get("org-montclair").active


def test_removing_a_contact_first_says_what_will_happen(browser, new_browser, rt):
    garnier = rt.contacts.find_by_email("s.garnier@montclair.example")
    member = new_browser()
    member.login("s.garnier@montclair.example")
    staff_browser(browser).get(f"/admin/contacts/{garnier.contact_id}/modifier")  # also on the organisation page
    assert f'action="/admin/contacts/{garnier.contact_id}/statut"' in browser.last.body.decode()
    assert "Retirer ce contact" in browser.text()
    response = browser.post(f"/admin/contacts/{garnier.contact_id}/statut", {"active": "non"})
    assert response.status_code == 200
    text = browser.text()
    assert "Retirer Sophie Garnier de Ville de Montclair ?" in text
    assert "Sophie Garnier (s.garnier@montclair.example) ne pourra plus se connecter" in text
    assert "les liens de mot de passe déjà envoyés ne fonctionneront plus" in text
    assert "dernier contact actif" not in text  # Montclair keeps two others
    assert rt.contacts.get(garnier.contact_id).active and member.get("/mon-compte").status_code == 200
    action, fields = confirmation_form(browser)
    assert browser.post(action, fields).status_code == 303
    assert not rt.contacts.get(garnier.contact_id).active
    assert member.get("/mon-compte").status_code == 303  # logged out at once


def test_removing_the_last_contact_says_so(browser, rt):
    moreau = rt.contacts.find_by_email("j.moreau@saint-aubin.example")
    staff_browser(browser).get("/admin/structures/org-saint-aubin")
    assert browser.post(f"/admin/contacts/{moreau.contact_id}/statut", {"active": "non"}).status_code == 200
    assert "C'est le dernier contact actif de Commune de Saint-Aubin-des-Prés" in browser.text()
    assert rt.contacts.get(moreau.contact_id).active


def test_members_can_neither_see_nor_confirm_a_destructive_staff_action(new_browser, rt):
    moreau = rt.contacts.find_by_email("j.moreau@saint-aubin.example")
    own = rt.contacts.find_by_email("s.garnier@montclair.example")
    member = new_browser()
    member.login(MEMBER)  # a contact of Ville de Montclair
    member.get("/mon-compte")
    for data in ({"active": "non"}, {"active": "non", "confirmer": "1"}):
        for org_id in ("org-saint-aubin", "org-montclair"):  # another organisation, or their own
            assert member.post(f"/admin/structures/{org_id}/statut", data).status_code == 403
        for contact in (moreau, own):
            assert member.post(f"/admin/contacts/{contact.contact_id}/statut", data).status_code == 403
    assert rt.organisations.get("org-saint-aubin").active and rt.organisations.get("org-montclair").active
    assert rt.contacts.get(moreau.contact_id).active and rt.contacts.get(own.contact_id).active


def test_role_change_makes_a_contact_staff(browser, new_browser, rt):
    benali = rt.contacts.find_by_email("a.benali@montclair.example")
    staff_browser(browser).get(f"/admin/contacts/{benali.contact_id}/modifier")
    assert browser.post(f"/admin/contacts/{benali.contact_id}/role", {"role": "staff"}).status_code == 303
    browser.get("/admin/equipe")
    assert "Ahmed Benali" in browser.text()
    promoted = new_browser()
    promoted.login("a.benali@montclair.example")
    assert promoted.get("/admin/structures").status_code == 200


def test_refused_action_is_a_message_not_a_500(browser, rt):
    me = rt.contacts.find_by_email(STAFF)
    staff_browser(browser).get("/admin/equipe")
    for data in ({"active": "non"}, {"active": "non", "confirmer": "1"}):  # before the confirmation page too
        response = browser.post(f"/admin/contacts/{me.contact_id}/statut", data)
        assert response.status_code == 400
        assert "Vous ne pouvez pas désactiver votre propre compte." in browser.text()


def test_team_page_adds_a_staff_account(browser):
    staff_browser(browser).get("/admin/equipe")
    response = browser.post("/admin/equipe", {"name": "Alex Petit", "email": "alex@cite-verte.example", "invite": "oui"})
    assert response.status_code == 303
    assert sent_emails()[0].recipients == ("alex@cite-verte.example",)
    response = browser.post("/admin/equipe", {"name": "", "email": "pas-un-email"})
    assert response.status_code == 400 and 'id="f-name-error"' in response.body.decode()


def test_unknown_organisation_and_contact_are_404(browser):
    staff_browser(browser)
    assert browser.get("/admin/structures/org-inconnue").status_code == 404
    assert browser.get("/admin/contacts/inconnu/modifier").status_code == 404
