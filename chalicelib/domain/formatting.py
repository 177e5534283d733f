"""French formatting of money and dates (one locale only, so no i18n library)."""
from __future__ import annotations

import re
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


# --- French typography -------------------------------------------------------------------
#
# Choices (Lexique des règles typographiques en usage à l'Imprimerie nationale, as most French
# publishers apply it on screen): a narrow no-break space (U+202F) before « ; ! ? % » and as
# the thousands separator (as ``format_eur`` does); a no-break space (U+00A0) before « : »,
# inside « », and between an amount and « € ». Only an ordinary space (U+0020) is replaced, so
# text already set right, times (10:00), URLs (https://…) and runs of spaces used to align
# text are left as they are; the one insertion is a missing space inside « ». Applying it
# twice changes nothing.

NO_BREAK = "\u00a0"
THIN_NO_BREAK = "\u202f"

_TYPO_RULES = (
    (re.compile(r"«(?: |(?=\S))"), "«" + NO_BREAK),
    (re.compile(r" »|(?<=\S)»"), NO_BREAK + "»"),
    (re.compile(r" (?=[;!?])"), THIN_NO_BREAK),
    (re.compile(r" (?=:)"), NO_BREAK),
    (re.compile(r"(?<=\d) (?=€)"), NO_BREAK),
    (re.compile(r"(?<=\d) (?=%)"), THIN_NO_BREAK),
)
_DIGIT_GROUPS = re.compile(r"(?<![\w.,])\d{1,3}(?: \d{3})+(?!\d)")

# What French typography never touches in HTML: tags (attribute values included), comments,
# and the content of elements that show code, CSS or what a user typed.
_HTML_SKIPPED = re.compile(
    r"<(script|style|textarea|pre|code)\b[^>]*>.*?</\1\s*>|<!--.*?-->|<[^>]*>",
    re.DOTALL | re.IGNORECASE,
)


def french_typography(text: str) -> str:
    """Plain text with the French no-break spaces (see the choices above)."""
    text = _DIGIT_GROUPS.sub(lambda m: m.group(0).replace(" ", THIN_NO_BREAK), text)
    for pattern, replacement in _TYPO_RULES:
        text = pattern.sub(replacement, text)
    return text


def french_typography_html(html: str) -> str:
    """The same on HTML: only the text between tags changes, never tags, attributes, comments,
    scripts, styles, ``<pre>``, ``<code>`` or ``<textarea>``. The HTML must be escaped already."""
    parts = []
    position = 0
    for skipped in _HTML_SKIPPED.finditer(html):
        parts.append(french_typography(html[position:skipped.start()]))
        parts.append(skipped.group(0))
        position = skipped.end()
    parts.append(french_typography(html[position:]))
    return "".join(parts)
