"""Validation of the values staff and imports type in: identifiers, money, emails, addresses.

Each ``check_*`` function takes raw text and returns the normalised value or raises
``ValueError`` with a French message meant to be shown next to the field. ``FormChecker``
collects those messages per field and raises one ``ValidationError`` at the end, so a form
shows every mistake at once.

Rules worth knowing:

- SIRET: 14 digits whose Luhn checksum is right (spaces and dots are ignored). La Poste's
  establishments, whose SIRET escapes the Luhn rule, are not members and not special-cased.
- SIREN: 9 digits, Luhn as well.
- IBAN: ISO 13616 — country code, check digits, length known for the country (when known),
  and the mod 97 check (remainder 1). Stored without spaces, shown in groups of four.
- BIC: 8 or 11 characters (bank, country, location, optional branch).
- Emails: syntax checked by the email-validator library, no DNS look-up (the association
  has no network access to check deliverability from its forms), no internationalised
  local part (SES does not send to those); stored lower-cased, as logins are looked up.
- French postcodes: 5 digits.
- Amounts: euros as ``1234.50``, ``1 234,50`` or ``1234``; never negative, at most two
  decimals, read into ``Decimal`` (never float).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

from .errors import ValidationError

_SEPARATORS = re.compile(r"[\s.\u00a0\u202f-]")

# IBAN lengths of the countries a French association meets; others get the generic checks.
IBAN_LENGTHS = {
    "FR": 27, "MC": 27, "DE": 22, "BE": 16, "LU": 20, "CH": 21, "ES": 24, "IT": 27, "NL": 18,
    "PT": 25, "GB": 22, "IE": 22, "AT": 20, "DK": 18, "FI": 18, "SE": 24, "NO": 15, "PL": 28,
    "GR": 27, "CZ": 24, "SK": 24, "SI": 19, "HR": 21, "RO": 24, "BG": 22, "HU": 28, "EE": 20,
    "LV": 21, "LT": 20, "MT": 31, "CY": 28, "AD": 24, "SM": 27, "LI": 21, "IS": 26,
}
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_BIC = re.compile(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")
_PHONE = re.compile(r"\+?[0-9 .()\-]{6,25}")
_AMOUNT = re.compile(r"[0-9]+([.,][0-9]{1,2})?")
MAX_AMOUNT = Decimal("1000000")


def luhn_ok(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum."""
    if not digits.isdigit():
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _digits(text: str) -> str:
    return _SEPARATORS.sub("", text.strip())


def check_siret(text: str) -> str:
    """A SIRET without spaces, checked: 14 digits and a right Luhn key."""
    value = _digits(text)
    if not value.isdigit() or len(value) != 14:
        raise ValueError("Le SIRET doit comporter 14 chiffres, par exemple 123 456 789 00012.")
    if not luhn_ok(value):
        raise ValueError("Ce SIRET n'est pas valide : vérifiez les chiffres (clé de contrôle incorrecte).")
    return value


def check_siren(text: str) -> str:
    """A SIREN without spaces, checked: 9 digits and a right Luhn key."""
    value = _digits(text)
    if not value.isdigit() or len(value) != 9:
        raise ValueError("Le SIREN doit comporter 9 chiffres, par exemple 123 456 789.")
    if not luhn_ok(value):
        raise ValueError("Ce SIREN n'est pas valide : vérifiez les chiffres (clé de contrôle incorrecte).")
    return value


def iban_mod97(iban: str) -> int:
    """The ISO 7064 mod 97 remainder of an IBAN (1 for a valid one)."""
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97


def check_iban(text: str) -> str:
    """An IBAN without spaces, upper-case, checked (format, country length, mod 97)."""
    value = re.sub(r"\s", "", text).upper()
    if not _IBAN.fullmatch(value):
        raise ValueError("L'IBAN doit commencer par le code pays et deux chiffres, par exemple FR76 3000 …")
    expected = IBAN_LENGTHS.get(value[:2])
    if expected is not None and len(value) != expected:
        raise ValueError(f"Un IBAN {value[:2]} comporte {expected} caractères ; celui-ci en a {len(value)}.")
    if iban_mod97(value) != 1:
        raise ValueError("Cet IBAN n'est pas valide : vérifiez les caractères (clé de contrôle incorrecte).")
    return value


def format_iban(iban: str) -> str:
    """``FR7630004000...`` → ``FR76 3000 4000 ...`` (groups of four)."""
    value = re.sub(r"\s", "", iban).upper()
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4))


def check_bic(text: str) -> str:
    """A BIC (SWIFT code), upper-case, 8 or 11 characters."""
    value = re.sub(r"\s", "", text).upper()
    if not _BIC.fullmatch(value):
        raise ValueError("Le BIC comporte 8 ou 11 lettres et chiffres, par exemple BNPAFRPPXXX.")
    return value


def keep_or_check(text: str, stored: str, check: Callable[[str], str]) -> str:
    """``stored`` when ``text`` is that value give or take spaces (not judged again), else ``check(text)``."""
    if stored and re.sub(r"\s", "", text).upper() == re.sub(r"\s", "", stored).upper():
        return re.sub(r"\s", "", stored)
    return check(text)


