"""Payments staff record against a renewal request's invoice; the full payment settles it.

Use cases:

- ``record_payment`` — staff record one payment (date, method, reference, amount) for the
  season's INVOICED request; partial payments add up. When they reach the invoice total the
  request is *settled*: PAID, membership of the year PAID, certificate, « Paiement reçu »;
- ``settle`` — finish a settlement left half-way (see below); safe to call at any time;
- ``payments_for`` / ``balance`` — what a staff page shows;
- ``payments_csv`` — every payment (or one year's), for accounting.

Decisions:

- Concurrent payments: each payment is written in one DynamoDB transaction with its
  invoice's running total (``adapters.dynamo.payments``): the total is increased only on the
  condition that it stays at most the invoice total, and only while the request is still
  INVOICED with that invoice. Two staff members recording the last payment at once: one
  is written, the other is refused with the balance read again (« Le montant dépasse le
  reste à payer »). A running total was preferred to a version bump on the request: it
  keeps payments out of the request item (which staff actions rewrite whole), and
  DynamoDB checks and adds in one step, so concurrent partial payments that fit all pass.
- Double submit: the payment id comes with the form (``payment_id``); the second write
  finds it taken and the first payment's outcome is returned. Nothing is written twice.
- Settlement order: the request becomes PAID first (``renewal.mark_paid``: optimistic
  locking, so exactly one caller makes the transition and audits it), then the membership
  is saved PAID, the certificate issued, and the contacts emailed. Every step is
  idempotent: the membership is written on the condition that it is not PAID yet (one
  writer wins, and audits it); the certificate id and the outbox ids are derived from the
  organisation and year. So a crash anywhere after the payment is written — before the
  request is PAID, or between any two later steps — is repaired by running the same steps
  again: ``record_payment`` does it when called again (same payment id, or a new one: the
  request then has nothing left to pay) and ``settle`` does it on its own. A request is
  never PAID twice, and a membership is only extended by a request that is PAID.
- The membership takes the request's tier and amount (what the member confirmed and was
  invoiced for). The certificate and the emails are best effort: their failure is logged
  and never undoes the payment; ``settle`` issues and sends what is missing.
- Any payment method the app knows (``PAYMENT_METHOD_LABELS``) is accepted, not only those
  offered to members today: staff record the money as it actually came.
- Payments from an earlier attempt of the season (its invoice credited) stay recorded
  against their own invoice and count for that invoice only.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from ..domain.association import PAYMENT_METHOD_LABELS
from ..domain.csv_io import Column, csv_export
from ..domain.documents import DocumentKind
from ..domain.errors import AlreadyExists, ConcurrentUpdate, DomainError
from ..domain.model import Contact, Membership, MembershipStatus, Role
from ..domain.payments import Payment, check_payment, is_payment_id, settles
from ..domain.renewal import InvalidTransition, RequestState
from ..domain.renewal_request import RenewalRequest
from ..domain.validation import fold
from ..runtime import Runtime
from . import documents, renewal
from .audit import event, record
from .exports import CsvFile
from .mail import send_email

log = logging.getLogger(__name__)

MEMBERSHIPS_PATH = "/mon-compte/adhesions"
ZERO = Decimal("0.00")
_RETRIES = 5


class PaymentNotExpected(DomainError):
    """The season's request is not waiting for a payment; the message says why, in French."""

    status = 409

    def __init__(self, reason: str):
        super().__init__(f"Cette demande n'attend pas de paiement : {reason}")


class BadPaymentForm(DomainError):
    status = 400
    message = "Ce formulaire de paiement n'est plus valide : rechargez la page et saisissez le paiement de nouveau."


class InvoiceNotFound(DomainError):
    status = 409
    message = "La facture de cette demande est introuvable pour le moment : réessayez dans un instant."


@dataclass(frozen=True)
class PaymentOutcome:
    payment: Payment  # the payment recorded (or, for a double submit, the one recorded first)
    request: RenewalRequest  # the season's request after the payment (PAID once settled)
    paid_total: Decimal  # paid so far on the request's invoice
    balance: Decimal  # left to pay on it
    fully_paid: bool


# --- reading ---------------------------------------------------------------------------


def payments_for(rt: Runtime, org_id: str, year: int) -> list[Payment]:
    """The organisation's payments for the season, oldest first (each names its invoice)."""
    return rt.payments.for_request(org_id, year)


def balance(rt: Runtime, request: RenewalRequest) -> tuple[Decimal, Decimal, Decimal]:
    """(invoice total, paid, left to pay) for the request's invoice; zeros before invoicing."""
    if not request.invoice_number:
        return ZERO, ZERO, ZERO
    invoice = rt.documents.by_number(request.invoice_number)
    if invoice is None:  # the number index is read eventually consistently: just issued
        raise InvoiceNotFound()
    paid = rt.payments.paid_total(request.invoice_number)
    return invoice.total, paid, max(invoice.total - paid, ZERO)


# --- recording -------------------------------------------------------------------------


