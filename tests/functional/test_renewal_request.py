"""« Renouveler l'adhésion » → « Enregistrer ma demande », as members go through it."""
from __future__ import annotations

import re

import pytest

from tests.conftest import sent_emails
from tests.functional.conftest import MEMBER, MEMBER_B, STAFF
from tests.functional.renewal_support import FORM, MEMBER_2, MEMBERSHIPS, answers, field_error, plain

DURAND = "n.durand@paysages-durand.example"  # 2026 not renewed yet



def submit(browser, **overrides):
    browser.get(FORM)
    return browser.post(FORM, answers(**overrides))


# --- the season -------------------------------------------------------------------------


def test_before_the_campaign_opens_a_validated_year_leaves_nothing_to_renew(browser):
    browser.login(MEMBER)
    browser.get(MEMBERSHIPS)
    html = browser.text()
    assert "il n'y a rien à renouveler pour le moment" in html
    assert "La campagne de renouvellement 2027 ouvrira le 1er décembre 2026" in html
    assert f'href="{FORM}"' not in html
    response = browser.get(FORM)
    assert response.status_code == 303 and response.headers["Location"] == MEMBERSHIPS


def test_an_unpaid_current_year_is_renewed_before_the_campaign_opens(browser):
    browser.login(DURAND)
    browser.get(MEMBERSHIPS)
    assert "Renouvellement 2026" in browser.text()
    browser.get(FORM)
    assert browser.last.status_code == 200
    assert "Renouveler l'adhésion 2026" in browser.text()


def test_once_the_campaign_opens_the_renewal_is_for_next_year(browser, campaign_open):
    browser.login(MEMBER)
    browser.get(MEMBERSHIPS)
    html = browser.text()
    assert "Renouvellement 2027" in html
    assert f'<a class="button" href="{FORM}">Renouveler l\'adhésion</a>' in browser.last.body.decode()


# --- the form ---------------------------------------------------------------------------


def test_form_is_prefilled_from_the_last_validated_membership_and_the_organisation(browser, campaign_open):
    browser.login(MEMBER)
    browser.get(FORM)
    html = browser.text()
    assert "Renouveler l'adhésion 2027" in html
    assert "Je confirme la tranche « Commune de 20 000 à 50 000 habitants » : 742,00 € pour 2027" in plain(html)
    assert "2026 — Commune de 20 000 à 50 000 habitants, 720,00 €" in html  # last validated
    for value in ("Hôtel de ville, 12 rue de la République", "44000", "Montclair", "21440987600019",
                  "factures@montclair.example", "ESPACES-VERTS"):
        assert f'value="{value}"' in html, value
    assert '<option value="ESPACES-VERTS" selected>' in html  # its services, from the Chorus Pro directory
    assert "elle exige : numéro d'engagement obligatoire" in plain(html)
    for label in ("Virement bancaire", "Chèque", "Mandat administratif"):
        assert label in html
    # only the organisation's category is offered, with the renewal year's amounts
    assert "Collectivité de 50 000 à 100 000 habitants — 1 184,00 €" in html
    assert "Entreprise" not in html
    assert "Vérifier ma demande" in html  # then « Enregistrer ma demande » on the recap


# --- « Enregistrer ma demande » ------------------------------------------------------------


def test_enregistrer_ma_demande_saves_and_shows_the_confirmation(browser, campaign_open, rt):
    browser.login(MEMBER)
    response = submit(browser)
    assert response.status_code == 303
    assert response.headers["Location"] == "/mon-compte/adhesions/demande/2027?enregistree=1"
    browser.get(response.headers["Location"])
    html = browser.text()
    assert "Votre demande est enregistrée." in html
    assert ("Demande enregistrée le 1er décembre 2026 à 10:30 par Marc Lefèvre, statut : "
            "En attente du bon de commande.") in re.sub(r"<[^>]+>", "", html)
    assert "Envoyez-nous votre bon de commande depuis « Mes adhésions »" in html
    [request] = rt.renewals.for_organisation("org-montclair")
    assert (request.year, request.tier_code, request.amount, request.payment_method) == (
        2027, "COL-3", 742, "mandat_administratif")


def test_submitter_other_contacts_and_staff_each_get_their_email(browser, campaign_open):
    browser.login(MEMBER)
    submit(browser)
    by_recipient = {m.recipients[0]: m for m in sent_emails()}
    assert set(by_recipient) == {MEMBER, MEMBER_2, "a.benali@montclair.example", STAFF}
    confirmation = by_recipient[MEMBER]
    assert confirmation.subject.startswith("Votre demande de renouvellement 2027 est enregistrée")
    assert "Bonjour Marc Lefèvre" in confirmation.text and "Bonjour Marc Lefèvre" in confirmation.html
    assert "742,00 €" in confirmation.text and "Mandat administratif" in confirmation.html
    assert "https://adhesions.test/mon-compte/adhesions" in confirmation.text
    assert "adherents@cite-verte.example" in confirmation.text  # the association's contact
    copy = by_recipient[MEMBER_2]
    assert "Marc Lefèvre a enregistré la demande de renouvellement" in copy.text
    assert "Bonjour Sophie Garnier" in copy.html
    staff = by_recipient[STAFF]
    assert staff.subject == "Nouvelle demande de renouvellement 2027 : Ville de Montclair"
    assert "rien avant la réception du bon de commande" in staff.text and staff.html


