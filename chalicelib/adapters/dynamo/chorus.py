"""Chorus Pro deposits: one item per deposited document (invoice or credit note), by its number.

Document records are immutable; how a document travels through Chorus Pro changes, so it
lives here, beside them. Every write is conditional on the version read (optimistic
concurrency): two workers never both record a deposit, a claim or a status.

The sparse ``open`` index holds the deposits still to follow (not final): the scheduled
follow-up queries it instead of scanning every deposit ever made.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, replace
from datetime import datetime

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from ...domain.chorus import BuyerService, BuyerStructure, Deposit, StatusEvent
from ...domain.errors import AlreadyExists, ConcurrentUpdate
from .tables import _index_meta, _meta

OPEN = "open"


class OpenDeposits(GlobalSecondaryIndex):
    Meta = _index_meta("open", AllProjection())
    open_bucket = UnicodeAttribute(hash_key=True)


class ChorusDepositTable(Model):
    Meta = _meta("chorus_deposits")
    number = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute()
    version = NumberAttribute()
    open_bucket = UnicodeAttribute(null=True)  # "open" until final (sparse index)
    claimed_by = UnicodeAttribute(null=True)
    claimed_until = UnicodeAttribute(null=True)  # ISO time
    data = UnicodeAttribute()  # the Deposit as JSON
    open = OpenDeposits()


def _dump(d: Deposit) -> str:
    def value(v):
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, (list, tuple)):
            return [value(x) for x in v]
        if isinstance(v, dict):
            return {k: value(x) for k, x in v.items()}
        return v
    return json.dumps(value(asdict(d)), ensure_ascii=False)


def _load(text: str) -> Deposit:
    raw = json.loads(text)

    def when(v):
        return datetime.fromisoformat(v) if v else None

    return Deposit(
        number=raw["number"], document_id=raw["document_id"], kind=raw["kind"], org_id=raw["org_id"],
        year=int(raw["year"]), created_at=when(raw["created_at"]), request_id=raw.get("request_id", ""),
        flux=raw.get("flux", ""), deposited_at=when(raw.get("deposited_at")),
        attempt_started_at=when(raw.get("attempt_started_at")), attempts=int(raw.get("attempts", 0)),
        next_try_at=when(raw.get("next_try_at")), last_error=raw.get("last_error", ""),
        flow_state=raw.get("flow_state", ""), flow_errors=tuple(raw.get("flow_errors", ())),
        cpp_id=raw.get("cpp_id"), status=raw.get("status", ""),
        history=tuple(StatusEvent(e["status"], when(e["at"]), e.get("comment", "")) for e in raw.get("history", ())),
        resolved_by=raw.get("resolved_by", ""), version=int(raw.get("version", 0)),
    )


def _item(d: Deposit, claimed_by: str | None = None, claimed_until: datetime | None = None) -> ChorusDepositTable:
    return ChorusDepositTable(d.number, org_id=d.org_id, version=d.version, open_bucket=None if d.final else OPEN,
                              claimed_by=claimed_by, claimed_until=claimed_until.isoformat() if claimed_until else None,
                              data=_dump(d))


def _condition_failed(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


class DynamoChorusDeposits:
    def get(self, number: str) -> Deposit | None:
        try:
            return _load(ChorusDepositTable.get(number, consistent_read=True).data)
        except ChorusDepositTable.DoesNotExist:
            return None

    def many(self, numbers: Iterable[str]) -> dict[str, Deposit]:
        wanted = sorted({n for n in numbers if n})
        return {item.number: _load(item.data) for item in ChorusDepositTable.batch_get(wanted)} if wanted else {}

    def open(self) -> list[Deposit]:
        return [_load(i.data) for i in ChorusDepositTable.open.query(OPEN)]

    def all(self) -> list[Deposit]:
        return [_load(i.data) for i in ChorusDepositTable.scan()]

    def add(self, deposit: Deposit) -> None:
        """Raises AlreadyExists (nothing written) when the document already has its deposit."""
        try:
            _item(replace(deposit, version=1)).save(condition=ChorusDepositTable.number.does_not_exist())
        except PutError as error:
            if _condition_failed(error):
                raise AlreadyExists() from error
            raise

    def save(self, deposit: Deposit, *, claimed_by: str | None = None, claimed_until: datetime | None = None,
             claim_free_at: datetime | None = None) -> Deposit:
        """Write ``deposit`` if it is still at the version it was read at; return it at its new
        version. ``claim_free_at``: also only if no other worker's claim runs past that time
        (taking a claim); a write by the claim holder passes ``claimed_by`` again or releases it.
        Raises ConcurrentUpdate (nothing written)."""
        t = ChorusDepositTable
        new = replace(deposit, version=deposit.version + 1)
        condition = t.version == deposit.version
        if claim_free_at is not None:
            condition &= t.claimed_until.does_not_exist() | (t.claimed_until < claim_free_at.isoformat())
        try:
            _item(new, claimed_by, claimed_until).save(condition=condition)
        except PutError as error:
            if _condition_failed(error):
                raise ConcurrentUpdate() from error
            raise
        return new


class ChorusDirectoryTable(Model):
    """Structures found in the Chorus Pro directory, by SIRET: the forms read them here instead of
    making three calls to the platform (kept a day; refreshed by a look-up after that)."""

    Meta = _meta("chorus_directory")
    siret = UnicodeAttribute(hash_key=True)
    checked_at = UnicodeAttribute()  # ISO time of the look-up
    data = UnicodeAttribute()  # the BuyerStructure as JSON
    expires_at = TTLAttribute()


class DynamoChorusDirectory:
    def get(self, siret: str) -> tuple[BuyerStructure, datetime] | None:
        """The structure as last found, and when."""
        try:
            item = ChorusDirectoryTable.get(siret)
        except ChorusDirectoryTable.DoesNotExist:
            return None
        raw = json.loads(item.data)
        structure = BuyerStructure(
            siret=raw["siret"], name=raw["name"], active=raw["active"],
            service_code_required=raw["service_code_required"], engagement_required=raw["engagement_required"],
            service_or_engagement=raw.get("service_or_engagement", False),
            services=tuple(BuyerService(s["code"], s["label"]) for s in raw.get("services", ())))
        return structure, datetime.fromisoformat(item.checked_at)

    def put(self, structure: BuyerStructure, checked_at: datetime, until: datetime) -> None:
        ChorusDirectoryTable(structure.siret, checked_at=checked_at.isoformat(),
                             data=json.dumps(asdict(structure), ensure_ascii=False), expires_at=until).save()
