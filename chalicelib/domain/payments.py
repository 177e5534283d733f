"""Payments staff record against an invoice: what one payment is, and how its form is checked.

An invoice may be paid in several parts (a public buyer's mandate, then the rest by transfer):
each payment is recorded on its own, and the invoice is settled once they add up to its total.
A payment is never more than what is left to pay, so the sum never goes past the total.

``check_payment`` reads the staff form (every value a string) and raises a ValidationError
whose French messages are keyed by form field, like every other form of the app.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from .association import PAYMENT_METHOD_LABELS
from .errors import ValidationError
from .formatting import format_eur
from .validation import check_amount

# Form field → the longest value accepted (the staff form's maxlength attributes match).
PAYMENT_FIELDS = {"amount": 20, "paid_on": 10, "method": 30, "reference": 200}
REFERENCE_MAX = PAYMENT_FIELDS["reference"]
EARLIEST = date(2000, 1, 1)

_PAYMENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FRENCH_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Payment:
    """One payment received for an organisation's invoice of a membership year."""

    payment_id: str
    org_id: str
    year: int
    invoice_number: str
    amount: Decimal  # euros, two decimal places, > 0
    paid_on: date  # when the money was received (as on the bank statement or the cheque)
    method: str  # a code of PAYMENT_METHOD_LABELS
    reference: str  # transfer reference, cheque number…; may be empty
    recorded_by: str  # staff contact id
    recorded_at: datetime

    @property
    def method_label(self) -> str:
        return PAYMENT_METHOD_LABELS.get(self.method, self.method)


def is_payment_id(value: str) -> bool:
    """Whether ``value`` can be a payment id (it becomes part of a storage key)."""
    return bool(_PAYMENT_ID.fullmatch(value))


def settles(total: Decimal, left: Decimal) -> bool:
    """Whether an invoice of ``total`` with ``left`` still to pay is settled: the full payment
    that marks its request paid (an invoice of 0 is never settled by a payment)."""
    return total > 0 and left <= 0


def paid_total(payments: Iterable[Payment]) -> Decimal:
    """The sum of ``payments``, in euros (0.00 when there are none)."""
    return sum((p.amount for p in payments), Decimal("0.00"))


def _check_amount(text: str, balance: Decimal, errors: dict[str, str]) -> Decimal | None:
    value = text.strip()
    if not value:
        errors["amount"] = "Indiquez le montant reçu, par exemple 1 250,50."
        return None
    if value.startswith("-"):
        errors["amount"] = "Le montant doit être supérieur à zéro."
        return None
    try:
        amount = check_amount(value, allow_zero=False)
    except ValueError as error:
        errors["amount"] = str(error)
        return None
    if amount > balance:
        errors["amount"] = f"Le montant dépasse le reste à payer ({format_eur(balance)})."
        return None
    return amount


def _parse_date(text: str) -> date | None:
    """``2027-01-15`` (what a date input sends) or ``15/01/2027`` (typed by hand)."""
    french = _FRENCH_DATE.fullmatch(text)
    try:
        if french:
            day, month, year = (int(part) for part in french.groups())
            return date(year, month, day)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
    except ValueError:
        return None
    return None


def _check_paid_on(text: str, today: date, errors: dict[str, str]) -> date | None:
    value = text.strip()
    if not value:
        errors["paid_on"] = "Indiquez la date de réception du paiement."
        return None
    paid_on = _parse_date(value)
    if paid_on is None:
        errors["paid_on"] = "Indiquez une date valide, par exemple 15/01/2027."
    elif paid_on > today:
        errors["paid_on"] = "La date du paiement ne peut pas être dans le futur."
    elif paid_on < EARLIEST:
        errors["paid_on"] = f"La date du paiement ne peut pas être antérieure au {EARLIEST:%d/%m/%Y}."
    else:
        return paid_on
    return None


def check_payment(fields: dict[str, str], *, balance: Decimal, today: date,
                  methods: Iterable[str]) -> tuple[Decimal, date, str, str]:
    """Parse the staff form into (amount, paid on, method code, reference) or raise ValidationError.

    ``balance`` is what is left to pay on the invoice: the amount must be more than zero and
    at most that. ``methods`` are the payment method codes the association accepts.
    """
    errors: dict[str, str] = {}
    amount = _check_amount(fields.get("amount", ""), balance, errors)
    paid_on = _check_paid_on(fields.get("paid_on", ""), today, errors)
    method = fields.get("method", "").strip()
    if method not in set(methods) or method not in PAYMENT_METHOD_LABELS:
        errors["method"] = "Choisissez le mode de paiement dans la liste."
    reference = fields.get("reference", "").strip()
    if len(reference) > REFERENCE_MAX:
        errors["reference"] = (f"La référence ne doit pas dépasser {REFERENCE_MAX} caractères "
                               f"(elle en compte {len(reference)}).")
    elif _CONTROL.search(reference):
        errors["reference"] = "La référence contient des caractères non autorisés (retours à la ligne, tabulations…)."
    if errors or amount is None or paid_on is None:
        raise ValidationError(errors)
    return amount, paid_on, method, reference
