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


def test_the_member_cancels_their_own_request_before_the_invoice(browser, rt, clock):
    from tests.conftest import sent_emails

    clock.advance(days=3)
    browser.login(MEMBER)
    browser.get(FORM)
    browser.post(FORM, answers())  # awaiting its purchase order: no invoice yet
    page = browser.get("/mon-compte/adhesions/demande/2027").body.decode()
    assert "Annuler ma demande" in page and 'action="/mon-compte/adhesions/demande/2027/annulation"' in page
    unconfirmed = browser.post("/mon-compte/adhesions/demande/2027/annulation", {})
    assert unconfirmed.status_code == 400 and "Cochez la case" in browser.text()
    assert rt.renewals.latest("org-montclair", 2027).state.value == "awaiting_purchase_order"
    done = browser.post("/mon-compte/adhesions/demande/2027/annulation", {"confirmation": "oui"})
    assert done.status_code == 303
    assert "Votre demande a été annulée" in browser.get(done.headers["Location"]).body.decode()
    assert rt.renewals.latest("org-montclair", 2027).state.value == "cancelled"
    assert any("annulée par le membre" in m.subject for m in sent_emails() if m.recipients == ("equipe@cite-verte.example",))
    from chalicelib.adapters.dynamo.audit import AuditTable
    assert [i for i in AuditTable.scan() if i.action == "renewal.cancelled"]
    # pressed again (a second tab, a retry after an error): the result, and nothing sent twice
    staff_told = len([m for m in sent_emails() if m.recipients == ("equipe@cite-verte.example",)])
    again = browser.post("/mon-compte/adhesions/demande/2027/annulation", {"confirmation": "oui"})
    assert again.status_code == 303 and "Votre demande a été annulée" in browser.get(again.headers["Location"]).body.decode()
    assert len([m for m in sent_emails() if m.recipients == ("equipe@cite-verte.example",)]) == staff_told


def test_once_invoiced_the_member_is_told_how_to_get_a_credit_note(browser, rt, clock):
    clock.advance(days=3)
    browser.login(MEMBER)
    browser.get(FORM)
    browser.post(FORM, answers(wait_for_purchase_order="no", purchase_order_number="EJ-1"))
    assert rt.renewals.latest("org-montclair", 2027).state.value == "invoiced"
    page = browser.get("/mon-compte/adhesions/demande/2027").body.decode()
    assert "nous émettrons un avoir" in page and 'demande/2027/annulation"' not in page
    refused = browser.post("/mon-compte/adhesions/demande/2027/annulation", {"confirmation": "oui"})
    assert refused.status_code == 409 and "nous émettrons un avoir" in browser.text()
    assert rt.renewals.latest("org-montclair", 2027).state.value == "invoiced"


def test_an_invoice_issued_at_the_instant_of_the_members_cancellation_wins(browser, rt, clock, monkeypatch):
    """The state is checked on the version the cancellation replaces: if the invoice lands
    between the member's read and the write, the request stays invoiced (never cancelled
    without its credit note)."""
    import pytest

    from chalicelib.services import renewal

    clock.advance(days=3)
    browser.login(MEMBER)
    browser.get(FORM)
    browser.post(FORM, answers(purchase_order_number="EJ-9"))  # awaiting its purchase order
    member = rt.contacts.find_by_email(MEMBER).contact_id
    real_update, raced = rt.renewals.update, []

    def invoice_lands_first(changed, **effects):
        if not raced:
            raced.append(True)
            renewal.mark_invoiced(rt, "org-montclair", 2027, "FAC-2026-00099")  # the staff's invoice, first
        return real_update(changed, **effects)

    monkeypatch.setattr(rt.renewals, "update", invoice_lands_first)
    with pytest.raises(renewal.InvoicedAlready):
        renewal.cancel_by_member(rt, "org-montclair", member, 2027)
    assert rt.renewals.latest("org-montclair", 2027).state.value == "invoiced"
