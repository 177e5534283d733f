"""The staff payment form: amounts typed the French or the English way, never more than the balance."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import ValidationError
from chalicelib.domain.formatting import format_eur
from chalicelib.domain.payments import PAYMENT_FIELDS, Payment, check_payment, is_payment_id, paid_total, settles

TODAY = date(2027, 1, 15)
METHODS = ("virement", "cheque", "mandat_administratif")


def form(**overrides) -> dict[str, str]:
    values = {"amount": "742,00", "paid_on": "2027-01-10", "method": "virement", "reference": "VIR 123"}
    values.update(overrides)
    return values


def check(balance: str = "742.00", **overrides):
    return check_payment(form(**overrides), balance=Decimal(balance), today=TODAY, methods=METHODS)


def errors_of(balance: str = "742.00", **overrides) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        check(balance, **overrides)
    return raised.value.errors


@pytest.mark.parametrize("typed, amount", [
    ("1 250,50", "1250.50"), ("1250.5", "1250.50"), ("1\u202f250,50 €", "1250.50"), ("1\u00a0250,5", "1250.50"),
    ("390", "390.00"), (" 0,01 ", "0.01"), ("2000,00", "2000.00"),
])
def test_amounts_typed_the_french_or_the_english_way(typed, amount):
    assert check("2000.00", amount=typed)[0] == Decimal(amount)


@pytest.mark.parametrize("typed, message", [
    ("", "Indiquez le montant reçu, par exemple 1 250,50."),
    ("0", "Le montant doit être supérieur à zéro."),
    ("0,00", "Le montant doit être supérieur à zéro."),
    ("-10", "Le montant doit être supérieur à zéro."),
    ("12,345", "Indiquez un montant en euros, par exemple 390 ou 390,50."),
    ("1.250,50", "Indiquez un montant en euros, par exemple 390 ou 390,50."),
    ("abc", "Indiquez un montant en euros, par exemple 390 ou 390,50."),
    ("1e3", "Indiquez un montant en euros, par exemple 390 ou 390,50."),
])
def test_bad_amounts_are_refused_in_french(typed, message):
    assert errors_of(amount=typed)["amount"] == message


def test_more_than_the_balance_is_refused_with_the_balance():
    assert errors_of("242.00", amount="300")["amount"] == "Le montant dépasse le reste à payer (242,00\u00a0€)."
    assert check("242.00", amount="242")[0] == Decimal("242.00")


cents = st.integers(min_value=0, max_value=100_000_000)


def french(value: int) -> str:
    return f"{value // 100},{value % 100:02d}"


@given(amount=cents, balance=cents)
def test_an_amount_is_accepted_exactly_when_it_is_positive_and_at_most_the_balance(amount, balance):
    typed, left = french(amount), Decimal(balance) / 100
    if 0 < amount <= balance:
        assert check(str(left), amount=typed)[0] == Decimal(amount) / 100
    else:
        errors = errors_of(str(left), amount=typed)
        assert set(errors) == {"amount"}
        if amount > 0:
            assert errors["amount"] == f"Le montant dépasse le reste à payer ({format_eur(left)})."


@given(amount=st.integers(min_value=1, max_value=99_999_999))
def test_french_and_dot_notations_and_spaces_give_the_same_amount(amount):
    value = Decimal(amount) / 100
    dotted = f"{value:.2f}"
    spaced = format_eur(value)  # "1 234,50 €" with narrow no-break spaces
    assert {check("1000000", amount=t)[0] for t in (french(amount), dotted, spaced)} == {value}


@pytest.mark.parametrize("typed, expected", [
    ("2027-01-10", date(2027, 1, 10)), ("10/01/2027", date(2027, 1, 10)), ("2027-01-15", TODAY),
    ("2000-01-01", date(2000, 1, 1)),
])
def test_payment_dates_from_the_date_input_or_typed(typed, expected):
    assert check(paid_on=typed)[1] == expected


@pytest.mark.parametrize("typed, message", [
    ("", "Indiquez la date de réception du paiement."),
    ("2027-01-16", "La date du paiement ne peut pas être dans le futur."),
    ("1999-12-31", "La date du paiement ne peut pas être antérieure au 01/01/2000."),
    ("2027-02-30", "Indiquez une date valide, par exemple 15/01/2027."),
    ("hier", "Indiquez une date valide, par exemple 15/01/2027."),
    ("27-01-10", "Indiquez une date valide, par exemple 15/01/2027."),
])
def test_bad_payment_dates_are_refused(typed, message):
    assert errors_of(paid_on=typed)["paid_on"] == message


def test_method_must_be_allowed_and_known():
    assert check(method="cheque")[2] == "cheque"
    assert errors_of(method="especes")["method"] == "Choisissez le mode de paiement dans la liste."
    assert errors_of(method="")["method"] == "Choisissez le mode de paiement dans la liste."
    with pytest.raises(ValidationError) as raised:  # a known method the caller does not allow
        check_payment(form(method="cheque"), balance=Decimal("742"), today=TODAY, methods=("virement",))
    assert set(raised.value.errors) == {"method"}


def test_reference_is_stripped_optional_and_bounded():
    assert check(reference="  VIR SEPA 2027-014  ")[3] == "VIR SEPA 2027-014"
    assert check(reference="")[3] == ""
    assert check(reference="x" * 200)[3] == "x" * 200
    assert "200 caractères" in errors_of(reference="x" * 201)["reference"]
    assert "non autorisés" in errors_of(reference="ligne 1\nligne 2")["reference"]


def test_every_bad_field_gets_its_message_at_once():
    errors = errors_of(amount="", paid_on="", method="", reference="a\tb")
    assert set(errors) == set(PAYMENT_FIELDS)


def test_form_limits_fit_what_is_accepted():
    assert PAYMENT_FIELDS == {"amount": 20, "paid_on": 10, "method": 30, "reference": 200}
    assert len("10/01/2027") <= PAYMENT_FIELDS["paid_on"]


def test_payment_ids_are_short_key_safe_tokens():
    assert is_payment_id("3f2a9c0d1e") and is_payment_id("a-b_C")
    for bad in ("", "a#b", "a/b", "x" * 65, "é", "a b"):
        assert not is_payment_id(bad)


def test_paid_total_adds_up_partial_payments():
    at = datetime(2027, 1, 10, tzinfo=timezone.utc)

    def payment(amount: str) -> Payment:
        return Payment("p", "org", 2027, "FAC-2026-00001", Decimal(amount), TODAY, "virement", "", "staff", at)

    assert paid_total([]) == Decimal("0.00")
    assert paid_total([payment("0.10"), payment("0.20"), payment("741.70")]) == Decimal("742.00")
    assert payment("1").method_label == "Virement bancaire"


@pytest.mark.parametrize("total, left, settled", [
    ("185", "0", True), ("185", "0.01", False), ("185", "185", False), ("0", "0", False),
])
def test_only_a_full_payment_of_a_positive_invoice_settles_it(total, left, settled):
    assert settles(Decimal(total), Decimal(left)) is settled
