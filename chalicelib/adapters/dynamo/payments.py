"""Payments recorded against invoices, and each invoice's running total.

Table ``payments``: partition key ``org_id``, sort key ``payment_key`` = ``<year>#<payment id>``
(e.g. ``2027#3f2a…``): one query lists an organisation's payments for a season. The payment
id is chosen by the caller (the staff form carries it), so a second submit of the same form
finds its key taken: the write has the condition ``attribute_not_exists`` and happens once.

Table ``payment_totals``: one item per invoice number, ``paid_cents`` = the sum of its
payments in cents. Each payment is written in one transaction with:

- the running total, ``ADD paid_cents :amount`` on the condition that the total stays at
  most the invoice's (``paid_cents <= total - amount``, or no payment yet). DynamoDB applies
  the condition and the addition atomically, so two staff members recording the last
  payment at the same moment cannot both succeed: the sum never passes the invoice total,
  and there is no read-then-write race to retry;
- a condition check on the renewal request: still INVOICED with this invoice. A payment is
  never recorded against a request cancelled (or paid) in the meantime;
- on the same total item, the condition that no credit note has cancelled the invoice
  (``credited`` absent). A credit note is written in one transaction with that mark, on the
  condition that no payment was recorded (``adapters.dynamo.documents``): both transactions
  touch this one item, so of a payment and a credit note on one invoice at most one succeeds,
  in every interleaving.

Either all three hold and both items are written, or nothing is. A payment and the total
are never out of step, so the total is read with one GetItem instead of summing payments.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from ...domain.errors import AlreadyExists, ConcurrentUpdate
from ...domain.payments import Payment
from ...domain.renewal import RequestState
from ...domain.renewal_request import request_key
from .effects import Effect, add_effects
from .renewals import RenewalRequestTable
from .tables import _meta, shared_connection

CENT = Decimal("0.01")


class PaymentTable(Model):
    Meta = _meta("payments")
    org_id = UnicodeAttribute(hash_key=True)
    payment_key = UnicodeAttribute(range_key=True)  # "2027#<payment id>"
    payment_id = UnicodeAttribute()
    year = NumberAttribute()
    invoice_number = UnicodeAttribute()
    amount = UnicodeAttribute()  # Decimal as text: DynamoDB numbers would go through float
    paid_on = UnicodeAttribute()  # ISO date
    method = UnicodeAttribute()
    reference = UnicodeAttribute(default="")
    recorded_by = UnicodeAttribute()
    recorded_at = UTCDateTimeAttribute()


class PaymentTotalTable(Model):
    """The sum of an invoice's payments, kept in the transaction that writes each payment."""

    Meta = _meta("payment_totals")
    invoice_number = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute()
    year = NumberAttribute()
    paid_cents = NumberAttribute(default=0)  # whole cents: exact in DynamoDB's number type
    payments = NumberAttribute(default=0)
    credited = UnicodeAttribute(null=True)  # the number of the credit note cancelling the invoice


def payment_key(year: int, payment_id: str) -> str:
    return f"{year:04d}#{payment_id}"


def _cents(amount: Decimal) -> int:
    return int((amount / CENT).to_integral_value())


def _to_domain(i: PaymentTable) -> Payment:
    return Payment(
        payment_id=i.payment_id, org_id=i.org_id, year=int(i.year), invoice_number=i.invoice_number,
        amount=Decimal(i.amount), paid_on=date.fromisoformat(i.paid_on), method=i.method,
        reference=i.reference, recorded_by=i.recorded_by, recorded_at=i.recorded_at,
    )


def _to_item(p: Payment) -> PaymentTable:
    return PaymentTable(
        p.org_id, payment_key(p.year, p.payment_id), payment_id=p.payment_id, year=p.year,
        invoice_number=p.invoice_number, amount=f"{p.amount:.2f}", paid_on=p.paid_on.isoformat(),
        method=p.method, reference=p.reference, recorded_by=p.recorded_by, recorded_at=p.recorded_at,
    )


