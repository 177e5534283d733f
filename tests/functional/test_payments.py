"""Payments: partial payments add up, the full payment settles the request (PAID, membership PAID,
certificate, « Paiement reçu »), and nothing is ever paid or settled twice."""
from __future__ import annotations

import csv
import io
import json
import threading
from decimal import Decimal
from html import unescape

import pytest

from chalicelib.adapters.dynamo.audit import AuditTable
from chalicelib.adapters.dynamo.payments import PaymentTable
from chalicelib.domain.documents import DocumentKind
from chalicelib.domain.errors import ConcurrentUpdate, ValidationError
from chalicelib.domain.model import MembershipStatus
from chalicelib.domain.renewal import InvalidTransition, RequestState
from chalicelib.services import documents, payments, renewal
from chalicelib.services.payments import PaymentNotExpected
from tests.conftest import at_once, sent_emails
from tests.functional.conftest import MEMBER, MEMBER_B, STAFF
from tests.functional.renewal_support import MEMBERSHIPS, answers, plain

MONTCLAIR = "org-montclair"
SUBJECT = "Paiement reçu — votre adhésion 2027 est à jour"
TOTAL = Decimal("742.00")  # COL-3 in the 2027 grid


@pytest.fixture
def staff(rt, demo, clock):
    clock.advance(days=3)  # 1 December 2026: the 2027 campaign is open
    return rt.contacts.find_by_email(STAFF).contact_id


@pytest.fixture
def invoiced(rt, staff):
    """Ville de Montclair's 2027 request, invoiced at once (no PO awaited, no tier change)."""
    member = rt.contacts.find_by_email(MEMBER).contact_id
    result = renewal.submit_renewal_request(rt, MONTCLAIR, member, answers(
        wait_for_purchase_order="no", purchase_order_number="EJ-2027-14"))
    assert result.request.state is RequestState.INVOICED
    assert rt.documents.by_number(result.request.invoice_number).total == TOTAL
    return result.request


def pay(rt, staff, amount: str, payment_id: str = "", **fields):
    values = {"amount": amount, "paid_on": "2026-12-01", "method": "virement", "reference": "VIR SEPA"}
    values.update(fields)
    return payments.record_payment(rt, MONTCLAIR, 2027, fields=values, recorded_by=staff, payment_id=payment_id)


def audit(action: str) -> list[AuditTable]:
    return [i for i in AuditTable.scan() if i.action == action]


def receipts() -> list:
    return [m for m in sent_emails() if m.subject == SUBJECT]


def membership_2027(rt):
    return next((m for m in rt.memberships.for_organisation(MONTCLAIR) if m.year == 2027), None)


def montclair_contacts(rt) -> list[str]:
    return sorted(c.email for c in rt.contacts.for_organisation(MONTCLAIR) if c.active)


