"""Staff editing of the tariff grids: tiers per year, copying a year, versions once invoiced.

See ``domain.tariffs`` for the version rule: a year's live grid is edited directly until an
invoice exists for that membership year; then edits go to an explicit new version (a
draft), published in one transaction, the previous grid archived and frozen.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from ..domain.errors import ConcurrentUpdate, NotFound, ValidationError
from ..domain.model import Tier
from ..domain.tariffs import (
    DRAFT,
    GridVersion,
    add_tier,
    check_percent,
    check_tier,
    remove_tier,
    replace_tier,
    revalued,
    sorted_tiers,
)
from ..domain.validation import FormChecker, check_year, clean_text
from ..runtime import Runtime
from . import tasks
from .audit import record

log = logging.getLogger(__name__)

FROZEN_MESSAGE = ("Des factures ont été émises pour {year} : cette grille est figée. "
                  "Pour la modifier, créez une nouvelle version.")


def year_has_invoices(rt: Runtime, year: int) -> bool:
    """True once an invoice exists for membership year ``year`` (credited ones included).

    Reads the documents table of ``adapters/dynamo/documents.py`` (kind ``invoice``, ``year``
    = membership year); without that module (documents not built) there are no invoices.
    """
    try:
        documents = importlib.import_module("chalicelib.adapters.dynamo.documents")
    except ModuleNotFoundError:
        return False
    table = getattr(documents, "DocumentTable", None)
    if table is None:
        log.warning("documents module has no DocumentTable: tariff grids are never frozen")
        return False
    return _invoice_exists(table, year)


def _invoice_exists(table, year: int) -> bool:
    """Whether ``table`` holds an item of kind ``invoice`` for ``year`` (a scan that stops at the first)."""
    condition = (table.kind == "invoice") & (table.year == year)
    return next(iter(table.scan(filter_condition=condition, attributes_to_get=["document_id"])), None) is not None


@dataclass(frozen=True)
class GridPage:
    year: int
    tiers: list[Tier]  # live grid, display order
    has_invoices: bool
    draft: GridVersion | None
    archived: list[GridVersion]

    @property
    def live_version(self) -> int:
        return len(self.archived) + 1

    @property
    def editable_tiers(self) -> list[Tier]:
        """The tiers the edit forms change: the draft's, or the live grid's when not frozen."""
        if self.draft is not None:
            return sorted_tiers(self.draft.tiers)
        return self.tiers if not self.has_invoices else []

    @property
    def editing(self) -> str:
        """``draft``, ``live`` or ``frozen``: what the page's forms change."""
        if self.draft is not None:
            return "draft"
        return "frozen" if self.has_invoices else "live"


def _year(value: str | int) -> int:
    try:
        return check_year(str(value))
    except ValueError:
        raise NotFound("Cette année n'existe pas.") from None


def grid_years(rt: Runtime) -> list[int]:
    """The years with a grid, newest first."""
    return sorted(rt.tariffs.years(), reverse=True)


def grid_page(rt: Runtime, year: str | int) -> GridPage:
    year = _year(year)
    versions = rt.tariff_versions.versions(year)
    draft = next((v for v in versions if v.state == DRAFT), None)
    archived = [v for v in versions if v.state != DRAFT]
    return GridPage(year, sorted_tiers(rt.tariffs.grid(year).tiers), year_has_invoices(rt, year), draft, archived)


def _apply(rt: Runtime, year: int, change) -> tuple[str, tuple[Tier, ...], tuple[Tier, ...]]:
    """Apply ``change(tiers) → tiers`` to the draft, or to the live grid when allowed.

    Returns (where, before, after). ``change`` raises ValueError (French) or KeyError (no tier).
    """
    draft = rt.tariff_versions.draft(year)
    if draft is not None:
        before = draft.tiers
    else:
        if year_has_invoices(rt, year):
            raise ValidationError({"form": FROZEN_MESSAGE.format(year=year)})
        before = rt.tariffs.grid(year).tiers
    try:
        after = change(before)
    except KeyError:
        raise NotFound("Cette tranche n'existe pas dans cette grille.") from None
    except ValueError as error:
        raise ValidationError({"form": str(error)}) from None
    if draft is not None:
        rt.tariff_versions.save_draft(draft, after)
        return "draft", before, after
    new = {t.code: t for t in after}
    changed = _changed_codes(before, after)
    for code in changed:
        if code in new:
            rt.tariffs.save_tier(year, new[code])
        else:
            rt.tariffs.delete_tier(year, code)
    _prepare_quotes(rt, changed)
    return "live", before, after


def _changed_codes(before: tuple[Tier, ...], after: tuple[Tier, ...]) -> set[str]:
    old, new = {t.code: t for t in before}, {t.code: t for t in after}
    return {code for code in old.keys() | new.keys() if old.get(code) != new.get(code)}


def _prepare_quotes(rt: Runtime, tier_codes: set[str] | None = None) -> None:
    """The quotes at the grid's new prices, made now (tasks) rather than on each member's click:
    for the organisations on a changed tier (every active one when ``tier_codes`` is None)."""
    orgs = [o for o in rt.organisations.all() if o.active and (tier_codes is None or o.current_tier in tier_codes)]
    tasks.prepare_quotes(rt, [o.org_id for o in orgs])


