"""The invoice reaches whoever pays it: the billing address gets the stored PDF (never a
re-render) with what it is for, the amount, the due date and how to pay; exactly once through
the outbox, also when SES is down at first; contacts keep their notice, with the same payment
instructions, and a contact whose address is the billing address gets one email, not two."""
from __future__ import annotations

import hashlib
import re
from dataclasses import replace

import pytest

from chalicelib.domain.documents import DocumentKind
from chalicelib.domain.formatting import format_date
from chalicelib.domain.renewal import RequestState
from chalicelib.services import mail
from tests.conftest import sent_emails
from tests.functional.conftest import STAFF, Browser

DURAND = "n.durand@paysages-durand.example"
BILLING = "compta@paysages-durand.example"
FORM = {"tier_choice": "confirm", "payment_method": "virement", "wait_for_purchase_order": "no",
        "address_line1": "ZA des Grands Champs, 8 rue des Artisans", "postcode": "35000", "city": "Rennes",
        "siret": "48312345600027"}


def renew(browser, invoice_email: str = BILLING):
    browser.login(DURAND)
    browser.get("/mon-compte/adhesions/renouveler")
    response = browser.post("/mon-compte/adhesions/renouveler", {**FORM, "invoice_email": invoice_email})
    assert response.status_code == 303, browser.text()[:2000]


def invoice_of(rt):
    request = rt.renewals.latest("org-durand", 2026)
    assert request.state is RequestState.INVOICED
    return next(d for d in rt.documents.for_organisation("org-durand") if d.number == request.invoice_number)


def to(address: str):
    return [m for m in sent_emails() if m.recipients == (address,)]


def test_the_billing_address_gets_the_stored_pdf_and_how_to_pay(browser, rt):
    renew(browser)
    stored = invoice_of(rt)
    [email] = to(BILLING)
    assert email.subject == f"Facture {stored.number} — adhésion 2026 à Cité Verte"
    [(name, pdf)] = email.attachments
    assert name == f"{stored.number}.pdf"
    assert hashlib.sha256(pdf).hexdigest() == stored.sha256 == hashlib.sha256(rt.storage.get(stored.s3_key)).hexdigest()
    text = email.text
    invoice = stored.content
    for expected in (stored.number, "Paysages Durand SARL", "adhésion 2026", "350,00 €",
                     format_date(invoice.terms.due_on), "FR76 3000 4000 0500 0012 3456 789", "BIC BNPAFRPPXXX",
                     f"référence à rappeler : {stored.number}", "par chèque à l'ordre de", "adherents@cite-verte.example",
                     "02 00 00 00 00"):
        assert expected in text, expected
    assert "FR76 3000 4000 0500 0012 3456 789" in email.html and stored.number in email.html


def test_contacts_keep_their_notice_with_the_same_payment_instructions(browser, rt):
    renew(browser)
    stored = invoice_of(rt)
    for contact in (DURAND, "e.roche@paysages-durand.example"):
        [notice] = [m for m in to(contact) if "Votre facture est disponible" in m.subject]
        assert notice.attachments == ()
        assert "FR76 3000 4000 0500 0012 3456 789" in notice.text and f"référence à rappeler : {stored.number}" in notice.text


def test_a_contact_whose_address_is_the_billing_address_gets_one_email(browser, rt):
    renew(browser, invoice_email=DURAND)
    stored = invoice_of(rt)
    received = [m for m in to(DURAND) if stored.number in m.subject or "Votre facture est disponible" in m.subject]
    assert [m.subject for m in received] == [f"Facture {stored.number} — adhésion 2026 à Cité Verte"]
    assert received[0].attachments
    assert [m for m in to("e.roche@paysages-durand.example") if "Votre facture est disponible" in m.subject]


def test_an_organisation_that_asked_gets_the_email_without_the_pdf(browser, rt):
    org = rt.organisations.get("org-durand")
    rt.organisations.update(replace(org, attach_invoices=False))
    assert rt.organisations.get("org-durand").attach_invoices is False
    renew(browser)
    stored = invoice_of(rt)
    [email] = to(BILLING)
    assert email.attachments == () and stored.number in email.text and "n'est pas jointe" in email.text