def test_partial_payments_add_up_and_the_full_payment_settles_the_request(rt, staff, invoiced, browser, clock):
    first = pay(rt, staff, "500,00", reference="Mandat 2026-881", method="mandat_administratif")
    clock.advance(minutes=5)
    assert (first.paid_total, first.balance, first.fully_paid) == (Decimal("500.00"), Decimal("242.00"), False)
    assert first.request.state is RequestState.INVOICED and membership_2027(rt) is None
    with pytest.raises(documents.NotPaidYet):
        documents.issue_certificate(rt, MONTCLAIR, 2027)
    assert receipts() == []

    last = pay(rt, staff, "242")
    assert (last.paid_total, last.balance, last.fully_paid) == (TOTAL, Decimal("0.00"), True)
    assert last.request.state is RequestState.PAID and last.request.history[-1].action == "payment_recorded"
    assert rt.renewals.latest(MONTCLAIR, 2027).state is RequestState.PAID
    membership = membership_2027(rt)
    assert (membership.status, membership.tier_code, membership.amount) == (MembershipStatus.PAID, "COL-3", TOTAL)

    # the certificate is issued with the settlement, and stays the same one when asked again
    [certificate] = [d for d in rt.documents.for_organisation(MONTCLAIR) if d.kind is DocumentKind.CERTIFICATE]
    assert documents.issue_certificate(rt, MONTCLAIR, 2027) == certificate.content
    assert sorted(m.recipients[0] for m in receipts()) == montclair_contacts(rt)
    mail = receipts()[0]
    assert "FAC-2026-00001" in mail.text and "742,00" in mail.text and "est disponible" in mail.text
    assert "https://adhesions.test/mon-compte/adhesions" in mail.text

    listed = payments.payments_for(rt, MONTCLAIR, 2027)
    assert [(p.amount, p.method, p.reference) for p in listed] == [
        (Decimal("500.00"), "mandat_administratif", "Mandat 2026-881"), (Decimal("242.00"), "virement", "VIR SEPA")]
    assert payments.balance(rt, last.request) == (TOTAL, TOTAL, Decimal("0.00"))
    recorded = sorted((e.at, json.loads(e.data)) for e in audit("payment.recorded"))
    assert [(d["before"], d["after"]) for _, d in recorded] == [
        ({"paid_total": "0.00"}, {"paid_total": "500.00"}), ({"paid_total": "500.00"}, {"paid_total": "742.00"})]
    assert len(audit("renewal.paid")) == 1 and len(audit("membership.paid")) == 1

    browser.login(MEMBER)
    page = plain(unescape(browser.get(MEMBERSHIPS).body.decode()))
    assert "Attestation d'adhésion 2027" in page and "Payée" in page


def test_more_than_the_balance_is_refused_and_nothing_is_recorded(rt, staff, invoiced):
    pay(rt, staff, "700")
    with pytest.raises(ValidationError) as raised:
        pay(rt, staff, "100")
    assert raised.value.errors == {"amount": "Le montant dépasse le reste à payer (42,00\u00a0€)."}
    with pytest.raises(ValidationError) as raised:
        pay(rt, staff, "0", paid_on="2026-12-02")  # and a date in the future
    assert set(raised.value.errors) == {"amount", "paid_on"}
    assert [p.amount for p in payments.payments_for(rt, MONTCLAIR, 2027)] == [Decimal("700.00")]
    assert rt.renewals.latest(MONTCLAIR, 2027).state is RequestState.INVOICED


def test_a_request_not_invoiced_takes_no_payment(rt, staff):
    with pytest.raises(PaymentNotExpected) as raised:
        pay(rt, staff, "10")
    assert raised.value.status == 409
    assert raised.value.message == "Cette demande n'attend pas de paiement : aucune demande de renouvellement 2027 n'est enregistrée."
    member = rt.contacts.find_by_email(MEMBER).contact_id
    renewal.submit_renewal_request(rt, MONTCLAIR, member, answers())  # waits for its purchase order
    with pytest.raises(PaymentNotExpected) as raised:
        pay(rt, staff, "10")
    assert raised.value.status == 409 and "« En attente du bon de commande »" in raised.value.message
    renewal.cancel_request(rt, MONTCLAIR, 2027, cancelled_by=staff)
    with pytest.raises(PaymentNotExpected, match="elle est annulée"):
        pay(rt, staff, "10")
    assert PaymentTable.count() == 0


def test_a_paid_request_takes_no_more_payment(rt, staff, invoiced):
    pay(rt, staff, "742")
    with pytest.raises(PaymentNotExpected, match="FAC-2026-00001 est déjà entièrement réglée"):
        pay(rt, staff, "1")
    assert PaymentTable.count() == 1 and len(receipts()) == 3


def test_a_double_submit_with_the_same_payment_id_records_once(rt, staff, invoiced):
    first = pay(rt, staff, "300", payment_id="form-7f3a")
    again = pay(rt, staff, "300", payment_id="form-7f3a")
    assert again.payment == first.payment and again.paid_total == Decimal("300.00")
    changed = pay(rt, staff, "400", payment_id="form-7f3a")  # the same form, edited in another tab
    assert changed.payment.amount == Decimal("300.00")

    barrier, outcomes = threading.Barrier(6), []

    def submit() -> None:
        barrier.wait()
        outcomes.append(pay(rt, staff, "442", payment_id="form-9b21"))

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 6 and {o.payment for o in outcomes} == {outcomes[0].payment}
    assert PaymentTable.count() == 2 and rt.payments.paid_total("FAC-2026-00001") == TOTAL
    assert len(audit("payment.recorded")) == 2 and len(audit("renewal.paid")) == 1
    assert rt.renewals.latest(MONTCLAIR, 2027).state is RequestState.PAID


