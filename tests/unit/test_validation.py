"""Validation of identifiers, money, emails and addresses typed by staff or imported."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import ValidationError
from chalicelib.domain.validation import (
    FormChecker,
    check_amount,
    check_bic,
    check_email,
    check_iban,
    check_int,
    check_phone,
    check_postcode,
    check_siren,
    check_siret,
    check_yes_no,
    format_iban,
    iban_mod97,
    keep_or_check,
    luhn_ok,
)

VALID_SIRET = "73282932000074"  # a well-known public example of a valid SIRET
VALID_IBAN = "FR1420041010050500013M02606"  # the French IBAN example of the ECBS
VALID_IBAN_DE = "DE89370400440532013000"


def luhn_digit(prefix: str) -> str:
    return next(str(d) for d in range(10) if luhn_ok(prefix + str(d)))


@pytest.mark.parametrize("text", [VALID_SIRET, "732 829 320 00074", "732.829.320.00074", " 73282932000074 "])
def test_valid_siret_is_accepted_and_stored_without_spaces(text):
    assert check_siret(text) == VALID_SIRET


@pytest.mark.parametrize("text, message", [
    ("7328293200007", "14 chiffres"),
    ("732829320000741", "14 chiffres"),
    ("7328293200007A", "14 chiffres"),
    ("73282932000075", "clé de contrôle"),
    ("", "14 chiffres"),
])
def test_bad_siret_is_refused_with_a_french_message(text, message):
    with pytest.raises(ValueError, match=message):
        check_siret(text)


@given(st.text(alphabet="0123456789", min_size=13, max_size=13))
def test_every_thirteen_digits_have_exactly_one_luhn_key(prefix):
    keys = [d for d in range(10) if luhn_ok(prefix + str(d))]
    assert len(keys) == 1
    assert check_siret(prefix + str(keys[0])) == prefix + str(keys[0])


def test_siren_is_nine_digits_with_a_luhn_key():
    assert check_siren("732 829 320") == "732829320"
    with pytest.raises(ValueError, match="clé"):
        check_siren("732829321")
    with pytest.raises(ValueError, match="9 chiffres"):
        check_siren("73282932")


@pytest.mark.parametrize("text", [VALID_IBAN, "fr14 2004 1010 0505 0001 3m02 606", VALID_IBAN_DE])
def test_valid_iban_passes_the_mod_97_check(text):
    value = check_iban(text)
    assert iban_mod97(value) == 1
    assert " " not in value and value == value.upper()


@pytest.mark.parametrize("text, message", [
    ("FR1520041010050500013M02606", "clé de contrôle"),
    ("FR142004101005050001", "27 caractères"),
    ("1234", "code pays"),
    ("FR14 2004 1010 0505 0001 3M02 60é", "code pays"),
])
def test_bad_iban_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        check_iban(text)


def test_iban_is_shown_in_groups_of_four():
    assert format_iban(VALID_IBAN) == "FR14 2004 1010 0505 0001 3M02 606"


def test_bic_has_eight_or_eleven_characters():
    assert check_bic("bnpa fr pp xxx") == "BNPAFRPPXXX"
    assert check_bic("BNPAFRPP") == "BNPAFRPP"
    with pytest.raises(ValueError, match="8 ou 11"):
        check_bic("BNPAFRP")


@pytest.mark.parametrize("text, expected", [
    ("Camille.Martin@Exemple.FR", "camille.martin@exemple.fr"),
    ("  a@b.example ", "a@b.example"),
])
def test_email_is_checked_without_dns_and_lower_cased(text, expected):
    assert check_email(text) == expected


@pytest.mark.parametrize("text", ["sans-arobase", "a@", "@b.fr", "a b@c.fr", "é@exemple.fr", "a@b..fr", "x" * 250 + "@b.fr"])
def test_bad_email_is_refused(text):
    with pytest.raises(ValueError):
        check_email(text)


def test_french_postcode_has_five_digits():
    assert check_postcode("49000") == "49000"
    for bad in ("4900", "490000", "49 000", "ABCDE"):
        with pytest.raises(ValueError, match="5 chiffres"):
            check_postcode(bad)


@pytest.mark.parametrize("text, expected", [
    ("390", Decimal("390.00")), ("390,5", Decimal("390.50")), ("1 234,56", Decimal("1234.56")),
    ("1\u202f234,56 €", Decimal("1234.56")), ("0", Decimal("0.00")), ("12.30", Decimal("12.30")),
])
def test_amounts_are_read_as_decimal_the_french_or_english_way(text, expected):
    assert check_amount(text) == expected


@pytest.mark.parametrize("text", ["-5", "1,234", "12,345,6", "abc", "1e3", "NaN", "10000000"])
def test_bad_amounts_are_refused(text):
    with pytest.raises(ValueError):
        check_amount(text)


def test_phone_and_int_and_yes_no():
    assert check_phone("02 41 00 00 00") == "02 41 00 00 00"
    with pytest.raises(ValueError):
        check_phone("abc")
    assert check_int("12", minimum=1, maximum=30) == 12
    with pytest.raises(ValueError, match="entre 1 et 30"):
        check_int("31", minimum=1, maximum=30)
    assert check_yes_no("Oui") is True and check_yes_no("") is False and check_yes_no("NON") is False
    with pytest.raises(ValueError):
        check_yes_no("peut-être")


def test_a_stored_value_is_kept_unjudged_while_unchanged():
    legacy = "21440987600019"  # fails the Luhn check, stored before checks existed
    assert keep_or_check("214 409 876 00019", legacy, check_siret) == legacy
    with pytest.raises(ValueError):
        keep_or_check("21440987600018", legacy, check_siret)


def test_form_checker_collects_every_error_before_raising():
    check = FormChecker({"email": "pas-un-email", "siret": "", "name": "  Ville  de  Montclair "})
    assert check.text("name") == "Ville de Montclair"
    check.value("email", check_email)
    check.value("siret", check_siret)
    with pytest.raises(ValidationError) as raised:
        check.done()
    assert set(raised.value.errors) == {"email", "siret"}
    assert luhn_digit("7328293200007") == "4"
