"""Issued documents (quotes, invoices, credit notes, certificates) and their numbering counters.

A document record is written once and never updated: it holds the sha256 and S3 key of the
PDF, which *is* the document, and a JSON snapshot of its content (for credit notes and the
accounting export). Its number is taken in the same transaction that writes it:

- the issuer first takes a short lease on the series' counter (so that concurrent issuers
  wait instead of rendering PDFs that would lose the race), reading the last number n;
- it renders the PDF for n + 1 and uploads it under a random key;
- one transaction then sets the counter to n + 1 (condition: still n, lease still ours)
  and puts the record (condition: no record with this id). Either both happen or neither.

The counter's condition, not the lease, guarantees a series without gaps or duplicates: a
lease that expired while its holder was stalled only costs that holder a retry.
"""
from __future__ import annotations

import json
import types
from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cached_property
from typing import Union, get_args, get_origin, get_type_hints

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from ...domain.documents import (
    Certificate,
    CreditNote,
    DocumentKind,
    Invoice,
    Quote,
    SeriesBusy,
    StoredDocument,
)
from ...domain.errors import AlreadyExists, ConcurrentUpdate, InvoiceHasPayments
from .effects import Effect, add_effects
from .payments import PaymentTotalTable
from .tables import _config, _index_meta, _meta

CONTENT_TYPES = {
    DocumentKind.QUOTE: Quote,
    DocumentKind.INVOICE: Invoice,
    DocumentKind.CREDIT_NOTE: CreditNote,
    DocumentKind.CERTIFICATE: Certificate,
}


class DocumentsByOrganisation(GlobalSecondaryIndex):
    Meta = _index_meta("by_organisation", AllProjection())
    org_id = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)  # ISO issue time + "#" + number


class DocumentsByNumber(GlobalSecondaryIndex):
    Meta = _index_meta("by_number", AllProjection())
    number = UnicodeAttribute(hash_key=True)


class DocumentTable(Model):
    Meta = _meta("documents")
    document_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    number = UnicodeAttribute()
    org_id = UnicodeAttribute()
    year = NumberAttribute()  # membership year
    issued_at = UTCDateTimeAttribute()
    sort_key = UnicodeAttribute()
    total = UnicodeAttribute()  # Decimal as text
    sha256 = UnicodeAttribute()  # of the PDF bytes stored at s3_key
    s3_key = UnicodeAttribute()
    fingerprint = UnicodeAttribute(default="")
    related_number = UnicodeAttribute(default="")
    request_id = UnicodeAttribute(default="")
    data = UnicodeAttribute()  # JSON snapshot of the document's content
    by_organisation = DocumentsByOrganisation()
    by_number = DocumentsByNumber()


class DocumentCounterTable(Model):
    """One item per series (e.g. ``FAC-2026``): the last number given, and the issuing lease."""

    Meta = _meta("document_counters")
    series = UnicodeAttribute(hash_key=True)
    last_number = NumberAttribute(null=True)
    holder = UnicodeAttribute(null=True)
    held_until = UTCDateTimeAttribute(null=True)
    # The upload the lease holder is about to record: a crash between the upload and the record
    # leaves it here, for the next holder of the series (or the reconciler) to clean up.
    pending_document = UnicodeAttribute(null=True)
    pending_key = UnicodeAttribute(null=True)