def _not_expected(request: RenewalRequest | None, year: int) -> PaymentNotExpected:
    if request is None:
        return PaymentNotExpected(f"aucune demande de renouvellement {year} n'est enregistrée.")
    if request.state is RequestState.PAID:
        return PaymentNotExpected(f"la facture {request.invoice_number} est déjà entièrement réglée.")
    if request.state is RequestState.INVOICED:  # settling could not finish (e.g. an invoice of 0 €)
        return PaymentNotExpected(f"il ne reste rien à payer sur la facture {request.invoice_number}.")
    if request.state is RequestState.CANCELLED:
        return PaymentNotExpected("elle est annulée.")
    return PaymentNotExpected(f"elle est « {request.state.label} » ; un paiement s'enregistre "
                              "une fois la facture émise.")


def record_payment(rt: Runtime, org_id: str, year: int, *, fields: dict[str, str], recorded_by: str,
                   payment_id: str = "") -> PaymentOutcome:
    """Record a payment for the season's invoiced request; settle the request once fully paid.

    ``fields`` is the staff form (``domain.payments.PAYMENT_FIELDS``). ``payment_id`` comes
    with the form so that a double submit records one payment (empty: a new id). Raises
    ValidationError (nothing recorded) on bad values or more than the balance, and
    PaymentNotExpected (409) unless the request is INVOICED with something left to pay.

    Calling it again after a crash — with the same payment id or another — completes the
    settlement of a fully paid request before answering (see the module docstring).
    """
    payment_id = payment_id.strip() or rt.id_factory()
    if not is_payment_id(payment_id):
        raise BadPaymentForm()
    for _ in range(_RETRIES):
        request = rt.renewals.latest(org_id, year)
        invoiced = request is not None and request.state is RequestState.INVOICED
        total, paid, left = balance(rt, request) if invoiced else (ZERO, ZERO, ZERO)
        # Looked for after the request and balance are read: a twin submit that wrote in
        # between is found here, and one that writes later makes our own write fail.
        existing = rt.payments.get(org_id, year, payment_id)
        if existing is not None:  # a double submit, or a retry after a crash
            return _outcome(rt, existing, settle(rt, org_id, year, by=recorded_by))
        if request is not None and request.state is RequestState.PAID:
            raise _not_expected(settle(rt, org_id, year, by=recorded_by), year)  # finish what a crash left
        if not invoiced:
            raise _not_expected(request, year)
        if left <= 0:  # fully paid, but the settlement did not finish: finish it now
            raise _not_expected(settle(rt, org_id, year, by=recorded_by), year)
        amount, paid_on, method, reference = check_payment(
            fields, balance=left, today=rt.today(), methods=PAYMENT_METHOD_LABELS)
        payment = Payment(payment_id=payment_id, org_id=org_id, year=year, invoice_number=request.invoice_number,
                          amount=amount, paid_on=paid_on, method=method, reference=reference,
                          recorded_by=recorded_by, recorded_at=rt.clock())
        journal = event(rt, "payment.recorded", actor=recorded_by, target=request.reference, org_id=org_id,
                        before={"paid_total": str(paid)}, after={"paid_total": str(paid + amount)},
                        payment_id=payment_id, invoice_number=request.invoice_number, amount=str(amount),
                        paid_on=paid_on.isoformat(), method=method, reference=reference)
        try:
            rt.payments.add(payment, invoice_total=total, request_attempt=request.attempt, effects=[journal])
        except (AlreadyExists, ConcurrentUpdate):
            credit_note = rt.payments.credit_note_for(request.invoice_number)
            if credit_note:  # a cancellation's credit note came first: the invoice takes no payment
                raise PaymentNotExpected(f"l'avoir {credit_note} a annulé la facture {request.invoice_number}.") from None
            continue  # the same form, another payment or a state change came first: decide again
        return _outcome(rt, payment, settle(rt, org_id, year, by=recorded_by))
    raise ConcurrentUpdate()


def _outcome(rt: Runtime, payment: Payment, request: RenewalRequest | None) -> PaymentOutcome:
    if request is None:  # the request vanished: cannot happen, requests are never deleted
        raise ConcurrentUpdate()
    total, paid, left = balance(rt, request)
    return PaymentOutcome(payment, request, paid, left, settles(total, left))


# --- settling --------------------------------------------------------------------------


def settle(rt: Runtime, org_id: str, year: int, *, by: str = "system") -> RenewalRequest | None:
    """Bring the season's request up to date with its payments; return it (None without one).

    An INVOICED request whose invoice is fully paid becomes PAID; a PAID request gets
    whatever of its follow-ups is missing (membership PAID, certificate, « Paiement reçu »
    email). Anything else is returned unchanged. Idempotent: calling it twice, or from two
    places at once, makes the transition once and sends each email once.
    """
    request = rt.renewals.latest(org_id, year)
    if request is None:
        return None
    if request.state is RequestState.INVOICED:
        total, _paid, left = balance(rt, request)
        if not settles(total, left):
            return request
        try:
            request = renewal.mark_paid(rt, org_id, year, by=by)
        except InvalidTransition:  # cancelled meanwhile: staff refund; nothing to extend
            log.warning("request %s/%s fully paid but no longer invoiced", org_id, year)
            return rt.renewals.latest(org_id, year)
    if request.state is RequestState.PAID:
        _extend_membership(rt, request, by)
    return request


