"""Renewal requests in DynamoDB, with « one open request per organisation and season » enforced.

Table ``renewal_requests``: partition key ``org_id``, sort key ``request_key`` =
``<year>#<attempt>`` (e.g. ``2027#001``). A season's first request is attempt 1; a new
attempt is written only after the latest one is cancelled, and always with the condition
``attribute_not_exists``. Two contacts (or two clicks) submitting at once both compute the
same next key, so exactly one write succeeds and the other gets ``AlreadyExists``: the
uniqueness is DynamoDB's, not a read-then-write race. A cancelled request stays as it was
(history) and the next attempt gets the next key.

The request is written in one transaction with the organisation's corrected billing
details, so either both are saved or neither. The organisation update carries the
organisation's version condition: a concurrent change makes the transaction fail and it
is retried on fresh data.

Index ``by_state`` (partition ``state``, sort ``queue_key`` = ``<year>#<submitted at>#<org>``)
lists requests in one state, oldest first, e.g. those ready to invoice.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from ...domain.errors import AlreadyExists, ConcurrentUpdate, NotFound
from ...domain.model import Address, Category, Organisation, PublicBuyerRequirement
from ...domain.renewal import RequestState
from ...domain.renewal_request import BillingDetails, HistoryEntry, RenewalRequest, request_key
from .effects import Effect, add_effects
from .tables import OrganisationTable, _index_meta, _meta, shared_connection


class RequestsByState(GlobalSecondaryIndex):
    Meta = _index_meta("by_state", AllProjection())
    state = UnicodeAttribute(hash_key=True)
    queue_key = UnicodeAttribute(range_key=True)


class RenewalRequestTable(Model):
    Meta = _meta("renewal_requests")
    org_id = UnicodeAttribute(hash_key=True)
    request_key = UnicodeAttribute(range_key=True)  # "2027#001": season, then attempt
    year = NumberAttribute()
    attempt = NumberAttribute()
    state = UnicodeAttribute()
    queue_key = UnicodeAttribute()
    submitted_at = UTCDateTimeAttribute()
    submitted_by = UnicodeAttribute()
    submitted_by_name = UnicodeAttribute(default="")
    organisation_name = UnicodeAttribute()
    category = UnicodeAttribute()
    public_buyer = BooleanAttribute(default=False)
    billing = UnicodeAttribute()  # JSON snapshot of the billing details
    tier_code = UnicodeAttribute()
    tier_label = UnicodeAttribute()
    amount = UnicodeAttribute()  # Decimal as text
    offered_tier_code = UnicodeAttribute(default="")
    requested_tier_code = UnicodeAttribute(default="")
    requested_tier_label = UnicodeAttribute(default="")
    requested_amount = UnicodeAttribute(null=True)
    tier_comment = UnicodeAttribute(default="")
    payment_method = UnicodeAttribute(default="")
    wait_for_purchase_order = BooleanAttribute(default=False)
    purchase_order_number = UnicodeAttribute(default="")
    purchase_order_file = UnicodeAttribute(default="")
    purchase_order_at = UTCDateTimeAttribute(null=True)
    invoice_number = UnicodeAttribute(default="")
    updated_at = UTCDateTimeAttribute(null=True)
    history = UnicodeAttribute(default="[]")  # JSON list of HistoryEntry
    version = VersionAttribute()
    by_state = RequestsByState()


def _connection() -> Connection:
    """The connection transactions go through, built on first use (never at import)."""
    return shared_connection()


def _condition_failed(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def _billing_json(b: BillingDetails) -> str:
    a = b.address
    return json.dumps({
        "line1": a.line1, "line2": a.line2, "postcode": a.postcode, "city": a.city, "country": a.country,
        "invoice_email": b.invoice_email, "siret": b.siret, "service_code": b.service_code,
        "buyer_requirement": b.buyer_requirement.value,
    }, ensure_ascii=False)


def _billing(text: str) -> BillingDetails:
    d = json.loads(text)
    return BillingDetails(
        Address(d["line1"], d["postcode"], d["city"], d.get("line2", ""), d.get("country", "FR")),
        d["invoice_email"], d.get("siret", ""), d.get("service_code", ""),
        PublicBuyerRequirement(d.get("buyer_requirement", "none")),
    )


def _history_json(entries: tuple[HistoryEntry, ...]) -> str:
    return json.dumps([{"at": e.at.isoformat(), "action": e.action, "by": e.by, "state": e.state.value,
                        "note": e.note} for e in entries], ensure_ascii=False)


def _history(text: str) -> tuple[HistoryEntry, ...]:
    return tuple(HistoryEntry(datetime.fromisoformat(e["at"]), e["action"], e["by"], RequestState(e["state"]),
                              e.get("note", "")) for e in json.loads(text or "[]"))


def _to_item(r: RenewalRequest) -> RenewalRequestTable:
    versioned = {} if r.version is None else {"version": r.version}
    return RenewalRequestTable(
        r.org_id, r.key, year=r.year, attempt=r.attempt, state=r.state.value,
        queue_key=f"{r.year:04d}#{r.submitted_at.isoformat()}#{r.org_id}",
        submitted_at=r.submitted_at, submitted_by=r.submitted_by, submitted_by_name=r.submitted_by_name,
        organisation_name=r.organisation_name, category=r.category.value, public_buyer=r.public_buyer,
        billing=_billing_json(r.billing), tier_code=r.tier_code, tier_label=r.tier_label, amount=str(r.amount),
        offered_tier_code=r.offered_tier_code, requested_tier_code=r.requested_tier_code,
        requested_tier_label=r.requested_tier_label,
        requested_amount=None if r.requested_amount is None else str(r.requested_amount),
        tier_comment=r.tier_comment, payment_method=r.payment_method,
        wait_for_purchase_order=r.wait_for_purchase_order, purchase_order_number=r.purchase_order_number,
        purchase_order_file=r.purchase_order_file, purchase_order_at=r.purchase_order_at,
        invoice_number=r.invoice_number, updated_at=r.updated_at, history=_history_json(r.history),
        **versioned,
    )


def _to_domain(i: RenewalRequestTable) -> RenewalRequest:
    return RenewalRequest(
        org_id=i.org_id, year=int(i.year), attempt=int(i.attempt), state=RequestState(i.state),
        submitted_at=i.submitted_at, submitted_by=i.submitted_by, submitted_by_name=i.submitted_by_name,
        organisation_name=i.organisation_name, category=Category(i.category), public_buyer=i.public_buyer,
        billing=_billing(i.billing), tier_code=i.tier_code, tier_label=i.tier_label, amount=Decimal(i.amount),
        offered_tier_code=i.offered_tier_code, requested_tier_code=i.requested_tier_code,
        requested_tier_label=i.requested_tier_label,
        requested_amount=None if i.requested_amount is None else Decimal(i.requested_amount),
        tier_comment=i.tier_comment, payment_method=i.payment_method,
        wait_for_purchase_order=i.wait_for_purchase_order, purchase_order_number=i.purchase_order_number,
        purchase_order_file=i.purchase_order_file, purchase_order_at=i.purchase_order_at,
        invoice_number=i.invoice_number, updated_at=i.updated_at, history=_history(i.history),
        version=None if i.version is None else int(i.version),
    )


def _billing_actions(b: BillingDetails) -> list:
    t, a = OrganisationTable, b.address
    return [t.address_line1.set(a.line1), t.address_line2.set(a.line2), t.postcode.set(a.postcode),
            t.city.set(a.city), t.invoice_email.set(b.invoice_email), t.siret.set(b.siret),
            t.service_code.set(b.service_code), t.buyer_requirement.set(b.buyer_requirement.value)]


class DynamoRenewals:
    """The repository of renewal requests (``rt.renewals``)."""

    def add(self, request: RenewalRequest, billing_update: Organisation | None = None, *,
            effects: Sequence[Effect] = ()) -> RenewalRequest:
        """Store a new request; with ``billing_update``, save that organisation's billing details
        too, and the ``effects`` (audit events, outbox messages) it causes, in one transaction.

        Raises AlreadyExists if this season's attempt is already taken (another contact or
        click was first), and nothing is written then.
        """
        if billing_update is None and not effects:
            try:
                _to_item(request).save(condition=RenewalRequestTable.request_key.does_not_exist())
            except PutError as error:
                if _condition_failed(error):
                    raise AlreadyExists("Une demande est déjà enregistrée pour cette saison.") from error
                raise
            return self._stored(request)
        for _ in range(5):
            org_item = None
            if billing_update is not None:
                try:
                    org_item = OrganisationTable.get(billing_update.org_id, consistent_read=True)
                except DoesNotExist:
                    raise NotFound("Structure introuvable.") from None
            try:
                with TransactWrite(connection=_connection()) as tx:
                    tx.save(_to_item(request), condition=RenewalRequestTable.request_key.does_not_exist())
                    if org_item is not None:
                        tx.update(org_item, actions=_billing_actions(BillingDetails.of(billing_update)))
                    add_effects(tx, effects)
            except TransactWriteError as error:
                if self.get(request.org_id, request.year, request.attempt) is not None:
                    raise AlreadyExists("Une demande est déjà enregistrée pour cette saison.") from error
                if error.cause_response_code != "TransactionCanceledException":
                    raise
                continue  # the organisation changed meanwhile: try again on fresh data
            return self._stored(request)
        raise ConcurrentUpdate()

    @staticmethod
    def _stored(request: RenewalRequest) -> RenewalRequest:
        return replace(request, version=(request.version or 0) + 1)

    def update(self, request: RenewalRequest, *, effects: Sequence[Effect] = ()) -> RenewalRequest:
        """Save a changed request if nobody changed it since it was read, with the ``effects``
        (audit events, outbox messages) of the change in the same transaction; else
        ConcurrentUpdate, and nothing is written."""
        if request.version is None:
            raise ValueError("update() needs a request read from the table")
        if not effects:
            try:
                _to_item(request).save(condition=RenewalRequestTable.request_key.exists())
            except PutError as error:
                if _condition_failed(error):
                    raise ConcurrentUpdate() from error
                raise
            return self._stored(request)
        try:
            with TransactWrite(connection=_connection()) as tx:
                tx.save(_to_item(request), condition=RenewalRequestTable.request_key.exists())
                add_effects(tx, effects)
        except TransactWriteError as error:
            if error.cause_response_code == "TransactionCanceledException":
                raise ConcurrentUpdate() from error
            raise
        return self._stored(request)

    def get(self, org_id: str, year: int, attempt: int) -> RenewalRequest | None:
        try:
            item = RenewalRequestTable.get(org_id, request_key(year, attempt), consistent_read=True)
        except DoesNotExist:
            return None
        return _to_domain(item)

    def latest(self, org_id: str, year: int) -> RenewalRequest | None:
        """The season's latest attempt (the open one, if any), read consistently."""
        items = RenewalRequestTable.query(
            org_id, RenewalRequestTable.request_key.startswith(f"{year:04d}#"),
            scan_index_forward=False, limit=1, consistent_read=True,
        )
        found = next(iter(items), None)
        return _to_domain(found) if found is not None else None

    def for_organisation(self, org_id: str) -> list[RenewalRequest]:
        """Every request of the organisation, newest season and attempt first."""
        return [_to_domain(i) for i in RenewalRequestTable.query(org_id, scan_index_forward=False,
                                                                  consistent_read=True)]

    def in_state(self, state: RequestState, year: int | None = None, limit: int = 500) -> list[RenewalRequest]:
        """Requests in ``state`` (optionally of one season), oldest submission first."""
        condition = RenewalRequestTable.queue_key.startswith(f"{year:04d}#") if year is not None else None
        items = RenewalRequestTable.by_state.query(state.value, condition, limit=limit)
        return [_to_domain(i) for i in items]

    def for_season(self, year: int) -> list[RenewalRequest]:
        """Every request of season ``year``, whatever its state, newest submission first.

        One ``by_state`` query per state (six), never one per organisation: the staff queue.
        """
        found = []
        for state in RequestState:
            items = RenewalRequestTable.by_state.query(
                state.value, RenewalRequestTable.queue_key.startswith(f"{year:04d}#"), scan_index_forward=False)
            found += [_to_domain(i) for i in items]
        return sorted(found, key=lambda r: (r.submitted_at, r.org_id, r.attempt), reverse=True)