def _condition_failed(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


# --- content snapshot: domain dataclasses <-> JSON -------------------------------------


def _encode(value):
    if is_dataclass(value):
        return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(kind_of_value, value):
    origin = get_origin(kind_of_value)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        inner = next(a for a in get_args(kind_of_value) if a is not type(None))
        return _decode(inner, value)
    if origin is tuple:
        inner = get_args(kind_of_value)[0]
        return tuple(_decode(inner, v) for v in value)
    if is_dataclass(kind_of_value):
        hints = get_type_hints(kind_of_value)
        return kind_of_value(**{f.name: _decode(hints[f.name], value[f.name])
                                for f in fields(kind_of_value) if f.name in value})
    if kind_of_value is Decimal:
        return Decimal(value)
    if kind_of_value is date:
        return date.fromisoformat(value)
    if isinstance(kind_of_value, type) and issubclass(kind_of_value, Enum):
        return kind_of_value(value)
    return value


def content_to_json(content) -> str:
    return json.dumps(_encode(content), ensure_ascii=False, sort_keys=True)


def content_from_json(kind: DocumentKind, data: str):
    return _decode(CONTENT_TYPES[kind], json.loads(data))


# --- repository ------------------------------------------------------------------------


def _to_domain(item: DocumentTable) -> StoredDocument:
    kind = DocumentKind(item.kind)
    return StoredDocument(
        document_id=item.document_id, kind=kind, number=item.number, org_id=item.org_id,
        year=int(item.year), issued_at=item.issued_at, total=Decimal(item.total), sha256=item.sha256,
        s3_key=item.s3_key, content=content_from_json(kind, item.data), fingerprint=item.fingerprint,
        related_number=item.related_number, request_id=item.request_id,
    )


def _to_item(record: StoredDocument) -> DocumentTable:
    return DocumentTable(
        record.document_id, kind=record.kind.value, number=record.number, org_id=record.org_id,
        year=record.year, issued_at=record.issued_at,
        sort_key=f"{record.issued_at.isoformat()}#{record.number}", total=str(record.total),
        sha256=record.sha256, s3_key=record.s3_key, fingerprint=record.fingerprint,
        related_number=record.related_number, request_id=record.request_id,
        data=content_to_json(record.content),
    )


class DynamoDocuments:
    def __init__(self, region: str | None = None):
        self._region = region or _config.region

    @cached_property
    def _connection(self) -> Connection:
        from .tables import shared_connection

        return shared_connection()

    # --- reading ---------------------------------------------------------------------
    def get(self, document_id: str) -> StoredDocument | None:
        try:
            return _to_domain(DocumentTable.get(document_id, consistent_read=True))
        except DoesNotExist:
            return None

    def by_number(self, number: str) -> StoredDocument | None:
        found = list(DocumentTable.by_number.query(number, limit=1))
        return _to_domain(found[0]) if found else None

    def for_organisation(self, org_id: str) -> list[StoredDocument]:
        """Every document of the organisation, oldest first (one query)."""
        return [_to_domain(i) for i in DocumentTable.by_organisation.query(org_id)]

    def all(self, kind: DocumentKind | None = None, year: int | None = None) -> list[StoredDocument]:
        """Every document (of one kind, of one membership year), in issue order: one paginated Scan.

        For staff-wide work only (accounting exports, the dashboard), never a member's page.
        """
        condition = None
        for part in ([DocumentTable.kind == kind.value] if kind is not None else []) + (
                [DocumentTable.year == year] if year is not None else []):
            condition = part if condition is None else condition & part
        found = [_to_domain(i) for i in DocumentTable.scan(condition)]
        return sorted(found, key=lambda d: (d.issued_at, d.number))

    def last_number(self, series: str) -> int:
        try:
            item = DocumentCounterTable.get(series, consistent_read=True)
        except DoesNotExist:
            return 0
        return int(item.last_number or 0)

    # --- issuing ---------------------------------------------------------------------
    def lock_series(self, series: str, holder: str, now: datetime, until: datetime) -> int:
        """Take the series' lease until ``until``; return its last number, or raise SeriesBusy."""
        item = DocumentCounterTable(series)
        try:
            item.update(
                actions=[DocumentCounterTable.holder.set(holder), DocumentCounterTable.held_until.set(until)],
                condition=DocumentCounterTable.holder.does_not_exist() | (DocumentCounterTable.held_until < now),
            )
        except UpdateError as error:
            if _condition_failed(error):
                raise SeriesBusy() from error
            raise
        return int(item.last_number or 0)

    def note_upload(self, series: str, holder: str, document_id: str, key: str) -> tuple[str, str] | None:
        """Record, under our lease, the upload about to be made; return the (document id, key)
        an earlier holder recorded and never cleared (it crashed between upload and record).

        One UpdateItem: DynamoDB returns the item as it was (``ALL_OLD``).
        """
        t = DocumentCounterTable
        try:
            answer = t._get_connection().update_item(
                series, actions=[t.pending_document.set(document_id), t.pending_key.set(key)],
                condition=t.holder == holder, return_values="ALL_OLD")
        except UpdateError as error:
            if _condition_failed(error):
                raise ConcurrentUpdate() from error
            raise
        old = answer.get("Attributes", {})
        stale_key = old.get("pending_key", {}).get("S", "")
        return (old.get("pending_document", {}).get("S", ""), stale_key) if stale_key and stale_key != key else None

    def stale_uploads(self, now: datetime) -> list[tuple[str, str, str]]:
        """(series, document id, key) of uploads left by holders whose lease has run out."""
        t = DocumentCounterTable
        return [(i.series, i.pending_document or "", i.pending_key) for i in t.scan(t.pending_key.exists())
                if i.held_until is None or i.held_until < now]

    def forget_upload(self, series: str, key: str) -> None:
        """Clear the series' pending upload if it is still ``key`` (once it is recorded or deleted)."""
        t = DocumentCounterTable
        try:
            t(series).update(actions=[t.pending_document.remove(), t.pending_key.remove()], condition=t.pending_key == key)
        except UpdateError as error:
            if not _condition_failed(error):
                raise

    def unlock_series(self, series: str, holder: str, *, keep_pending: bool = False) -> None:
        """Give the lease back if it is still ours (after a failure: success releases it).
        ``keep_pending``: the upload it noted may still be in S3 (its deletion failed), so the
        note stays for the next issuer or the reconciler to remove it."""
        t = DocumentCounterTable
        actions = [t.holder.remove(), t.held_until.remove()]
        if not keep_pending:
            actions += [t.pending_document.remove(), t.pending_key.remove()]
        try:
            t(series).update(actions=actions, condition=t.holder == holder)
        except UpdateError as error:
            if not _condition_failed(error):
                raise

    def add_numbered(self, record: StoredDocument, series: str, previous: int, holder: str, *,
                     effects: Sequence[Effect] = ()) -> None:
        """Write the record and move the series from ``previous`` to ``previous + 1``, atomically,
        with the ``effects`` of the issue (its audit event).

        Raises AlreadyExists when a record with this id exists (nothing written), and
        ConcurrentUpdate when the counter moved or the lease was lost (nothing written).
        A credit note also marks its invoice as credited, on the condition that no payment
        was recorded against it (raises InvoiceHasPayments otherwise, nothing written): see
        ``adapters.dynamo.payments`` for the other half of that exclusion.
        """
        counter, totals = DocumentCounterTable, PaymentTotalTable
        unchanged = (counter.last_number == previous) if previous else counter.last_number.does_not_exist()
        credits = record.related_number if record.kind is DocumentKind.CREDIT_NOTE else ""
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(_to_item(record), condition=DocumentTable.document_id.does_not_exist())
                add_effects(transaction, effects)
                transaction.update(
                    DocumentCounterTable(series),
                    actions=[counter.last_number.set(previous + 1), counter.holder.remove(),
                             counter.held_until.remove(), counter.pending_document.remove(),
                             counter.pending_key.remove()],
                    condition=unchanged & (counter.holder == holder),
                )
                if credits:
                    transaction.update(
                        PaymentTotalTable(credits),
                        actions=[totals.credited.set(record.number), totals.org_id.set(record.org_id),
                                 totals.year.set(record.year)],
                        condition=(totals.paid_cents.does_not_exist() | (totals.paid_cents == 0))
                        & totals.credited.does_not_exist(),
                    )
        except TransactWriteError as error:
            reasons = list(getattr(error, "cancellation_reasons", None) or [])
            codes = [getattr(r, "code", None) for r in reasons] + [None] * (3 + len(effects))
            # pynamodb sends puts before updates: [record, effects…, counter update, invoice total update]
            counter_at = 1 + len(effects)
            if codes[0] == "ConditionalCheckFailed":
                raise AlreadyExists("Ce document a déjà été émis.") from error
            if codes[counter_at] == "ConditionalCheckFailed":
                raise ConcurrentUpdate() from error
            if codes[counter_at + 1] == "ConditionalCheckFailed":
                raise InvoiceHasPayments() from error
            raise