def test_ses_down_then_up_sends_it_once_with_its_attachment(browser, rt, clock, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("SES unreachable (simulated)")

    monkeypatch.setattr(rt.mailer, "send_raw", down)
    renew(browser)
    stored = invoice_of(rt)
    assert to(BILLING) == []  # nothing went out, but the invoice is issued and the email stored
    monkeypatch.undo()
    clock.advance(minutes=5)
    mail.retry_pending_emails(rt)
    clock.advance(hours=5)
    mail.retry_pending_emails(rt)  # a second pass sends nothing twice
    [email] = to(BILLING)
    assert hashlib.sha256(email.attachments[0][1]).hexdigest() == stored.sha256


def test_a_credit_note_goes_to_the_billing_address_too(browser, rt, client):
    renew(browser)
    stored = invoice_of(rt)
    team = Browser(client)
    team.login(STAFF)
    path = "/admin/demandes/org-durand/2026"
    team.get(path)
    assert team.post(f"{path}/annulation", {"reason": "Adhésion reprise par le groupe", "confirmer": "1"}).status_code == 303
    credit = next(d for d in rt.documents.for_organisation("org-durand") if d.kind is DocumentKind.CREDIT_NOTE)
    [email] = [m for m in to(BILLING) if m.subject.startswith("Avoir ")]
    assert credit.number in email.subject and stored.number in email.subject
    assert hashlib.sha256(email.attachments[0][1]).hexdigest() == credit.sha256
    assert "Adhésion reprise par le groupe" in email.text


def test_a_message_too_large_for_the_outbox_is_refused_before_anything_is_stored(rt, demo, monkeypatch):
    monkeypatch.setattr(rt.templates, "email", lambda name, **context: ("Objet", "Texte", "<p>HTML</p>"))
    with pytest.raises(mail.MessageTooLarge):
        mail.send_email(rt, kind="test", template="any", recipients=["x@example.org"],
                        attachments=(("big.pdf", b"%PDF-" + bytes(400_000)),), message_id="too-large")
    assert rt.outbox.get("too-large") is None


def test_the_mailbox_page_lists_and_serves_the_attachment(browser, rt, client):
    renew(browser)
    stored = invoice_of(rt)
    [email] = to(BILLING)
    page = Browser(client).get(f"/_dev/courriels/{email.message_id}").body.decode()
    link = re.search(rf'href="(/_dev/courriels/[^"]+/pj/0)">{stored.number}.pdf', page).group(1)
    response = Browser(client).get(link, headers={"Accept": "*/*"})  # as a browser asks
    assert response.status_code == 200 and response.body == rt.storage.get(stored.s3_key)
    assert "attachment" in response.headers["Content-Disposition"]
    assert Browser(client).get(link.replace("/pj/0", "/pj/7"), headers={"Accept": "*/*"}).status_code == 404


def test_one_click_to_the_invoice_from_the_renewal_card_and_the_confirmation(browser, rt, client):
    renew(browser)
    stored = invoice_of(rt)
    button = f'href="/mon-compte/factures/{stored.number}"'
    assert button in browser.get("/mon-compte/adhesions/demande/2026?enregistree=1").body.decode()
    assert button in browser.get("/mon-compte/adhesions").body.decode()
    assert "Télécharger la facture" in browser.text()
    response = browser.get(f"/mon-compte/factures/{stored.number}")
    assert response.status_code == 302 and f"{stored.number}.pdf" in response.headers["Location"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    # another organisation, or something that is not an invoice number: the same 404
    other = Browser(client)
    other.login("m.lefevre@montclair.example")
    assert other.get(f"/mon-compte/factures/{stored.number}").status_code == 404
    for bad in ("FAC-2026-1", "DEV-2026-0001", "..%2F..%2Fetc"):
        assert browser.get(f"/mon-compte/factures/{bad}").status_code == 404
