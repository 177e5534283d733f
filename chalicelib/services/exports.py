"""CSV exports for accounting and mailing: organisations, contacts, issued invoices and
credit notes (payments reuse ``domain.csv_io.csv_export`` with their own columns).

Every download is recorded in the audit trail (who exported what, how many lines).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..domain.csv_io import Column, csv_export
from ..domain.documents import DocumentKind, Invoice, StoredDocument
from ..domain.errors import ValidationError
from ..domain.member_import import HEADER_OF
from ..domain.model import Contact, Membership, Organisation, last_validated
from ..domain.validation import check_year, fold
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


# --- issued documents, for accounting ---------------------------------------------------
#
# One line per invoice or credit note, as issued: the buyer's name and SIRET are the
# document's (what was printed), not the organisation's today. Credit notes carry negative
# amounts, so that the two files added together give what is owed. One Scan of the
# documents table per download (a few documents per member and year: a small table).


def parse_export_year(text: str) -> int | None:
    """The membership year of ``?annee=`` (empty: every year), or ValidationError in French."""
    if not text.strip():
        return None
    try:
        return check_year(text)
    except ValueError as error:
        raise ValidationError({"annee": str(error)}, f"Année d'adhésion invalide. {error}") from None


def _document_columns(invoices: dict[str, Invoice] | None = None) -> list[Column]:
    """Columns shared by both files; ``invoices`` (by number) makes the credit-note columns."""
    sign = -1 if invoices is not None else 1

    def tier(d: StoredDocument) -> str:
        if isinstance(d.content, Invoice):
            return d.content.tier_code
        invoice = (invoices or {}).get(d.related_number)
        return invoice.tier_code if invoice else ""

    columns = [
        Column("Numéro", lambda d: d.number),
        Column("Date", lambda d: d.content.issued_on),
        Column("Structure", lambda d: d.content.buyer.name),
        Column("SIRET", lambda d: d.content.buyer.siret),
        Column("Année d'adhésion", lambda d: d.year),
        Column("Tranche", tier),
        Column("Désignation", lambda d: d.content.lines[0].description if d.content.lines else ""),
        Column("Montant HT", lambda d: sign * d.content.totals.net),
        Column("TVA", lambda d: sign * d.content.totals.vat),
        Column("Montant TTC", lambda d: sign * d.content.totals.gross),
        Column("Bon de commande / engagement", lambda d: d.content.po_number),
        Column("Code service", lambda d: d.content.service_code),
    ]
    if invoices is not None:
        columns += [
            Column("Facture d'origine", lambda d: d.related_number),
            Column("Date de la facture", lambda d: d.content.invoice_issued_on),
            Column("Motif", lambda d: d.content.reason),
        ]
    return columns + [Column("SHA-256 du PDF", lambda d: d.sha256)]


def _export_documents(rt: Runtime, actor: str, kind: DocumentKind, year: int | None, name: str) -> CsvFile:
    found = rt.documents.all(None if kind is DocumentKind.CREDIT_NOTE else kind, year)
    rows = [d for d in found if d.kind is kind]
    if kind is DocumentKind.CREDIT_NOTE:
        invoices = {d.number: d.content for d in found if isinstance(d.content, Invoice)}
        columns = _document_columns(invoices)
    else:
        columns = _document_columns()
    text = csv_export(rows, columns)
    filename = f"{name}-{year}-{rt.today().isoformat()}.csv" if year else f"{name}-{rt.today().isoformat()}.csv"
    record(rt, "export.downloaded", actor=actor, target=filename, export=name, rows=len(rows), year=year)
    return CsvFile(filename, text, len(rows))


def export_invoices(rt: Runtime, actor: str, year: int | None = None) -> CsvFile:
    """Every invoice issued (of one membership year), in numbering order."""
    return _export_documents(rt, actor, DocumentKind.INVOICE, year, "factures")


def export_credit_notes(rt: Runtime, actor: str, year: int | None = None) -> CsvFile:
    """Every credit note issued (of one membership year), in numbering order, amounts negative."""
    return _export_documents(rt, actor, DocumentKind.CREDIT_NOTE, year, "avoirs")