def check_email(text: str) -> str:
    """An email address checked for syntax (no DNS look-up), lower-cased."""
    from email_validator import EmailNotValidError, validate_email

    value = text.strip()
    if not value:
        raise ValueError("Indiquez une adresse e-mail.")
    if len(value) > 254:
        raise ValueError("Cette adresse e-mail est trop longue.")
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise ValueError("Cette adresse e-mail n'est pas valide (exemple : prenom.nom@exemple.fr).") from None
    return result.normalized.lower()


def check_postcode(text: str, country: str = "FR") -> str:
    """A postcode; French ones have exactly 5 digits."""
    value = text.strip()
    if country == "FR":
        if not re.fullmatch(r"[0-9]{5}", value):
            raise ValueError("Le code postal comporte 5 chiffres, par exemple 49000.")
    elif not value or len(value) > 10:
        raise ValueError("Indiquez un code postal.")
    return value


def check_phone(text: str) -> str:
    """A telephone number as typed (digits, spaces, dots, dashes, brackets, a leading +)."""
    value = text.strip()
    if not _PHONE.fullmatch(value) or sum(c.isdigit() for c in value) < 6:
        raise ValueError("Indiquez un numéro de téléphone, par exemple 02 41 00 00 00.")
    return value


def check_amount(text: str, *, allow_zero: bool = True) -> Decimal:
    """Euros typed the French or the English way, ≥ 0, at most two decimals."""
    value = re.sub(r"[\s\u00a0\u202f€]", "", text)
    if not _AMOUNT.fullmatch(value):
        raise ValueError("Indiquez un montant en euros, par exemple 390 ou 390,50.")
    try:
        amount = Decimal(value.replace(",", ".")).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueError("Indiquez un montant en euros, par exemple 390 ou 390,50.") from None
    if amount == 0 and not allow_zero:
        raise ValueError("Le montant doit être supérieur à zéro.")
    if amount > MAX_AMOUNT:
        raise ValueError("Ce montant est trop élevé.")
    return amount


def check_int(text: str, *, minimum: int, maximum: int) -> int:
    """A whole number between ``minimum`` and ``maximum``."""
    value = text.strip()
    if not re.fullmatch(r"[0-9]{1,9}", value):
        raise ValueError(f"Indiquez un nombre entier entre {minimum} et {maximum}.")
    number = int(value)
    if not minimum <= number <= maximum:
        raise ValueError(f"Indiquez un nombre entier entre {minimum} et {maximum}.")
    return number


def check_year(text: str) -> int:
    """A membership year."""
    try:
        return check_int(text, minimum=2000, maximum=2200)
    except ValueError:
        raise ValueError("Indiquez une année sur 4 chiffres, par exemple 2027.") from None


TRUE_WORDS = {"1", "oui", "o", "vrai", "true", "yes", "y", "x", "on"}
FALSE_WORDS = {"", "0", "non", "n", "faux", "false", "no", "off"}


def check_yes_no(text: str) -> bool:
    """« oui » / « non » and their usual spellings (empty means no)."""
    value = fold(text)
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ValueError("Indiquez « oui » ou « non ».")


def fold(text: str) -> str:
    """Lower-case, accents removed, spaces trimmed: to compare what people type."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def clean_text(text: str) -> str:
    """Trimmed text with control characters removed and inner whitespace collapsed."""
    kept = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(kept.split())


class FormChecker:
    """Collects per-field French messages while values are read; ``done()`` raises them all.

    >>> check = FormChecker({"email": "x"})
    >>> check.value("email", check_email)      # records the error, returns None
    >>> check.done()                           # raises ValidationError({"email": ...})
    """

    def __init__(self, values: Mapping[str, str]):
        self.values = values
        self.errors: dict[str, str] = {}

    def raw(self, name: str) -> str:
        return str(self.values.get(name, "") or "")

    def text(self, name: str, *, required: bool = True, max_length: int = 200,
             message: str = "Ce champ est obligatoire.") -> str:
        value = clean_text(self.raw(name))
        if required and not value:
            self.errors[name] = message
        elif len(value) > max_length:
            self.errors[name] = f"Ce champ est trop long ({max_length} caractères au plus)."
        return value

    def value(self, name: str, check: Callable[[str], object], *, required: bool = True,
              message: str = "Ce champ est obligatoire."):
        """Apply ``check`` to the field; empty optional fields give ``""``."""
        raw = self.raw(name).strip()
        if not raw:
            if required:
                self.errors[name] = message
                return None
            return ""
        try:
            return check(raw)
        except ValueError as error:
            self.errors[name] = str(error)
            return None

    def choice(self, name: str, choices: Mapping[str, object], *,
               message: str = "Choisissez une valeur dans la liste."):
        key = self.raw(name).strip()
        if key not in choices:
            self.errors[name] = message
            return None
        return choices[key]

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def done(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)
