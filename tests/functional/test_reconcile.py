"""The reconciler (run by the 15-minute ``issue_pending_invoices`` function) finishes, from the
state alone, what a crash left half-done — without staff, and without doing anything twice."""
from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib import jobs
from chalicelib.domain.documents import DocumentKind
from chalicelib.domain.model import MembershipStatus
from chalicelib.domain.renewal import RequestState
from chalicelib.services import documents, payments, renewal
from tests.conftest import sent_emails
from tests.functional.renewal_support import answers

MONTCLAIR = "org-montclair"
PAID_SUBJECT = "Paiement reçu — votre adhésion 2027 est à jour"


@pytest.fixture
def staff(rt, demo, clock):
    clock.advance(days=3)  # 1 December 2026: the 2027 campaign is open
    return rt.contacts.find_by_email("equipe@cite-verte.example").contact_id


def submit(rt):
    member = rt.contacts.find_by_email("m.lefevre@montclair.example").contact_id
    return renewal.submit_renewal_request(rt, MONTCLAIR, member, answers(
        wait_for_purchase_order="no", purchase_order_number="EJ-2027-14")).request


def pay_all(rt, staff, request):
    return payments.record_payment(rt, MONTCLAIR, 2027, recorded_by=staff, fields={
        "amount": str(request.amount).replace(".", ","), "paid_on": "2026-12-01", "method": "virement",
        "reference": "VIR"})


def test_a_payment_whose_settlement_crashed_is_finished(rt, staff, monkeypatch):
    request = submit(rt)

    def crash(*args, **kwargs):
        raise RuntimeError("Lambda timed out after the payment (simulated)")

    monkeypatch.setattr(payments, "settle", crash)
    with pytest.raises(RuntimeError):
        pay_all(rt, staff, request)
    monkeypatch.undo()
    assert rt.renewals.latest(MONTCLAIR, 2027).state is RequestState.INVOICED  # paid in full, not settled

    assert jobs.issue_pending_invoices(rt)["settled"] == 1
    assert rt.renewals.latest(MONTCLAIR, 2027).state is RequestState.PAID
    [membership] = [m for m in rt.memberships.for_organisation(MONTCLAIR) if m.year == 2027]
    assert membership.status is MembershipStatus.PAID
    assert [d for d in rt.documents.for_organisation(MONTCLAIR) if d.kind is DocumentKind.CERTIFICATE]
    before = len(sent_emails())
    jobs.issue_pending_invoices(rt)  # a second run: nothing new
    assert len(sent_emails()) == before
    assert len([m for m in sent_emails() if m.subject == PAID_SUBJECT]) == 3  # Montclair's three contacts


def test_paid_without_certificate_or_email_gets_them(rt, staff, monkeypatch):
    request = submit(rt)
    real_certificate = documents.issue_certificate

    def certificate_down(*args, **kwargs):
        raise ConnectionError("S3 unreachable (simulated)")

    monkeypatch.setattr(documents, "issue_certificate", certificate_down)
    monkeypatch.setattr(payments, "send_email", certificate_down)  # and no « Paiement reçu » queued
    pay_all(rt, staff, request)
    monkeypatch.setattr(documents, "issue_certificate", real_certificate)
    monkeypatch.undo()
    assert rt.renewals.latest(MONTCLAIR, 2027).state is RequestState.PAID
    assert not [d for d in rt.documents.for_organisation(MONTCLAIR) if d.kind is DocumentKind.CERTIFICATE]
    assert not [m for m in sent_emails() if m.subject == PAID_SUBJECT]

    assert jobs.issue_pending_invoices(rt)["paid_finished"] == 1
    assert len([d for d in rt.documents.for_organisation(MONTCLAIR) if d.kind is DocumentKind.CERTIFICATE]) == 1
    assert len([m for m in sent_emails() if m.subject == PAID_SUBJECT]) == 3
    assert jobs.issue_pending_invoices(rt).get("paid_finished", 0) == 0  # complete now: only read, never redone


def test_an_invoice_whose_emails_were_never_queued_is_announced_once(rt, staff, monkeypatch):
    monkeypatch.setattr(documents, "_announce", lambda *args, **kwargs: None)  # crash right after the invoice
    request = submit(rt)
    monkeypatch.undo()
    assert request.state is RequestState.INVOICED
    notices = lambda: [m for m in sent_emails() if "Votre facture est disponible" in m.subject]  # noqa: E731
    assert not notices() and rt.chorus_deposits.get(request.invoice_number) is None

    assert jobs.issue_pending_invoices(rt)["invoices_announced"] == 1
    assert len(notices()) == 3  # Ville de Montclair's contacts
    assert rt.chorus_deposits.get(request.invoice_number).flux  # a commune: its invoice goes to Chorus Pro
    assert jobs.issue_pending_invoices(rt).get("invoices_announced", 0) == 0
    assert len(notices()) == 3 and len(rt.chorus_deposits.all()) == 1


def test_a_private_buyers_lost_invoice_email_is_sent_once(rt, demo, monkeypatch):
    monkeypatch.setattr(documents, "_announce", lambda *args, **kwargs: None)  # crash right after the invoice
    invoice = documents.issue_invoice(rt, org_id="org-durand", year=2026, tier_code="ENT-2", tier_label="ENT-2",
                                      amount=Decimal("350"), request_id="req-durand")
    monkeypatch.undo()
    assert documents.ensure_announced(rt, invoice.number)
    [email] = [m for m in sent_emails() if m.recipients == ("compta@paysages-durand.example",)]
    assert invoice.number in email.subject and email.attachments
    assert not documents.ensure_announced(rt, invoice.number)
    assert rt.chorus_deposits.get(invoice.number) is None


