"""A recap before saving: « Vérifier ma demande » (the form's default button, the one Enter
presses) shows what will be saved and saves nothing; « Enregistrer ma demande » on the recap
saves it; « Modifier ma demande » goes back to the form with what was typed."""
from __future__ import annotations

from tests.functional.renewal_support import FORM, answers

MEMBER = "m.lefevre@montclair.example"


def test_the_recap_shows_everything_and_saves_nothing(browser, rt, clock):
    clock.advance(days=3)  # 1 December 2026: the 2027 campaign is open
    browser.login(MEMBER)
    form_page = browser.get(FORM).body.decode()
    assert 'name="etape" value="recapitulatif"' in form_page and "Vérifier ma demande" in form_page
    response = browser.post(FORM, {**answers(purchase_order_number="EJ-77"), "etape": "recapitulatif"})
    page = browser.text()
    assert response.status_code == 200
    for expected in ("n'est pas encore enregistrée", "Ville de Montclair", "2027", "742,00", "Mandat administratif",
                     "à attendre avant d'émettre la facture", "EJ-77", "factures@montclair.example",
                     "Enregistrer ma demande", "Modifier ma demande"):
        assert expected in page, expected
    assert rt.renewals.for_organisation("org-montclair") == []  # nothing saved yet

    back = browser.post(FORM, {**answers(purchase_order_number="EJ-77"), "etape": "modifier"})
    assert back.status_code == 200 and 'value="EJ-77"' in browser.text()
    assert rt.renewals.for_organisation("org-montclair") == []

    saved = browser.post(FORM, {**answers(purchase_order_number="EJ-77"), "etape": "enregistrer"})
    assert saved.status_code == 303 and "enregistree=1" in saved.headers["Location"]
    [request] = rt.renewals.for_organisation("org-montclair")
    assert request.purchase_order_number == "EJ-77"


def test_a_recap_with_bad_answers_goes_back_to_the_form_with_the_messages(browser, rt, clock):
    clock.advance(days=3)
    browser.login(MEMBER)
    browser.get(FORM)
    response = browser.post(FORM, {**answers(payment_method=""), "etape": "recapitulatif"})
    assert response.status_code == 400 and 'id="f-payment_method-error"' in browser.text()
    assert rt.renewals.for_organisation("org-montclair") == []
