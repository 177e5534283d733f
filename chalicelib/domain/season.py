"""The season rule: which membership year a renewal is for.

Memberships run per calendar year. The renewal campaign for year Y opens on a
configurable day (``CampaignOpening``, e.g. 1 December) of year Y-1. On a given day:

- from the opening day of the current year onwards, a renewal is for *next*
  year; if next year is already paid there is nothing to renew;
- before that day, a renewal is for the *current* year while it is unpaid;
  once it is paid there is nothing to renew until the campaign opens.

An unpaid current year is therefore no longer offered once next year's campaign
has opened: late payers renew for next year, and the association settles the
past year with them directly.

Opening on 1 January means "no early campaign": each year's campaign opens on
its own first day, so a renewal is always for the current year. (Read literally,
the rule would open the campaign for Y+1 on 1 January of Y, a whole year early,
and never offer the current year.)

"Paid years" are the years whose membership is already extended, by a recorded
payment or a staff validation; a pending request does not make a year paid.
"""
from __future__ import annotations

import re
from collections.abc import Set
from dataclasses import dataclass
from datetime import date

# Any non-leap year: validating against it refuses 29 February, which would
# not exist in three years out of four.
_NON_LEAP_YEAR = 2001
_MONTH_DAY = re.compile(r"(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})")


@dataclass(frozen=True)
class CampaignOpening:
    """The month and day of year Y-1 on which the renewal campaign for year Y opens."""

    month: int
    day: int

    def __post_init__(self) -> None:
        for value in (self.month, self.day):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError("La date d'ouverture de la campagne doit être un jour et un mois.")
        if (self.month, self.day) == (2, 29):
            raise ValueError(
                "La campagne ne peut pas ouvrir le 29 février : choisissez une date "
                "qui existe chaque année."
            )
        try:
            date(_NON_LEAP_YEAR, self.month, self.day)
        except ValueError:
            raise ValueError(
                f"Date d'ouverture de la campagne invalide : {self.day:02d}/{self.month:02d}."
            ) from None

    @classmethod
    def parse(cls, text: str) -> CampaignOpening:
        """Read the ``MM-DD`` form the association settings store, e.g. ``"12-01"``."""
        match = _MONTH_DAY.fullmatch(text.strip())
        if match is None:
            raise ValueError(
                f"Date d'ouverture de la campagne illisible : « {text} » "
                "(format attendu MM-JJ, par exemple 12-01)."
            )
        return cls(int(match["month"]), int(match["day"]))

    def __str__(self) -> str:
        """The ``MM-DD`` form, as stored in the association settings."""
        return f"{self.month:02d}-{self.day:02d}"

    @property
    def is_start_of_year(self) -> bool:
        """True for 1 January, which means "no early campaign" (see the module docstring)."""
        return (self.month, self.day) == (1, 1)


def campaign_opens_on(year_for: int, opening: CampaignOpening) -> date:
    """Return the day the renewal campaign for membership year ``year_for`` opens."""
    if opening.is_start_of_year:
        return date(year_for, 1, 1)
    return date(year_for - 1, opening.month, opening.day)


def renewal_year(today: date, opening: CampaignOpening, paid_years: Set[int]) -> int | None:
    """Return the membership year a renewal made ``today`` is for, or None if there is none."""
    next_year = today.year + 1
    year_for = next_year if today >= campaign_opens_on(next_year, opening) else today.year
    if year_for in paid_years:
        return None
    return year_for