def test_second_contact_sees_the_existing_request_instead_of_a_new_form(browser, new_browser, campaign_open):
    browser.login(MEMBER)
    submit(browser)
    other = new_browser()
    other.login(MEMBER_2)
    other.get(MEMBERSHIPS)
    page = plain(other.text())
    assert "Demande enregistrée le 1er décembre 2026 à 10:30 par Marc Lefèvre, statut : En attente du bon de commande" in page
    assert f'href="{FORM}"' not in other.text()
    response = other.get(FORM)
    assert response.status_code == 303 and response.headers["Location"] == "/mon-compte/adhesions/demande/2027?deja=1"
    other.get(response.headers["Location"])
    assert "Une demande de renouvellement 2027 est déjà enregistrée pour votre structure" in other.text()
    assert "par Marc Lefèvre" in other.text()


def test_a_second_post_answers_with_the_existing_request(browser, new_browser, campaign_open, rt):
    browser.login(MEMBER)
    browser.get(FORM)
    token = browser.csrf()
    first = browser.post(FORM, answers(), csrf=token)
    second = browser.post(FORM, answers(payment_method="virement"), csrf=token)  # double click
    other = new_browser()
    other.login(MEMBER_2)
    third = other.post(FORM, answers(payment_method="cheque"))  # another contact's tab
    assert first.headers["Location"].endswith("?enregistree=1")
    for response in (second, third):
        assert response.status_code == 303
        assert response.headers["Location"] == "/mon-compte/adhesions/demande/2027?deja=1"
    [request] = rt.renewals.for_organisation("org-montclair")
    assert request.payment_method == "mandat_administratif"
    assert [m.recipients[0] for m in sent_emails()].count(MEMBER) == 1


def test_a_contact_never_sees_another_organisations_request(browser, new_browser, campaign_open):
    browser.login(MEMBER)
    submit(browser)
    other = new_browser()
    other.login(MEMBER_B)
    other.get(MEMBERSHIPS)
    assert "Marc Lefèvre" not in other.text()
    assert other.get("/mon-compte/adhesions/demande/2027").status_code == 404


def test_forged_organisation_id_is_ignored(browser, campaign_open, rt):
    browser.login(MEMBER)
    submit(browser, org_id="org-saint-aubin")
    assert rt.renewals.for_organisation("org-saint-aubin") == []
    assert len(rt.renewals.for_organisation("org-montclair")) == 1


def test_corrected_billing_details_update_the_organisation_and_stay_on_the_request(browser, campaign_open, rt):
    browser.login(MEMBER)
    submit(browser, address_line2="Service des finances", invoice_email="Compta@Montclair.example",
           service_code="FINANCES")
    org = rt.organisations.get("org-montclair")
    assert org.billing_address.line2 == "Service des finances"
    assert (org.invoice_email, org.service_code) == ("compta@montclair.example", "FINANCES")
    [request] = rt.renewals.for_organisation("org-montclair")
    assert request.billing.address.line2 == "Service des finances"
    assert request.billing.invoice_email == "compta@montclair.example"
    browser.get("/mon-compte")
    assert "Service des finances" in browser.text()