def _oldest_first(payments: list[Payment]) -> list[Payment]:
    return sorted(payments, key=lambda p: (p.paid_on, p.recorded_at, p.payment_id))


class DynamoPayments:
    """The repository of payments (``rt.payments``)."""

    def add(self, payment: Payment, *, invoice_total: Decimal, request_attempt: int,
            effects: Sequence[Effect] = ()) -> None:
        """Record ``payment`` and add it to its invoice's total, with the ``effects`` it causes
        (its audit event), in one transaction.

        ``invoice_total`` is the invoice's total; ``request_attempt`` the attempt of the
        season's request that invoice belongs to. Raises AlreadyExists when a payment with
        this id is already recorded (a double submit: nothing new is written), and
        ConcurrentUpdate when the total would pass ``invoice_total`` or the request is no
        longer INVOICED with this invoice (nothing written: read again and decide).
        """
        amount, total = _cents(payment.amount), _cents(invoice_total)
        if amount <= 0 or amount > total:
            raise ConcurrentUpdate()
        t, r = PaymentTotalTable, RenewalRequestTable
        try:
            with TransactWrite(connection=shared_connection()) as tx:
                tx.condition_check(
                    r, payment.org_id, request_key(payment.year, request_attempt),
                    condition=(r.state == RequestState.INVOICED.value)
                    & (r.invoice_number == payment.invoice_number),
                )
                tx.save(_to_item(payment), condition=PaymentTable.payment_key.does_not_exist())
                add_effects(tx, effects)  # puts after the payment's: the reasons' order below holds
                tx.update(
                    PaymentTotalTable(payment.invoice_number),
                    actions=[t.paid_cents.add(amount), t.payments.add(1), t.org_id.set(payment.org_id),
                             t.year.set(payment.year)],
                    condition=(t.paid_cents.does_not_exist() | (t.paid_cents <= total - amount))
                    & t.credited.does_not_exist(),
                )
        except TransactWriteError as error:
            reasons = list(getattr(error, "cancellation_reasons", None) or [])
            codes = [getattr(reason, "code", None) for reason in reasons] + [None] * 3
            # pynamodb sends condition checks, then puts, then updates: [request, payment, effects…, total]
            if codes[1] == "ConditionalCheckFailed" or self.get(payment.org_id, payment.year,
                                                                 payment.payment_id) is not None:
                raise AlreadyExists("Ce paiement est déjà enregistré.") from error
            if error.cause_response_code == "TransactionCanceledException":
                raise ConcurrentUpdate() from error
            raise

    def get(self, org_id: str, year: int, payment_id: str) -> Payment | None:
        try:
            return _to_domain(PaymentTable.get(org_id, payment_key(year, payment_id), consistent_read=True))
        except DoesNotExist:
            return None

    def credit_note_for(self, invoice_number: str) -> str:
        """The number of the credit note that cancelled ``invoice_number``, or "" (read consistently)."""
        try:
            return PaymentTotalTable.get(invoice_number, consistent_read=True).credited or ""
        except DoesNotExist:
            return ""

    def paid_total(self, invoice_number: str) -> Decimal:
        """The sum of the payments recorded against ``invoice_number`` (read consistently)."""
        try:
            item = PaymentTotalTable.get(invoice_number, consistent_read=True)
        except DoesNotExist:
            return Decimal("0.00")
        return (Decimal(int(item.paid_cents or 0)) * CENT).quantize(CENT)

    def for_request(self, org_id: str, year: int) -> list[Payment]:
        """The organisation's payments for the season ``year``, oldest first (one query)."""
        items = PaymentTable.query(org_id, PaymentTable.payment_key.startswith(f"{year:04d}#"),
                                   consistent_read=True)
        return _oldest_first([_to_domain(i) for i in items])

    def all(self) -> list[Payment]:
        """Every payment, oldest first (one scan: for the staff export only)."""
        return _oldest_first([_to_domain(i) for i in PaymentTable.scan()])
