"""The audit log page: events of a month, optionally of one actor or one action."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..domain.audit import ACTIONS, AuditEvent
from ..domain.errors import ValidationError
from ..domain.security import normalise_email
from ..runtime import Runtime

LIMIT = 500
_MONTH = re.compile(r"(20[0-9]{2})-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class JournalPage:
    month: str
    actor: str
    action: str
    events: list[AuditEvent]
    names: dict[str, str]  # actor id → "name (email)"
    truncated: bool


def journal(rt: Runtime, month: str = "", actor: str = "", action: str = "") -> JournalPage:
    """Events of ``month`` (YYYY-MM, default this month), newest first, filtered by actor and action.

    ``actor`` is a contact's email or id, or the email typed in a failed login.
    """
    month = month.strip() or rt.today().strftime("%Y-%m")
    if not _MONTH.fullmatch(month):
        raise ValidationError({"mois": "Indiquez un mois au format AAAA-MM, par exemple 2026-11."})
    if action and action not in ACTIONS:
        raise ValidationError({"action": "Choisissez une action dans la liste."})
    actor = actor.strip()[:254]
    if actor:
        contact = rt.contacts.find_by_email(normalise_email(actor)) if "@" in actor else rt.contacts.get(actor)
        ids = {actor, normalise_email(actor)} | ({contact.contact_id} if contact else set())
        events = []
        for actor_id in ids:
            events += [e for e in rt.audit.by_actor(actor_id, limit=LIMIT) if e.at.strftime("%Y-%m") == month]
        events.sort(key=lambda e: e.at, reverse=True)
    else:
        events = rt.audit.in_month(month, limit=LIMIT if not action else 5000)
    if action:
        events = [e for e in events if e.action == action]
    truncated = len(events) >= LIMIT
    events = events[:LIMIT]
    names = {}
    for actor_id in {e.actor for e in events}:
        if "@" in actor_id or actor_id in ("anonyme", "system"):
            continue
        contact = rt.contacts.get(actor_id)
        if contact is not None:
            names[actor_id] = f"{contact.name} ({contact.email})"
    return JournalPage(month, actor, action, events, names, truncated)
