"""Tariff grids as staff edit them: tier rules, copying a year, and grid versions.

Versions — a year's grid can change freely until an invoice exists for that membership
year. From then on the *live* grid (the one quotes, renewals and invoices read) is frozen,
and a change needs an explicit new version:

1. staff start a new version: a *draft* copy of the live grid, stored aside and editable;
2. they edit the draft (nothing anyone reads changes meanwhile);
3. publishing archives the live grid as version N, frozen for good (it is what the
   invoices issued so far were computed from), and makes the draft the live grid
   (version N + 1) — in one transaction. The draft can also be discarded.

Issued invoices carry their own amounts and never change; the archived versions record
which grid was in force before each change. Live version number = archived versions + 1.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from .model import Category, Tier
from .validation import FormChecker, check_amount, check_int, clean_text

MAX_TIERS = 40  # a grid fits in one DynamoDB transaction (100 items) when it is replaced
TIER_FIELDS = {"code": 20, "category": 40, "label": 200, "amount": 20, "rank": 4}
_CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,19}")

DRAFT = "draft"
ARCHIVED = "archived"


@dataclass(frozen=True)
class GridVersion:
    """A stored version of a year's grid: the draft being prepared, or an archived one."""

    year: int
    version: int
    state: str  # DRAFT or ARCHIVED
    tiers: tuple[Tier, ...]
    created_at: datetime
    created_by: str
    note: str = ""
    archived_at: datetime | None = None
    revision: int | None = field(default=None, compare=False)  # optimistic locking of drafts

    @property
    def state_label(self) -> str:
        return {"draft": "Brouillon", "archived": "Archivée (figée)"}[self.state]


def check_code(text: str) -> str:
    code = text.strip().upper()
    if not _CODE.fullmatch(code):
        raise ValueError("Le code de tranche comporte 1 à 20 lettres, chiffres, tirets ou « _ », par exemple COL-1.")
    return code


def check_tier(values: Mapping[str, str], *, code: str | None = None) -> Tier:
    """A tier from form values (``code`` given when editing an existing tier)."""
    check = FormChecker(values)
    if code is None:
        code = check.value("code", check_code, message="Indiquez le code de la tranche.")
    categories = {c.value: c for c in Category}
    category = check.choice("category", categories, message="Choisissez une catégorie.")
    label = check.text("label", message="Indiquez le libellé de la tranche.")
    amount = check.value("amount", check_amount, message="Indiquez le montant.")
    rank = check.value("rank", lambda t: check_int(t, minimum=0, maximum=999), required=False)
    check.done()
    return Tier(code, category, clean_text(label), amount, rank if rank != "" else 0)


def add_tier(tiers: tuple[Tier, ...], tier: Tier) -> tuple[Tier, ...]:
    if any(t.code == tier.code for t in tiers):
        raise ValueError(f"La tranche « {tier.code} » existe déjà dans cette grille.")
    if len(tiers) >= MAX_TIERS:
        raise ValueError(f"Une grille compte au plus {MAX_TIERS} tranches.")
    return tiers + (tier,)


def replace_tier(tiers: tuple[Tier, ...], tier: Tier) -> tuple[Tier, ...]:
    if not any(t.code == tier.code for t in tiers):
        raise KeyError(tier.code)
    return tuple(tier if t.code == tier.code else t for t in tiers)


def remove_tier(tiers: tuple[Tier, ...], code: str) -> tuple[Tier, ...]:
    if not any(t.code == code for t in tiers):
        raise KeyError(code)
    return tuple(t for t in tiers if t.code != code)


def revalued(tiers: tuple[Tier, ...], percent: Decimal) -> tuple[Tier, ...]:
    """The tiers with every amount raised (or lowered) by ``percent``, rounded to the cent."""
    factor = Decimal(1) + percent / Decimal(100)
    return tuple(Tier(t.code, t.category, t.label,
                      (t.amount * factor).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), t.rank)
                 for t in tiers)


def check_percent(text: str) -> Decimal:
    """A revaluation percentage such as ``3``, ``2,5`` or ``-1``, between -50 and 100."""
    value = text.strip().replace(",", ".").replace("%", "").strip()
    if not re.fullmatch(r"-?[0-9]{1,3}(\.[0-9]{1,2})?", value):
        raise ValueError("Indiquez un pourcentage, par exemple 3 ou 2,5 (0 pour recopier les montants).")
    percent = Decimal(value)
    if not Decimal(-50) <= percent <= Decimal(100):
        raise ValueError("Le pourcentage doit être compris entre -50 et 100.")
    return percent


def sorted_tiers(tiers) -> list[Tier]:
    """Tiers in display order: by category, then rank, then code."""
    order = {c: i for i, c in enumerate(Category)}
    return sorted(tiers, key=lambda t: (order[t.category], t.rank, t.code))