def run_at_once(n: int, work) -> tuple[list, list]:
    barrier, results, errors = threading.Barrier(n), [], []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results.append(work(i))
        except Exception as error:  # collected: a thread's exception would otherwise vanish
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_concurrent_full_payments_settle_once_and_never_pass_the_total(rt, staff, invoiced):
    results, errors = run_at_once(6, lambda i: pay(rt, staff, "742,00", reference=f"VIR {i}"))
    assert len(results) == 1 and results[0].fully_paid
    assert len(errors) == 5 and all(isinstance(e, ValidationError | PaymentNotExpected) for e in errors)
    assert PaymentTable.count() == 1 and rt.payments.paid_total("FAC-2026-00001") == TOTAL
    request = rt.renewals.latest(MONTCLAIR, 2027)
    assert request.state is RequestState.PAID
    assert [e.action for e in request.history].count("payment_recorded") == 1
    assert len(audit("renewal.paid")) == 1 and len(audit("membership.paid")) == 1
    assert sorted(m.recipients[0] for m in receipts()) == montclair_contacts(rt)  # one each
    assert len([d for d in rt.documents.for_organisation(MONTCLAIR) if d.kind is DocumentKind.CERTIFICATE]) == 1


def test_concurrent_partial_payments_are_accepted_up_to_the_balance_only(rt, staff, invoiced):
    results, errors = run_at_once(8, lambda i: pay(rt, staff, "100"))
    assert len(results) == 7 and len(errors) == 1
    assert errors[0].errors == {"amount": "Le montant dépasse le reste à payer (42,00\u00a0€)."}
    assert rt.payments.paid_total("FAC-2026-00001") == Decimal("700.00")
    assert sum(p.amount for p in payments.payments_for(rt, MONTCLAIR, 2027)) == Decimal("700.00")
    assert rt.renewals.latest(MONTCLAIR, 2027).state is RequestState.INVOICED
    assert pay(rt, staff, "42").request.state is RequestState.PAID


def test_a_crash_after_the_payment_is_written_is_completed_by_a_retry(rt, staff, invoiced, monkeypatch):
    real = renewal.mark_paid

    def crash(*args, **kwargs):
        raise RuntimeError("Lambda timed out")

    monkeypatch.setattr(renewal, "mark_paid", crash)
    with pytest.raises(RuntimeError):
        pay(rt, staff, "742", payment_id="form-1")
    assert PaymentTable.count() == 1  # the payment is recorded, the settlement is not
    assert rt.renewals.latest(MONTCLAIR, 2027).state is RequestState.INVOICED and membership_2027(rt) is None

    monkeypatch.setattr(renewal, "mark_paid", real)
    outcome = pay(rt, staff, "742", payment_id="form-1")  # the staff member submits again
    assert outcome.fully_paid and outcome.request.state is RequestState.PAID
    assert PaymentTable.count() == 1 and membership_2027(rt).status is MembershipStatus.PAID
    assert len(receipts()) == 3 and len(audit("payment.recorded")) == 1