def test_a_tier_change_waits_for_the_association(browser, campaign_open, rt):
    browser.login(MEMBER)
    submit(browser, tier_choice="change", requested_tier="COL-4", tier_comment="Nouvelle population INSEE : 52 000.",
           wait_for_purchase_order="no", purchase_order_number="EJ-2027-118")
    [request] = rt.renewals.for_organisation("org-montclair")
    assert request.state.value == "tier_decision_pending"
    assert (request.tier_code, request.requested_tier_code) == ("COL-3", "COL-4")
    browser.get(MEMBERSHIPS)
    html = browser.text()
    assert "Changement de tranche à l'étude" in html
    assert "Collectivité de 50 000 à 100 000 habitants — 1 184,00 €" in html
    staff = next(m for m in sent_emails() if m.recipients[0] == STAFF)
    assert "décider du changement de tranche tarifaire" in staff.text
    assert "Nouvelle population INSEE : 52 000." in staff.text


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, field, message", [
    ({"tier_choice": "change", "requested_tier": "COL-99", "tier_comment": "x"}, "requested_tier",
     "Choisissez la tranche demandée dans la liste."),
    ({"tier_choice": "change", "requested_tier": "ENT-2", "tier_comment": "x"}, "requested_tier",
     "Cette tranche n'est pas celle d'une structure de votre catégorie"),
    ({"tier_choice": "change", "requested_tier": "COL-4"}, "tier_comment", "Expliquez en quelques mots"),
    ({"tier_choice": ""}, "tier_choice", "Indiquez si vous confirmez votre tranche"),
    ({"payment_method": "bitcoin"}, "payment_method", "Choisissez un mode de paiement dans la liste."),
    ({"wait_for_purchase_order": ""}, "wait_for_purchase_order", "Indiquez si nous devons attendre"),
    ({"purchase_order_number": "E" * 51}, "purchase_order_number", "ne doit pas dépasser 50 caractères"),
    ({"tier_comment": "é" * 1001}, "tier_comment", "Le commentaire ne doit pas dépasser 1000 caractères"),
    ({"wait_for_purchase_order": "no"}, "purchase_order_number", "Votre structure exige un numéro d'engagement"),
    ({"invoice_email": "factures"}, "invoice_email", "Cette adresse e-mail n'est pas valide"),
    ({"postcode": "4400"}, "postcode", "Le code postal comporte 5 chiffres"),
    ({"siret": "21440987600018"}, "siret", "Ce SIRET n'est pas valide"),
    ({"address_line1": ""}, "address_line1", "Indiquez l'adresse de facturation."),
    ({"service_code": "VOIRIE"}, "service_code", "Ce code service n'existe pas (ou plus) chez Ville de Montclair"),
])
def test_bad_answers_get_a_french_message_next_to_the_field_and_nothing_is_saved(
        browser, campaign_open, rt, overrides, field, message):
    browser.login(MEMBER)
    response = submit(browser, address_line2="Changé", **overrides)
    assert response.status_code == 400
    html = browser.text()
    assert message in field_error(html, field), field_error(html, field) or html[:3000]
    assert "Le formulaire contient des erreurs" in html
    assert 'value="Changé"' in html  # the member's other answers are kept
    assert rt.renewals.for_organisation("org-montclair") == []
    assert rt.organisations.get("org-montclair").billing_address.line2 == ""
    assert sent_emails() == []


def test_absurdly_long_values_are_refused_without_a_500(browser, campaign_open, rt):
    browser.login(MEMBER)
    response = submit(browser, city="x" * 5000)
    assert response.status_code == 400
    assert rt.renewals.for_organisation("org-montclair") == []


def test_staff_cannot_use_the_member_form(browser, campaign_open):
    browser.login(STAFF)
    assert browser.get(FORM).status_code == 403
    assert browser.post(FORM, answers()).status_code == 403


# --- the demo, as on `make run` (28 November 2026) ------------------------------------------


def test_two_contacts_of_the_same_organisation_on_the_demo_day(browser, new_browser, clock):
    browser.login(DURAND)
    browser.get(FORM)
    response = browser.post(FORM, {
        "tier_choice": "confirm", "payment_method": "virement", "wait_for_purchase_order": "no",
        "address_line1": "ZA des Grands Champs, 8 rue des Artisans", "postcode": "35000", "city": "Rennes",
        "siret": "48312345600027", "invoice_email": "compta@paysages-durand.example"})
    assert response.headers["Location"] == "/mon-compte/adhesions/demande/2026?enregistree=1"
    to_durand = {m.subject.split(" — ")[0]: m for m in sent_emails() if m.recipients == (DURAND,)}
    confirmation = next(m for subject, m in to_durand.items() if "demande" in subject)
    invoice = to_durand["Votre facture est disponible"]
    assert len(to_durand) == 2
    assert "Votre demande de renouvellement 2026 est enregistrée" in confirmation.subject
    assert "Entreprise de 10 à 49 salariés — 350,00 €" in confirmation.text
    assert "facture" in invoice.subject.lower() and "/mon-compte/adhesions" in invoice.text
    second = new_browser()
    second.login("e.roche@paysages-durand.example")
    assert second.get(FORM).headers["Location"] == "/mon-compte/adhesions/demande/2026?deja=1"
    second.get(MEMBERSHIPS)
    assert "Demande enregistrée le 28 novembre 2026 à 10:30 par Nicolas Durand, statut : Facturée" \
        in plain(second.text())
    # once the 2027 campaign opens, 2027 is offered while the 2026 request stays in view
    clock.advance(days=3)
    second.login("e.roche@paysages-durand.example")
    second.get(MEMBERSHIPS)
    html = second.text()
    assert "Renouvellement 2027" in html and "Demande de renouvellement 2026" in html
    assert f'href="{FORM}"' in html


def test_hostile_answers_are_stored_as_typed_and_rendered_escaped(browser, campaign_open, rt):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)> "\' & 🌳'
    browser.login(MEMBER)
    submit(browser, tier_choice="change", requested_tier="COL-4", tier_comment=payload, address_line2=payload)
    assert rt.renewals.latest("org-montclair", 2027).tier_comment == payload
    for path in (MEMBERSHIPS, "/mon-compte/adhesions/demande/2027"):
        html = browser.get(path).body.decode()
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    for message in sent_emails():
        assert "<script>" not in message.html and "<img src=x" not in message.html
    staff = next(m for m in sent_emails() if m.recipients == (STAFF,))
    assert payload in staff.text
