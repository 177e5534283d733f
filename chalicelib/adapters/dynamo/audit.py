"""Audit events, partitioned by month and sorted by time; an index finds one actor's events."""
from __future__ import annotations

import json
import time
from datetime import datetime

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from ...domain.audit import AuditEvent
from .tables import _index_meta, _meta


class AuditByActor(GlobalSecondaryIndex):
    Meta = _index_meta("by_actor", AllProjection())
    actor = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)


class AuditTable(Model):
    Meta = _meta("audit")
    month = UnicodeAttribute(hash_key=True)  # "2026-11"
    # ISO time, then the writer's nanosecond clock, then the event id: chronological, and
    # events sharing a timestamp keep the order they were written in.
    sort_key = UnicodeAttribute(range_key=True)
    event_id = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    actor = UnicodeAttribute()
    action = UnicodeAttribute()
    target = UnicodeAttribute(default="")
    org_id = UnicodeAttribute(null=True)
    data = UnicodeAttribute(default="{}")  # JSON: before, after, details
    by_actor = AuditByActor()


def _to_domain(i: AuditTable) -> AuditEvent:
    data = json.loads(i.data or "{}")
    return AuditEvent(i.event_id, i.at, i.actor, i.action, i.target, i.org_id,
                      data.get("before", {}), data.get("after", {}), data.get("details", {}))


def audit_item(event: AuditEvent) -> AuditTable:
    """The item of an event: for ``add`` and for the transaction of the change it records."""
    return AuditTable(
        event.at.strftime("%Y-%m"), f"{event.at.isoformat()}#{time.time_ns():020d}#{event.event_id}",
        event_id=event.event_id, at=event.at, actor=event.actor, action=event.action,
        target=event.target, org_id=event.org_id,
        data=json.dumps({"before": event.before, "after": event.after, "details": event.details},
                        ensure_ascii=False, default=str),
    )


class DynamoAudit:
    def add(self, event: AuditEvent) -> None:
        audit_item(event).save()

    def in_month(self, month: str, limit: int = 200) -> list[AuditEvent]:
        """Newest first."""
        return [_to_domain(i) for i in AuditTable.query(month, scan_index_forward=False, limit=limit)]

    def by_actor(self, actor: str, limit: int = 200) -> list[AuditEvent]:
        return [_to_domain(i) for i in AuditTable.by_actor.query(actor, scan_index_forward=False, limit=limit)]

    @staticmethod
    def month_of(at: datetime) -> str:
        return at.strftime("%Y-%m")
