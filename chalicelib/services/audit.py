"""Recording audit events (secrets masked) — a failure to audit never breaks the user's action."""
from __future__ import annotations

import logging

from ..domain.audit import AuditEvent, redact
from ..runtime import Runtime

log = logging.getLogger(__name__)


def record(rt: Runtime, action: str, *, actor: str, target: str = "", org_id: str | None = None,
           before: dict | None = None, after: dict | None = None, **details) -> None:
    event = AuditEvent(rt.id_factory(), rt.clock(), actor, action, target, org_id,
                       redact(before or {}), redact(after or {}), redact(details))
    try:
        rt.audit.add(event)
    except Exception:  # the trail must not turn a successful action into an error page
        log.exception("audit event %s not recorded", action)