def test_a_crash_after_the_request_is_paid_is_completed_by_settle(rt, staff, invoiced, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("DynamoDB unreachable")

    monkeypatch.setattr(rt.memberships, "save_paid", crash)
    with pytest.raises(RuntimeError):
        pay(rt, staff, "742")
    assert rt.renewals.latest(MONTCLAIR, 2027).state is RequestState.PAID and membership_2027(rt) is None
    assert receipts() == []

    monkeypatch.undo()
    with pytest.raises(PaymentNotExpected):  # another try, with a new form: nothing left to pay…
        pay(rt, staff, "742")
    assert membership_2027(rt).status is MembershipStatus.PAID  # …but the settlement is finished
    assert payments.settle(rt, MONTCLAIR, 2027).state is RequestState.PAID  # and settling again changes nothing
    assert len(receipts()) == 3 and len(audit("membership.paid")) == 1 and len(audit("renewal.paid")) == 1
    assert PaymentTable.count() == 1


def test_a_certificate_that_cannot_be_issued_never_undoes_the_payment(rt, staff, invoiced, monkeypatch):
    def pdf_down(*args, **kwargs):
        raise OSError("WeasyPrint crashed")

    monkeypatch.setattr(rt.pdf, "render", pdf_down)
    outcome = pay(rt, staff, "742")
    assert outcome.fully_paid and outcome.request.state is RequestState.PAID
    assert membership_2027(rt).status is MembershipStatus.PAID
    assert all("sera disponible sous peu" in m.text for m in receipts()) and len(receipts()) == 3

    monkeypatch.undo()
    payments.settle(rt, MONTCLAIR, 2027)  # e.g. staff record the payment again: the certificate comes
    assert [d.kind for d in rt.documents.for_organisation(MONTCLAIR)].count(DocumentKind.CERTIFICATE) == 1
    assert len(receipts()) == 3  # no second email


def test_settle_leaves_a_partly_paid_request_invoiced(rt, staff, invoiced):
    pay(rt, staff, "741.99")
    assert payments.settle(rt, MONTCLAIR, 2027).state is RequestState.INVOICED
    assert payments.settle(rt, "org-durand", 2027) is None
    assert membership_2027(rt) is None


def test_a_payment_form_with_a_forged_id_is_refused(rt, staff, invoiced):
    with pytest.raises(payments.BadPaymentForm):
        pay(rt, staff, "10", payment_id="x#2027#y")
    assert PaymentTable.count() == 0


# --- export ------------------------------------------------------------------------------


def csv_rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff") and "\r\n" in text
    return list(csv.DictReader(io.StringIO(text[1:], newline=""), delimiter=";"))


def test_payments_export_for_accounting(rt, staff, invoiced):
    pay(rt, staff, "500", reference='=HYPERLINK("http://x","y")', method="cheque")
    pay(rt, staff, "242,00", paid_on="2026-11-30")
    file = payments.payments_csv(rt, year=2027, actor=staff)
    assert file.filename == "paiements-2027-2026-12-01.csv" and file.rows == 2
    header = file.text[1:].split("\r\n", 1)[0]
    assert header == "Date;Structure;SIRET;Facture;Année;Montant;Mode;Référence;Enregistré par"
    first, second = csv_rows(file.text)
    assert first == {"Date": "30/11/2026", "Structure": "Ville de Montclair", "SIRET": "21440987600019",
                     "Facture": "FAC-2026-00001", "Année": "2027", "Montant": "242,00",
                     "Mode": "Virement bancaire", "Référence": "VIR SEPA", "Enregistré par": "Camille Martin"}
    assert second["Référence"] == '\'=HYPERLINK("http://x","y")' and second["Mode"] == "Chèque"
    assert payments.payments_csv(rt, year=2026, actor=staff).rows == 0
    assert payments.payments_csv(rt, year=None, actor=staff).rows == 2
    [event, *_] = [e for e in audit("export.downloaded") if '"payments"' in e.data]
    assert event.actor == staff


def test_payments_export_page_is_for_staff_and_audited(rt, staff, invoiced, new_browser):
    pay(rt, staff, "742")
    team = new_browser()
    team.login(STAFF)
    assert 'href="/admin/exports/paiements.csv"' in team.get("/admin/exports").body.decode()
    response = team.get("/admin/exports/paiements.csv?annee=2027")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert 'filename="paiements-2027-2026-12-01.csv"' in response.headers["Content-Disposition"]
    assert len(csv_rows(response.body.decode())) == 1
    assert len(csv_rows(team.get("/admin/exports/paiements.csv?annee=").body.decode())) == 1
    bad = team.get("/admin/exports/paiements.csv?annee=20x7")
    assert bad.status_code == 400 and "année sur 4 chiffres" in team.text()
    assert len([e for e in audit("export.downloaded") if '"payments"' in e.data]) == 2

    member = new_browser()
    member.login(MEMBER_B)
    assert member.get("/admin/exports/paiements.csv").status_code == 403


@pytest.mark.parametrize("run", range(20))
def test_a_cancellation_and_the_full_payment_at_once_never_end_paid_and_credited(rt, staff, invoiced, run):
    from chalicelib.domain.errors import InvoiceHasPayments
    from chalicelib.services.staff_requests import cancel_with_credit_note

    cancelled, paid = at_once(
        lambda: cancel_with_credit_note(rt, MONTCLAIR, 2027, by=staff, reason="Adhésion non reconduite"),
        lambda: pay(rt, staff, "742,00"))
    request = rt.renewals.latest(MONTCLAIR, 2027)
    credit_notes = [d for d in rt.documents.for_organisation(MONTCLAIR) if d.kind is DocumentKind.CREDIT_NOTE]
    recorded = rt.payments.for_request(MONTCLAIR, 2027)
    assert not (credit_notes and recorded), (cancelled, paid)
    if recorded:  # the payment won: the request is paid, the cancellation was refused
        assert request.state is RequestState.PAID and membership_2027(rt).status is MembershipStatus.PAID
        assert isinstance(cancelled, InvoiceHasPayments | ConcurrentUpdate | InvalidTransition), cancelled
    else:  # the cancellation won: credit note, cancelled request, no payment, no membership
        assert request.state is RequestState.CANCELLED and len(credit_notes) == 1 and membership_2027(rt) is None
        assert isinstance(paid, PaymentNotExpected | ConcurrentUpdate), paid
    assert rt.payments.paid_total(invoiced.invoice_number) == (Decimal("742.00") if recorded else Decimal("0.00"))


def test_an_invoice_with_a_payment_is_not_cancelled_by_a_credit_note(rt, staff, invoiced, new_browser):
    from chalicelib.domain.errors import InvoiceHasPayments
    from chalicelib.services.staff_requests import cancel_with_credit_note

    pay(rt, staff, "100,00")
    with pytest.raises(InvoiceHasPayments):
        cancel_with_credit_note(rt, MONTCLAIR, 2027, by=staff, reason="Erreur de tranche")
    assert rt.renewals.latest(MONTCLAIR, 2027).state is RequestState.INVOICED
    assert not [d for d in rt.documents.for_organisation(MONTCLAIR) if d.kind is DocumentKind.CREDIT_NOTE]
    team = new_browser()
    team.login(STAFF)
    path = f"/admin/demandes/{MONTCLAIR}/2027"
    team.get(path)
    for confirmed in ("", "1"):  # refused on the confirmation page and on « Confirmer »
        response = team.post(f"{path}/annulation", {"reason": "Erreur de tranche", "confirmer": confirmed})
        assert response.status_code == 409 and "Un paiement est déjà enregistré sur cette facture" in team.text()


def test_a_credited_invoice_takes_no_payment(rt, staff, invoiced):
    from chalicelib.services.staff_requests import cancel_with_credit_note

    cancellation = cancel_with_credit_note(rt, MONTCLAIR, 2027, by=staff, reason="Doublon")
    with pytest.raises(PaymentNotExpected):
        pay(rt, staff, "742,00")
    # even against the invoice directly, below the service: the credit note's mark refuses it
    from chalicelib.domain.errors import ConcurrentUpdate as Refused
    from chalicelib.domain.payments import Payment

    with pytest.raises(Refused):
        rt.payments.add(Payment(payment_id="direct", org_id=MONTCLAIR, year=2027, invoice_number=invoiced.invoice_number,
                                amount=Decimal("1.00"), paid_on=rt.today(), method="virement", reference="",
                                recorded_by=staff, recorded_at=rt.clock()),
                        invoice_total=Decimal("742.00"), request_attempt=invoiced.attempt)
    assert rt.payments.credit_note_for(invoiced.invoice_number) == cancellation.credit_note.number
