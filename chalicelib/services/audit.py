"""Recording audit events (secrets masked) — a failure to audit never breaks the user's action."""
from __future__ import annotations

import logging

from ..domain.audit import AuditEvent, redact
from ..runtime import Runtime

log = logging.getLogger(__name__)


def event(rt: Runtime, action: str, *, actor: str, target: str = "", org_id: str | None = None,
          before: dict | None = None, after: dict | None = None, **details) -> AuditEvent:
    """An audit event, secrets masked: for ``record``, or for the transaction of the change it
    records (then it is written with the change, or not at all)."""
    return AuditEvent(rt.id_factory(), rt.clock(), actor, action, target, org_id,
                      redact(before or {}), redact(after or {}), redact(details))


def record(rt: Runtime, action: str, *, actor: str, target: str = "", org_id: str | None = None,
           before: dict | None = None, after: dict | None = None, **details) -> None:
    """Record an event in its own write (logins, downloads, settings): a failure is logged."""
    event_ = event(rt, action, actor=actor, target=target, org_id=org_id, before=before, after=after, **details)
    try:
        rt.audit.add(event_)
    except Exception:  # the trail must not turn a successful action into an error page
        log.exception("audit event %s not recorded", action)