def test_a_partly_paid_invoice_is_left_as_it_is(rt, staff):
    request = submit(rt)
    payments.record_payment(rt, MONTCLAIR, 2027, recorded_by=staff, fields={
        "amount": "100,00", "paid_on": "2026-12-01", "method": "virement", "reference": "VIR"})
    jobs.issue_pending_invoices(rt)
    assert rt.renewals.latest(MONTCLAIR, 2027).state is RequestState.INVOICED
    assert rt.payments.paid_total(request.invoice_number) == Decimal("100.00")


def _crash_between_upload_and_record(rt, monkeypatch):
    """The issuer dies after its PDF is in S3 and before the record: nothing of its own cleans up."""
    def died(*args, **kwargs):
        raise RuntimeError("Lambda stopped after the upload (simulated)")

    monkeypatch.setattr(rt.documents, "add_numbered", died)
    monkeypatch.setattr(documents, "_undo", lambda *args, **kwargs: None)  # a dead process runs no handler
    with pytest.raises(RuntimeError):
        documents.get_or_create_quote(rt, MONTCLAIR)
    monkeypatch.undo()


def test_an_upload_whose_record_was_never_written_is_removed_by_the_reconciler(rt, staff, clock, monkeypatch):
    from tests.functional.test_documents_issuing import stored_keys

    _crash_between_upload_and_record(rt, monkeypatch)
    [orphan] = stored_keys(rt)
    assert rt.documents.for_organisation(MONTCLAIR) == []
    assert jobs.issue_pending_invoices(rt).get("orphan_uploads_removed", 0) == 0  # its lease still runs
    clock.advance(minutes=1)
    assert jobs.issue_pending_invoices(rt)["orphan_uploads_removed"] == 1
    assert orphan not in stored_keys(rt)
    assert jobs.issue_pending_invoices(rt).get("orphan_uploads_removed", 0) == 0


def test_the_next_issuer_of_the_series_removes_it_too(rt, staff, clock, monkeypatch):
    from tests.functional.test_documents_issuing import stored_keys

    _crash_between_upload_and_record(rt, monkeypatch)
    [orphan] = stored_keys(rt)
    clock.advance(minutes=1)
    quote = documents.get_or_create_quote(rt, MONTCLAIR)  # the same series, DEV-2026
    [kept] = stored_keys(rt)
    assert kept != orphan and rt.documents.get(quote.document_id).s3_key == kept
    assert quote.number == "DEV-2026-0001"  # the crash took no number


def test_paid_with_its_certificate_but_no_email_gets_the_email(rt, staff, monkeypatch):
    """The case « Finaliser le règlement » never offered: interrupted after the certificate."""
    request = submit(rt)

    def ses_and_outbox_down(*args, **kwargs):
        raise ConnectionError("outbox unreachable (simulated)")

    monkeypatch.setattr(payments, "send_email", ses_and_outbox_down)
    pay_all(rt, staff, request)
    monkeypatch.undo()
    assert [d for d in rt.documents.for_organisation(MONTCLAIR) if d.kind is DocumentKind.CERTIFICATE]
    assert not [m for m in sent_emails() if m.subject == PAID_SUBJECT]

    assert jobs.issue_pending_invoices(rt)["paid_finished"] == 1
    assert len([m for m in sent_emails() if m.subject == PAID_SUBJECT]) == 3
    assert len([d for d in rt.documents.for_organisation(MONTCLAIR) if d.kind is DocumentKind.CERTIFICATE]) == 1


# --- purchase-order files --------------------------------------------------------------------

PO_PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def po_keys(rt):
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    return rt.storage.written_between("purchase-orders/", now - timedelta(days=1), now + timedelta(days=1))


def awaiting_po(rt):
    member = rt.contacts.find_by_email("m.lefevre@montclair.example").contact_id
    return renewal.submit_renewal_request(rt, MONTCLAIR, member, answers()).request, member


def test_a_purchase_order_file_whose_request_was_never_written_is_swept(rt, staff, clock, monkeypatch):
    from datetime import datetime, timedelta, timezone

    _, member = awaiting_po(rt)
    real_change = renewal._change

    def dies(*args, **kwargs):
        raise SystemExit("the function died between the upload and the request write")

    monkeypatch.setattr(renewal, "_change", dies)
    with pytest.raises(SystemExit):
        renewal.record_purchase_order(rt, MONTCLAIR, 2027, actor_id=member, number="EJ-2027-77", pdf=PO_PDF)
    [orphan] = po_keys(rt)
    monkeypatch.setattr(renewal, "_change", real_change)
    kept = renewal.record_purchase_order(rt, MONTCLAIR, 2027, actor_id=member, number="EJ-2027-77", pdf=PO_PDF).purchase_order_file
    assert jobs.issue_pending_invoices(rt).get("orphan_purchase_orders_removed", 0) == 0  # too recent
    clock.now = datetime.now(timezone.utc) + timedelta(hours=2)
    assert jobs.issue_pending_invoices(rt)["orphan_purchase_orders_removed"] == 1
    assert po_keys(rt) == [kept]


def test_a_lost_answer_keeps_the_file_the_request_holds(rt, staff, monkeypatch):
    _, member = awaiting_po(rt)
    real_change = renewal._change

    def answer_lost(*args, **kwargs):
        real_change(*args, **kwargs)
        raise ConnectionError("the write went through; its answer was lost")

    monkeypatch.setattr(renewal, "_change", answer_lost)
    with pytest.raises(ConnectionError):
        renewal.record_purchase_order(rt, MONTCLAIR, 2027, actor_id=member, number="EJ-2027-77", pdf=PO_PDF)
    held = rt.renewals.latest(MONTCLAIR, 2027).purchase_order_file
    assert held and po_keys(rt) == [held]
    assert rt.storage.get(held) == PO_PDF
