"""The audit log page: events of a month, optionally of one actor or one action."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ..domain import journal_labels as labels
from ..domain.audit import AuditEvent
from ..domain.errors import ValidationError
from ..domain.formatting import MONTHS
from ..domain.security import normalise_email
from ..runtime import Runtime

LIMIT = 500
_MONTH = re.compile(r"(20[0-9]{2})-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class JournalEntry:
    """One event as the journal page shows it: every code, id and raw value put in French."""

    at: datetime
    actor: str  # « Camille Martin (equipe@…) », « Traitement automatique »…
    action: str  # the action's label
    subject: labels.Subject  # what it is about, with a link to its page
    organisation: labels.Subject | None  # the organisation, when the subject is not its page
    changes: list[labels.Change]
    details: list[tuple[str, str]]


@dataclass(frozen=True)
class JournalPage:
    month: str
    actor: str
    action: str
    events: list[AuditEvent]
    names: dict[str, str]  # contact id → "name (email)", organisation id → name
    truncated: bool
    entries: list[JournalEntry]

    @property
    def month_label(self) -> str:
        """« novembre 2026 » for 2026-11."""
        year, _, month = self.month.partition("-")
        return f"{MONTHS[int(month) - 1]} {year}" if month.isdigit() and 1 <= int(month) <= 12 else self.month


def journal(rt: Runtime, month: str = "", actor: str = "", action: str = "") -> JournalPage:
    """Events of ``month`` (YYYY-MM, default this month), newest first, filtered by actor and action.

    ``actor`` is a contact's email or id, or the email typed in a failed login.
    """
    month = month.strip() or rt.today().strftime("%Y-%m")
    if not _MONTH.fullmatch(month):
        raise ValidationError({"mois": "Indiquez un mois au format AAAA-MM, par exemple 2026-11."})
    if action and action not in labels.ACTION_LABELS:
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
    names = _names(rt, events)
    return JournalPage(month, actor, action, events, names, truncated, [_entry(e, names) for e in events])


def _names(rt: Runtime, events: list[AuditEvent]) -> dict[str, str]:
    """The names behind the ids the events carry: authors and contacts (« name (email) »),
    organisations (their name). Each id is read once."""
    contact_ids = {e.actor for e in events} | {e.target for e in events if e.action == "contact.email_changed"}
    org_ids = {e.org_id for e in events if e.org_id}
    for e in events:
        for values in (e.before, e.after):
            if e.action.startswith("contact.") and values.get("org_id"):
                org_ids.add(str(values["org_id"]))
    names: dict[str, str] = {}
    for contact_id in contact_ids:
        if not contact_id or "@" in contact_id or contact_id in labels.ACTOR_LABELS or len(contact_id) > 100:
            continue
        contact = rt.contacts.get(contact_id)
        if contact is not None:
            names[contact_id] = f"{contact.name} ({contact.email})"
    for org_id in org_ids:
        if len(org_id) <= 100:
            org = rt.organisations.get(org_id)
            if org is not None:
                names[org_id] = org.name
    return names


def _entry(event: AuditEvent, names: dict[str, str]) -> JournalEntry:
    org_name = names.get(event.org_id or "", "")
    subject = labels.subject(event.action, event.target, event.org_id, org_name, after=event.after,
                             details_=event.details, names=names)
    organisation = None
    if event.org_id and subject.href != labels.organisation_href(event.org_id):
        organisation = labels.Subject(org_name or "structure supprimée", labels.organisation_href(event.org_id))
    return JournalEntry(event.at, labels.actor_label(event.actor, names), labels.action_label(event.action), subject,
                        organisation, labels.changes(event.action, event.before, event.after, names),
                        labels.details(event.action, event.details, names))
