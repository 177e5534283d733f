"""Versions of a year's tariff grid (drafts and archived grids); see ``domain.tariffs``.

The live grid stays in ``TariffTierTable`` (what every reader uses through
``rt.tariffs.grid(year)``); this table keeps the draft being prepared and the archived
grids. Publishing a draft swaps them in one transaction.
"""
from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute, VersionAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from ...domain.errors import AlreadyExists, ConcurrentUpdate
from ...domain.model import Category, Tier
from ...domain.tariffs import ARCHIVED, DRAFT, GridVersion
from .tables import TariffTierTable, _meta, shared_connection


class TariffVersionTable(Model):
    Meta = _meta("tariff_versions")
    year = NumberAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)
    state = UnicodeAttribute()  # draft, archived
    tiers = UnicodeAttribute()  # JSON list of tiers
    created_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute()
    note = UnicodeAttribute(default="")
    archived_at = UTCDateTimeAttribute(null=True)
    revision = VersionAttribute()


def _tiers_json(tiers) -> str:
    return json.dumps([{"code": t.code, "category": t.category.value, "label": t.label,
                        "amount": str(t.amount), "rank": t.rank} for t in tiers], ensure_ascii=False)


def _tiers(data: str) -> tuple[Tier, ...]:
    return tuple(Tier(d["code"], Category(d["category"]), d["label"], Decimal(d["amount"]), int(d["rank"]))
                 for d in json.loads(data))


def _to_domain(i: TariffVersionTable) -> GridVersion:
    return GridVersion(int(i.year), int(i.version), i.state, _tiers(i.tiers), i.created_at, i.created_by,
                       i.note, i.archived_at, i.revision)


def _condition_failed(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


class DynamoTariffVersions:
    def versions(self, year: int) -> list[GridVersion]:
        """Archived versions and the draft, oldest first."""
        return [_to_domain(i) for i in TariffVersionTable.query(year, consistent_read=True)]

    def draft(self, year: int) -> GridVersion | None:
        return next((v for v in self.versions(year) if v.state == DRAFT), None)

    def archived_count(self, year: int) -> int:
        return sum(1 for v in self.versions(year) if v.state == ARCHIVED)

    def add_draft(self, draft: GridVersion) -> GridVersion:
        item = TariffVersionTable(draft.year, draft.version, state=DRAFT, tiers=_tiers_json(draft.tiers),
                                  created_at=draft.created_at, created_by=draft.created_by, note=draft.note)
        try:
            item.save(condition=TariffVersionTable.version.does_not_exist())
        except PutError as error:
            if _condition_failed(error):
                raise AlreadyExists("Une nouvelle version de cette grille est déjà en préparation.") from error
            raise
        return _to_domain(item)

    def save_draft(self, draft: GridVersion, tiers: tuple[Tier, ...]) -> None:
        """Replace the draft's tiers if nobody changed it since it was read."""
        try:
            item = TariffVersionTable.get(draft.year, draft.version, consistent_read=True)
        except DoesNotExist:
            raise ConcurrentUpdate() from None
        if item.revision != draft.revision or item.state != DRAFT:
            raise ConcurrentUpdate()
        item.tiers = _tiers_json(tiers)
        try:
            item.save()
        except PutError as error:
            if _condition_failed(error):
                raise ConcurrentUpdate() from error
            raise

    def delete_draft(self, draft: GridVersion) -> None:
        try:
            TariffVersionTable(draft.year, draft.version).delete(
                condition=TariffVersionTable.state == DRAFT, add_version_condition=False)
        except DeleteError as error:
            if _condition_failed(error):
                raise ConcurrentUpdate() from error
            raise

    def publish(self, draft: GridVersion, live: tuple[Tier, ...], now: datetime, note: str = "") -> None:
        """Archive ``live`` as the version before the draft and make the draft live, atomically."""
        t = TariffVersionTable
        archive = t(draft.year, draft.version - 1, state=ARCHIVED, tiers=_tiers_json(live), created_at=now,
                    created_by=draft.created_by, note=note, archived_at=now)
        kept = {tier.code for tier in draft.tiers}
        try:
            with TransactWrite(connection=shared_connection()) as transaction:
                transaction.delete(t(draft.year, draft.version),
                                   condition=(t.state == DRAFT) & (t.revision == draft.revision),
                                   add_version_condition=False)
                for tier in live:
                    if tier.code not in kept:
                        transaction.delete(TariffTierTable(draft.year, tier.code))
                transaction.save(archive, condition=t.version.does_not_exist())
                for tier in draft.tiers:
                    transaction.save(TariffTierTable(draft.year, tier.code, category=tier.category.value,
                                                     label=tier.label, amount=str(tier.amount), rank=tier.rank))
        except TransactWriteError as error:
            if error.cause_response_code == "TransactionCanceledException":
                raise ConcurrentUpdate() from error
            raise
