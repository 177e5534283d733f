"""CSV exports for accounting and mailing (organisations and contacts here; documents and
payments reuse ``domain.csv_io.csv_export`` with their own columns).

Every download is recorded in the audit trail (who exported what, how many lines).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..domain.csv_io import Column, csv_export
from ..domain.member_import import HEADER_OF
from ..domain.model import Contact, Membership, Organisation, last_validated
from ..domain.validation import fold
from ..runtime import Runtime
from .audit import record


@dataclass(frozen=True)
class CsvFile:
    filename: str
    text: str
    rows: int


def _org_columns() -> list[Column]:
    h = HEADER_OF
    return [
        Column(h["siret"], lambda r: r[0].siret),
        Column(h["name"], lambda r: r[0].name),
        Column(h["category"], lambda r: r[0].category),
        Column(h["address_line1"], lambda r: r[0].billing_address.line1),
        Column(h["address_line2"], lambda r: r[0].billing_address.line2),
        Column(h["postcode"], lambda r: r[0].billing_address.postcode),
        Column(h["city"], lambda r: r[0].billing_address.city),
        Column(h["invoice_email"], lambda r: r[0].invoice_email),
        Column(h["current_tier"], lambda r: r[0].current_tier),
        Column(h["public_buyer"], lambda r: r[0].public_buyer),
        Column(h["service_code"], lambda r: r[0].service_code),
        Column(h["buyer_requirement"], lambda r: r[0].buyer_requirement),
        Column("Active", lambda r: r[0].active),
        Column(h["membership_year"], lambda r: r[1].year if r[1] else None),
        Column(h["membership_tier"], lambda r: r[1].tier_code if r[1] else None),
        Column(h["membership_amount"], lambda r: r[1].amount if r[1] else None),
        Column(h["membership_status"], lambda r: r[1].status if r[1] else None),
    ]


def _contact_columns(orgs: dict[str, Organisation]) -> list[Column]:
    h = HEADER_OF

    def org(c: Contact) -> Organisation | None:
        return orgs.get(c.org_id or "")

    return [
        Column(h["name"], lambda c: org(c).name if org(c) else ""),
        Column(h["siret"], lambda c: org(c).siret if org(c) else ""),
        Column(h["contact_name"], lambda c: c.name),
        Column(h["contact_email"], lambda c: c.email),
        Column(h["contact_notices"], lambda c: c.receives_notices),
        Column("Contact actif", lambda c: c.active),
        Column("Structure active", lambda c: org(c).active if org(c) else None),
    ]


def _latest(memberships: list[Membership]) -> Membership | None:
    """The last validated or paid membership, else the most recent one."""
    return last_validated(memberships) or (max(memberships, key=lambda m: m.year) if memberships else None)


def export_organisations(rt: Runtime, actor: str) -> CsvFile:
    """Every organisation with its last membership (the columns the import reads back)."""
    memberships = rt.memberships.all()
    orgs = sorted(rt.organisations.all(), key=lambda o: fold(o.name))
    rows = [(o, _latest(memberships.get(o.org_id, []))) for o in orgs]
    text = csv_export(rows, _org_columns())
    filename = f"structures-{rt.today().isoformat()}.csv"
    record(rt, "export.downloaded", actor=actor, target=filename, export="organisations", rows=len(rows))
    return CsvFile(filename, text, len(rows))


def export_contacts(rt: Runtime, actor: str) -> CsvFile:
    """The contacts of member organisations (not the team), for mailing."""
    orgs = {o.org_id: o for o in rt.organisations.all()}
    contacts = [c for c in rt.contacts.all() if c.org_id]
    contacts.sort(key=lambda c: (fold(orgs[c.org_id].name) if c.org_id in orgs else "", fold(c.name)))
    text = csv_export(contacts, _contact_columns(orgs))
    filename = f"contacts-{rt.today().isoformat()}.csv"
    record(rt, "export.downloaded", actor=actor, target=filename, export="contacts", rows=len(contacts))
    return CsvFile(filename, text, len(contacts))