def _tier_values(tier: Tier | None) -> dict:
    if tier is None:
        return {}
    return {"code": tier.code, "category": tier.category.value, "label": tier.label,
            "amount": str(tier.amount), "rank": tier.rank}


def add_grid_tier(rt: Runtime, actor: str, year: str | int, values: Mapping[str, str]) -> Tier:
    """Add a tier to the year's grid (or its draft version)."""
    year = _year(year)
    tier = check_tier(values)
    where, _, _ = _apply(rt, year, lambda tiers: add_tier(tiers, tier))
    record(rt, "tariff.tier_added", actor=actor, target=f"{year} {tier.code}", after=_tier_values(tier),
           year=year, version=where)
    return tier


def update_grid_tier(rt: Runtime, actor: str, year: str | int, code: str, values: Mapping[str, str]) -> Tier:
    """Change a tier's category, label, amount or order."""
    year = _year(year)
    tier = check_tier(values, code=code)
    where, before, _ = _apply(rt, year, lambda tiers: replace_tier(tiers, tier))
    old = next((t for t in before if t.code == code), None)
    if old != tier:
        record(rt, "tariff.tier_updated", actor=actor, target=f"{year} {code}", before=_tier_values(old),
               after=_tier_values(tier), year=year, version=where)
    return tier


def remove_grid_tier(rt: Runtime, actor: str, year: str | int, code: str) -> None:
    """Remove a tier from the year's grid (memberships keep their own copy of label and amount)."""
    year = _year(year)
    where, before, _ = _apply(rt, year, lambda tiers: remove_tier(tiers, code))
    old = next((t for t in before if t.code == code), None)
    record(rt, "tariff.tier_removed", actor=actor, target=f"{year} {code}", before=_tier_values(old),
           year=year, version=where)


def copy_grid(rt: Runtime, actor: str, values: Mapping[str, str]) -> int:
    """Copy a year's grid to a year that has none, amounts changed by a percentage (0 to copy as is)."""
    check = FormChecker(values)
    source = check.value("source", check_year, message="Choisissez l'année à recopier.")
    target = check.value("target", check_year, message="Indiquez la nouvelle année.")
    percent = check.value("percent", check_percent, required=False)
    check.done()
    tiers = rt.tariffs.grid(source).tiers
    if not tiers:
        raise ValidationError({"source": f"Il n'y a pas de grille pour {source}."})
    if rt.tariffs.grid(target).tiers:
        raise ValidationError({"target": f"Une grille existe déjà pour {target} : modifiez-la directement."})
    copied = revalued(tiers, percent or 0)
    for tier in copied:
        rt.tariffs.save_tier(target, tier)
    record(rt, "tariff.grid_copied", actor=actor, target=str(target), source=source, percent=str(percent or 0),
           after={t.code: str(t.amount) for t in copied})
    return target


def start_new_version(rt: Runtime, actor: str, year: str | int, note: str = "") -> GridVersion:
    """Open a draft copy of an invoiced year's grid; edits go to it until it is published."""
    year = _year(year)
    if not year_has_invoices(rt, year):
        raise ValidationError({"form": f"Aucune facture n'a été émise pour {year} : modifiez la grille directement."})
    if rt.tariff_versions.draft(year) is not None:
        raise ValidationError({"form": "Une nouvelle version de cette grille est déjà en préparation."})
    live = rt.tariffs.grid(year).tiers
    number = rt.tariff_versions.archived_count(year) + 2
    draft = rt.tariff_versions.add_draft(GridVersion(year, number, DRAFT, live, rt.clock(), actor,
                                                     clean_text(note)[:200]))
    record(rt, "tariff.version_started", actor=actor, target=f"{year} v{number}", year=year, version=number)
    return draft


def publish_version(rt: Runtime, actor: str, year: str | int) -> None:
    """Make the draft the live grid; the previous grid is archived (frozen) in the same transaction."""
    year = _year(year)
    draft = rt.tariff_versions.draft(year)
    if draft is None:
        raise ValidationError({"form": "Il n'y a pas de nouvelle version en préparation pour cette année."})
    if not draft.tiers:
        raise ValidationError({"form": "La nouvelle version ne contient aucune tranche."})
    live = rt.tariffs.grid(year).tiers
    try:
        rt.tariff_versions.publish(draft, live, rt.clock(), note=f"remplacée par la version {draft.version}")
    except ConcurrentUpdate:
        raise ConcurrentUpdate("La grille a été modifiée entre-temps. Rechargez la page et recommencez.") from None
    record(rt, "tariff.version_published", actor=actor, target=f"{year} v{draft.version}", year=year,
           before={t.code: str(t.amount) for t in live}, after={t.code: str(t.amount) for t in draft.tiers})
    _prepare_quotes(rt, _changed_codes(live, draft.tiers))


def discard_version(rt: Runtime, actor: str, year: str | int) -> None:
    """Drop the draft; the live grid stays as it is."""
    year = _year(year)
    draft = rt.tariff_versions.draft(year)
    if draft is None:
        raise ValidationError({"form": "Il n'y a pas de nouvelle version en préparation pour cette année."})
    rt.tariff_versions.delete_draft(draft)
    record(rt, "tariff.version_discarded", actor=actor, target=f"{year} v{draft.version}", year=year)