def _extend_membership(rt: Runtime, request: RenewalRequest, by: str) -> None:
    """The follow-ups of a PAID request, each done at most once however often this runs."""
    org_id, year = request.org_id, request.year
    current = next((m for m in rt.memberships.for_organisation(org_id) if m.year == year), None)
    paid = Membership(org_id, year, request.tier_code, request.tier_label, request.amount, MembershipStatus.PAID)
    # Conditional write: of two settlements running at once, one extends (and audits) it.
    if current is None or current.status is not MembershipStatus.PAID:
        rt.memberships.save_paid(paid, effects=[event(
            rt, "membership.paid", actor=by, target=f"{org_id}/{year}", org_id=org_id,
            before={"status": current.status.value if current else None,
                    "tier": current.tier_code if current else None},
            after={"status": MembershipStatus.PAID.value, "tier": request.tier_code, "amount": str(request.amount)},
            request=request.reference)])
    certificate = True
    try:
        documents.issue_certificate(rt, org_id, year)
    except Exception:  # the membership is paid; the certificate is issued on the next settle
        log.exception("certificate %s/%s not issued", org_id, year)
        certificate = False
    _send_payment_received(rt, request, certificate)


def _paid_recipients(rt: Runtime, org_id: str) -> list[Contact]:
    return [c for c in rt.contacts.for_organisation(org_id) if c.active and c.role is Role.CONTACT]


def _paid_message_id(request: RenewalRequest, contact: Contact) -> str:
    return f"payment.{request.org_id}.{request.year}.{request.attempt}.paid.{contact.contact_id}"


def settlement_finished(rt: Runtime, request: RenewalRequest) -> bool:
    """Whether every follow-up of a PAID request is done — membership paid, certificate issued,
    « Paiement reçu » in the outbox for each contact — by reads only (no rendering, no write),
    so that the reconciler calls ``settle`` only where something is missing."""
    membership = next((m for m in rt.memberships.for_organisation(request.org_id) if m.year == request.year), None)
    if membership is None or membership.status is not MembershipStatus.PAID:
        return False
    if not any(d.kind is DocumentKind.CERTIFICATE and d.year == request.year
               for d in rt.documents.for_organisation(request.org_id)):
        return False
    return all(rt.outbox.get(_paid_message_id(request, c)) is not None for c in _paid_recipients(rt, request.org_id))


def _send_payment_received(rt: Runtime, request: RenewalRequest, certificate: bool) -> None:
    """« Paiement reçu — votre adhésion YYYY est à jour » to each active contact, once each."""
    paid = rt.payments.paid_total(request.invoice_number)
    for contact in _paid_recipients(rt, request.org_id):
        try:
            send_email(
                rt, kind="payment_received", template="payment_received", recipients=[contact.email],
                message_id=_paid_message_id(request, contact),
                contact=contact, request=request, paid_total=paid, certificate=certificate,
                link=rt.config.base_url + MEMBERSHIPS_PATH,
            )
        except Exception:  # the payment is recorded: a lost email is logged, never an error page
            log.exception("payment email for %s not queued", request.reference)


# --- export ----------------------------------------------------------------------------


def payments_csv(rt: Runtime, *, year: int | None, actor: str = "system") -> CsvFile:
    """Every payment recorded (only those of membership ``year`` if given), oldest first, as CSV."""
    payments = [p for p in rt.payments.all() if year is None or p.year == year]
    orgs = {o.org_id: o for o in rt.organisations.all()}
    recorders = {}
    for staff_id in {p.recorded_by for p in payments}:
        contact = rt.contacts.get(staff_id)
        recorders[staff_id] = contact.name if contact is not None else staff_id

    def org(p: Payment):
        return orgs.get(p.org_id)

    columns = [
        Column("Date", lambda p: p.paid_on),
        Column("Structure", lambda p: org(p).name if org(p) else p.org_id),
        Column("SIRET", lambda p: org(p).siret if org(p) else ""),
        Column("Facture", lambda p: p.invoice_number),
        Column("Année", lambda p: p.year),
        Column("Montant", lambda p: p.amount),
        Column("Mode", lambda p: p.method_label),
        Column("Référence", lambda p: p.reference),
        Column("Enregistré par", lambda p: recorders.get(p.recorded_by, p.recorded_by)),
    ]
    payments.sort(key=lambda p: (p.paid_on, fold(org(p).name) if org(p) else p.org_id, p.recorded_at))
    text = csv_export(payments, columns)
    filename = f"paiements-{year}-{rt.today().isoformat()}.csv" if year else f"paiements-{rt.today().isoformat()}.csv"
    record(rt, "export.downloaded", actor=actor, target=filename, export="payments", year=year, rows=len(payments))
    return CsvFile(filename, text, len(payments))
