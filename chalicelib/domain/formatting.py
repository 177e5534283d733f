"""French formatting of money and dates (one locale only, so no i18n library)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

NBSP = "\u202f"  # narrow no-break space, the French thousands separator

MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)

CENT = Decimal("0.01")


def to_money(value: Decimal | str | int) -> Decimal:
    """Parse an amount of euros, rounded to the cent; floats are refused."""
    if isinstance(value, float):
        raise TypeError("money is never a float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def format_eur(amount: Decimal) -> str:
    """``Decimal('1234.5')`` → ``'1 234,50 €'`` (narrow no-break spaces)."""
    amount = to_money(amount)
    sign = "-" if amount < 0 else ""
    units, cents = f"{abs(amount):.2f}".split(".")
    groups = []
    while units:
        groups.insert(0, units[-3:])
        units = units[:-3]
    return f"{sign}{NBSP.join(groups)},{cents}\u00a0€"


def format_date(value: date | datetime) -> str:
    """``date(2026, 12, 1)`` → ``'1er décembre 2026'``."""
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {MONTHS[value.month - 1]} {value.year}"


def format_datetime(value: datetime) -> str:
    """A date and time in the French way, e.g. ``'1er décembre 2026 à 09:05'``."""
    return f"{format_date(value)} à {value:%H:%M}"


def group_iban(text: str) -> str:
    """An IBAN as printed for people: upper case, in groups of four, whatever was typed."""
    compact = "".join(text.split()).upper()
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))
