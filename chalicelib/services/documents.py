"""Quotes, invoices, credit notes and membership certificates: issue, list, download.

Use cases:

- ``get_or_create_quote`` — « Éditer un devis »: the quote of the year to renew, from the last
  validated membership and that year's tariff grid; asking again with nothing changed gives
  the same quote back (same fingerprint, still valid), a change gives a new one;
- ``issue_invoice`` — numbered in one continuous series, immutable once issued, then
  « Votre facture est disponible » to the organisation's contacts. Idempotent per
  ``request_id``: the same request never gets two invoices;
- ``issue_credit_note`` — cancels a whole invoice, in its own series (one per invoice);
- ``issue_certificate`` — the membership certificate, once the membership is paid;
- ``list_documents`` — « Historique des adhésions »;
- ``download`` — the organisation check, then a presigned link (≤ 5 minutes).

Every issued document goes through ``_issue``: take the series' lease (last number n),
render the PDF for n + 1, upload it under a random key, then one DynamoDB transaction moves
the counter n → n + 1 and writes the record. A failure anywhere before the transaction
commits deletes the upload and writes nothing: no gap, no orphan record. The stored PDF is
never rendered again; its SHA-256 is recorded.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from ..domain.audit import AuditEvent
from ..domain.documents import (
    Certificate,
    CreditNote,
    DocumentKind,
    DocumentLink,
    Invoice,
    Quote,
    SeriesBusy,
    StoredDocument,
    build_certificate,
    build_credit_note,
    build_invoice,
    build_quote,
    check_invoice_input,
    check_reason,
    format_number,
    history_documents,
    series_for,
)
from ..domain.errors import (
    AlreadyExists,
    ConcurrentUpdate,
    DomainError,
    NotFound,
    OrganisationInactive,
    ValidationError,
)
from ..domain.formatting import to_money
from ..domain.model import Contact, MembershipStatus, Organisation, Role, last_validated
from ..domain.season import CampaignOpening, renewal_year
from ..domain.security import Session
from ..runtime import Runtime
from . import chorus
from .audit import event, record
from .mail import send_email

log = logging.getLogger(__name__)

DOCUMENT_PATH = "/mon-compte/documents/"
MEMBERSHIPS_PATH = "/mon-compte/adhesions"
S3_PREFIX = "documents"
LEASE = timedelta(seconds=30)  # longer than any render; a stalled issuer loses it after that
WAIT_SECONDS = 20.0  # how long an issuer waits for the series before giving up (under the API's 28 s)
LINK_SECONDS = 300


class NoQuote(DomainError):
    status = 409
    message = "Nous ne pouvons pas établir de devis en ligne pour le moment : contactez-nous."


class NotPaidYet(DomainError):
    status = 409
    message = "L'attestation d'adhésion est disponible une fois la cotisation réglée."


# --- issuing (shared) ------------------------------------------------------------------


def _derived_id(rt: Runtime, *parts: str) -> str:
    """A document id derived from what makes it unique, so that a retry cannot issue it twice,
    keyed by the installation's random key, so that nobody can work it out from an organisation
    and a year (128 bits; the organisation check on every download stays the barrier)."""
    return hmac.new(rt.document_id_key, "|".join(parts).encode(), hashlib.sha256).hexdigest()[:32]


def _record(document, pdf: bytes, key: str, issued_at, **extra) -> StoredDocument:
    return StoredDocument(
        document_id=document.document_id, kind=document.kind, number=document.number,
        org_id=document.org_id, year=document.year, issued_at=issued_at, total=document.totals.gross,
        sha256=hashlib.sha256(pdf).hexdigest(), s3_key=key, content=document, **extra,
    )


def _pause(rt: Runtime, attempt: int) -> float:
    """Wait before asking for the series again: 20 ms doubling to 0.5 s, with jitter; return the
    time slept (counted too, so that a runtime whose sleep is instant still gives up)."""
    seconds = min(0.02 * 2 ** min(attempt, 5), 0.5) * (0.5 + random.random())
    rt.sleep(seconds)
    return seconds


def _issue(rt: Runtime, draft, document_id: str, journal: Callable[[StoredDocument], AuditEvent] | None = None,
           **extra) -> StoredDocument:
    """Number, render, store and record ``draft`` as one document; return its record.

    ``journal`` gives the audit event of the issue, written in the numbering transaction.
    Raises AlreadyExists (nothing written) when a document with ``document_id`` exists.
    """
    series = series_for(draft.kind, draft.issued_on)
    holder = rt.id_factory()
    deadline = time.monotonic() + WAIT_SECONDS
    attempt, waited = 0, 0.0
    while True:
        attempt += 1
        now = rt.clock()
        try:
            last = rt.documents.lock_series(series, holder, now, now + LEASE)
        except SeriesBusy:
            if time.monotonic() > deadline or waited > WAIT_SECONDS:
                raise
            waited += _pause(rt, attempt)
            continue
        except BaseException:
            # The lease may be ours with only the answer lost: give it back rather than let the
            # series wait for it to run out (the release is conditional on our holder id).
            _undo(rt, series, holder, "")
            raise
        key = ""
        try:
            document = replace(draft, document_id=document_id,
                               number=format_number(draft.kind, draft.issued_on, last + 1))
            pdf = rt.pdf.render(document)
            new_key = rt.storage.new_key(f"{S3_PREFIX}/{draft.kind.value}", draft.org_id)
            stale = rt.documents.note_upload(series, holder, document_id, new_key)  # before the upload
            if stale:
                _remove_orphan(rt, series, *stale)
            key = new_key
            rt.storage.put(key, pdf)
            stored = _record(document, pdf, key, now, **extra)
            rt.documents.add_numbered(stored, series, last, holder, effects=[journal(stored)] if journal else [])
            return stored
        except BaseException as error:
            if key and not isinstance(error, DomainError) and _committed(rt, document_id, key):
                return _existing(rt, document_id)  # the commit went through; only its answer was lost
            _undo(rt, series, holder, key)
            if isinstance(error, ConcurrentUpdate) and time.monotonic() < deadline:
                continue  # the lease expired under us: start again with the new number
            raise


def _committed(rt: Runtime, document_id: str, key: str) -> bool:
    """Whether the record pointing at ``key`` exists (a transaction may succeed and still raise)."""
    try:
        found = rt.documents.get(document_id)
    except Exception:  # cannot tell: keep the upload rather than risk a record without its PDF
        log.exception("could not check whether document %s was recorded", document_id)
        return True
    return found is not None and found.s3_key == key


def _remove_orphan(rt: Runtime, series: str, document_id: str, key: str) -> bool:
    """Delete an upload an earlier issuer left behind, unless its record was written after all."""
    if _committed(rt, document_id, key):
        rt.documents.forget_upload(series, key)
        return False
    rt.storage.delete(key)
    rt.documents.forget_upload(series, key)
    log.warning("removed the orphan upload %s of series %s (its issuer stopped before the record)", key, series)
    return True


def remove_orphan_uploads(rt: Runtime) -> int:
    """The reconciler's sweep: uploads whose issuer's lease ran out before the record was written."""
    removed = 0
    for series, document_id, key in rt.documents.stale_uploads(rt.clock()):
        try:
            removed += _remove_orphan(rt, series, document_id, key)
        except Exception:
            log.exception("orphan upload %s not removed, next run tries again", key)
    return removed


def remove_unrecorded_uploads(rt: Runtime, older_than: timedelta = timedelta(hours=1),
                              looked_back: timedelta = timedelta(days=2)) -> int:
    """The net under ``remove_orphan_uploads``: a document PDF uploaded between ``looked_back``
    and ``older_than`` ago that no record holds is deleted. The series' note of an upload can be
    lost in an outage (the note replaced before the orphan it named was removed, or given back
    when its deletion failed to answer); the bucket itself cannot. Issuers finish within their
    30-second lease, so an hour-old upload without a record has none coming. Returns how many."""
    removed = 0
    held: dict[str, set[str]] = {}
    now = rt.clock()
    for key in rt.storage.written_between(S3_PREFIX + "/", now - looked_back, now - older_than):
        parts = key.split("/")  # documents/<kind>/<org_id>/<random>.pdf
        if len(parts) != 4:
            continue
        if parts[2] not in held:
            held[parts[2]] = {d.s3_key for d in rt.documents.for_organisation(parts[2])}
        if key not in held[parts[2]]:
            rt.storage.delete(key)
            log.warning("removed the document upload %s: no record holds it", key)
            removed += 1
    return removed


def _undo(rt: Runtime, series: str, holder: str, key: str) -> None:
    """After a failure before commit: delete the upload and give the lease back (best effort).
    An upload that could not be deleted stays noted on the series: the next issuer, or the
    reconciler, removes it."""
    deleted = True
    if key:
        try:
            rt.storage.delete(key)
        except Exception:
            deleted = False
            log.exception("could not delete the unused document upload %s", key)
    try:
        rt.documents.unlock_series(series, holder, keep_pending=not deleted)
    except Exception:  # the lease runs out by itself
        log.exception("could not release the lease on %s", series)


def _existing(rt: Runtime, document_id: str) -> StoredDocument:
    found = rt.documents.get(document_id)
    if found is None:  # AlreadyExists said otherwise: consistent read should see it
        raise ConcurrentUpdate()
    return found


def _organisation(rt: Runtime, org_id: str) -> Organisation:
    org = rt.organisations.get(org_id)
    if org is None:
        raise NotFound("Structure introuvable.")
    return org


# --- quotes ----------------------------------------------------------------------------


def quote_year(rt: Runtime, paid_years: set[int]) -> int:
    """The year a quote is for: the year to renew, else (all paid until now) the next one."""
    opening = CampaignOpening.parse(rt.association().campaign_opening)
    today = rt.today()
    year = renewal_year(today, opening, paid_years)
    if year is None:
        year = today.year + 1
        if year in paid_years:
            raise NoQuote(f"Votre adhésion {year} est déjà enregistrée : aucun devis à établir.")
    return year


def get_or_create_quote(rt: Runtime, org_id: str, year: int | None = None) -> Quote:
    """The quote for ``year`` (default: the year to renew); the same one while nothing changed."""
    org = _organisation(rt, org_id)
    if not org.active:
        raise OrganisationInactive()
    history = rt.memberships.for_organisation(org_id)
    basis = last_validated(history)
    if basis is None:
        raise NoQuote("Aucune adhésion validée ne permet d'établir le devis en ligne : contactez-nous.")
    if year is None:
        year = quote_year(rt, {m.year for m in history if m.counts})
    tier = rt.tariffs.grid(year).tier(basis.tier_code)
    if tier is None:
        raise NoQuote(f"Les tarifs {year} de votre tranche ne sont pas encore publiés : contactez-nous.")
    settings = rt.association()
    today = rt.today()
    draft = build_quote(settings=settings, org=org, year=year, tier_code=tier.code, tier_label=tier.label,
                        amount=tier.amount, today=today)
    for existing in reversed(rt.documents.for_organisation(org_id)):
        if existing.kind is DocumentKind.QUOTE and existing.fingerprint == draft.fingerprint \
                and existing.content.valid_on(today):
            return existing.content
    document_id = _derived_id(rt, "quote", draft.fingerprint, today.isoformat())
    try:
        stored = _issue(rt, draft, document_id, fingerprint=draft.fingerprint)
    except AlreadyExists:  # the same quote, issued meanwhile (double click)
        stored = _existing(rt, document_id)
    return stored.content


def prepare_quote(rt: Runtime, org_id: str) -> Quote | None:
    """Make the organisation's quote ahead of « Éditer un devis » (a task: after the campaign
    notice, a published tariff grid, a billing change); None when there is none to make. The
    click then finds it by its fingerprint and renders nothing."""
    org = rt.organisations.get(org_id)
    if org is not None:
        chorus.warm_directory(rt, org)  # a public buyer's form then finds its structure at once
    try:
        return get_or_create_quote(rt, org_id)
    except (NoQuote, OrganisationInactive, NotFound):
        return None


# --- invoices and credit notes ---------------------------------------------------------


def issue_invoice(rt: Runtime, *, org_id: str, year: int, tier_code: str, tier_label: str, amount: Decimal,
                  po_number: str = "", service_code: str = "", request_id: str | None = None,
                  actor: str = "system") -> Invoice:
    """Issue the membership invoice and tell the organisation's contacts it is available.

    ``service_code`` defaults to the organisation's. With ``request_id``, a second call for
    the same request returns the invoice already issued (no second number, no second email).
    """
    errors = check_invoice_input(amount=amount, year=year, tier_label=tier_label, po_number=po_number,
                                 service_code=service_code)
    if errors:
        raise ValidationError(errors)
    org = _organisation(rt, org_id)
    draft = build_invoice(
        settings=rt.association(), org=org, year=year, tier_code=tier_code, tier_label=tier_label,
        amount=to_money(amount), today=rt.today(), po_number=po_number,
        service_code=service_code or org.service_code, request_id=request_id or "",
    )
    document_id = _derived_id(rt, "invoice", request_id) if request_id else rt.id_factory()
    if request_id and (already := rt.documents.get(document_id)) is not None:
        _announce(rt, org, already)  # in case a crash came between (each email sent once)
        return already.content
    try:
        stored = _issue(rt, draft, document_id, request_id=request_id or "", journal=lambda issued: event(
            rt, "document.invoice_issued", actor=actor, target=issued.number, org_id=org_id,
            after={"number": issued.number, "year": year, "total": str(issued.content.totals.gross),
                   "sha256": issued.sha256, "request_id": request_id or ""}))
    except AlreadyExists:
        stored = _existing(rt, document_id)
        _announce(rt, org, stored)
        return stored.content
    invoice: Invoice = stored.content
    _announce(rt, org, stored)
    return invoice


def _announce(rt: Runtime, org: Organisation, stored: StoredDocument) -> None:
    """The invoice to whoever pays it (Chorus Pro for a public buyer, else its billing address),
    then the notice to the contacts who did not get it."""
    chorus.schedule(rt, org, stored)
    payer = _send_to_payer(rt, org, stored) if _emailed_to_payer(rt, org) else ""
    _send_invoice_available(rt, org, stored.content, skip=payer)


def _emailed_to_payer(rt: Runtime, org: Organisation) -> bool:
    """A public buyer's invoices go to Chorus Pro, where its accountant takes them: an email to
    its billing address as well only if the deployment asks for it (``chorus_also_email``)."""
    return not chorus.goes_to_chorus(rt, org) or rt.config.chorus_also_email


def ensure_announced(rt: Runtime, invoice_number: str) -> bool:
    """Send the invoice's emails that never reached the outbox (a crash or an outage between the
    invoice and its emails, or in the middle of them): the one to the billing address and each
    contact's notice. True when something was missing and is now queued."""
    stored = rt.documents.by_number(invoice_number) if invoice_number else None
    if stored is None or stored.kind is not DocumentKind.INVOICE:
        return False
    org = _organisation(rt, stored.org_id)
    missing_deposit = chorus.ensure_scheduled(rt, org, stored)
    payer = (stored.content.buyer.email or org.invoice_email).strip() if _emailed_to_payer(rt, org) else ""
    expected = ([_payer_message_id(stored)] if payer else []) + [
        _notice_message_id(stored.content, c) for c in _notice_contacts(rt, org, payer)]
    if all(rt.outbox.get(message_id) is not None for message_id in expected):
        return missing_deposit
    _announce(rt, org, stored)
    return all(rt.outbox.get(message_id) is not None for message_id in expected)


def ensure_credit_note_sent(rt: Runtime, invoice_number: str) -> bool:
    """The credit note that cancelled ``invoice_number``, delivered if it never was (its deposit
    on Chorus Pro scheduled, or its email to the billing address queued). True when something
    was missing and is now done."""
    number = rt.payments.credit_note_for(invoice_number) if invoice_number else ""
    stored = rt.documents.by_number(number) if number else None
    if stored is None or stored.kind is not DocumentKind.CREDIT_NOTE:
        return False
    org = _organisation(rt, stored.org_id)
    if chorus.goes_to_chorus(rt, org):
        return chorus.ensure_scheduled(rt, org, stored)
    if not _emailed_to_payer(rt, org) or rt.outbox.get(_payer_message_id(stored)) is not None:
        return False
    return bool(_send_to_payer(rt, org, stored))


def stored_pdf(rt: Runtime, stored: StoredDocument) -> bytes:
    """The document's bytes as issued (never a re-render), checked against the recorded SHA-256."""
    pdf = rt.storage.get(stored.s3_key)
    if hashlib.sha256(pdf).hexdigest() != stored.sha256:
        raise RuntimeError(f"{stored.number}: the stored PDF does not match its recorded SHA-256")
    return pdf


def _payer_kind(stored: StoredDocument) -> str:
    """The email (kind and template) a document goes to its payer with."""
    return "credit_note_to_payer" if stored.kind is DocumentKind.CREDIT_NOTE else "invoice_to_payer"


def _payer_message_id(stored: StoredDocument) -> str:
    """Its outbox id, derived from the document: sent once per document, whatever the retries."""
    return f"{_payer_kind(stored)}.{stored.number}"


def _send_to_payer(rt: Runtime, org: Organisation, stored: StoredDocument) -> str:
    """The invoice or credit note to the billing address, with its PDF unless the organisation
    asked for the email alone; return that address ("" if it could not be queued).

    The address is the one printed on the document (the buyer's invoice email when it was
    issued). The outbox id is derived from the document's number: once per document, whatever
    the retries. A failure is logged, not raised: the document is issued; the outbox retries
    what it stored.
    """
    document = stored.content
    kind = _payer_kind(stored)
    address = (document.buyer.email or org.invoice_email).strip()
    if not address:
        return ""
    try:
        attachments = ((f"{document.number}.pdf", stored_pdf(rt, stored)),) if org.attach_invoices else ()
        names = {"credit_note": document} if stored.kind is DocumentKind.CREDIT_NOTE else {"invoice": document}
        send_email(rt, kind=kind, template=kind, recipients=[address], message_id=_payer_message_id(stored),
                   attachments=attachments, organisation=org, totals=document.totals,
                   attached=bool(attachments), **names)
    except Exception:
        log.exception("%s: email to the billing address not queued", document.number)
        return ""
    return address


def _notice_contacts(rt: Runtime, org: Organisation, skip: str) -> list[Contact]:
    """The contacts told « Votre facture est disponible »: active ones, but whoever has the
    billing address (``skip``), who gets the invoice itself."""
    return [c for c in rt.contacts.for_organisation(org.org_id)
            if c.active and c.role is Role.CONTACT and c.email.lower() != skip.lower()]


def _notice_message_id(invoice: Invoice, contact: Contact) -> str:
    return f"invoice.{invoice.number}.{contact.contact_id}"


def _send_invoice_available(rt: Runtime, org: Organisation, invoice: Invoice, skip: str = "") -> None:
    """« Votre facture est disponible » to each active contact: a link to « Mes adhésions », never the PDF.

    A contact whose address is the billing address (``skip``) already got the invoice itself:
    one email, not two. The outbox id is derived from the invoice and the contact: calling
    this again after a crash queues nothing twice and sends only what was still pending.
    """
    for contact in _notice_contacts(rt, org, skip):
        try:
            send_email(rt, kind="invoice_available", template="invoice_available", recipients=[contact.email],
                       message_id=_notice_message_id(invoice, contact), contact=contact, organisation=org,
                       invoice=invoice, totals=invoice.totals, chorus=chorus.goes_to_chorus(rt, org),
                       link=f"{rt.config.base_url}{MEMBERSHIPS_PATH}")
        except Exception:  # the invoice is issued; a lost notice must not turn it into an error
            log.exception("invoice %s: notice to a contact not queued", invoice.number)


def issue_credit_note(rt: Runtime, invoice_number: str, reason: str, *, actor: str = "system") -> CreditNote:
    """Cancel a whole invoice with a credit note quoting its number and date (one per invoice)."""
    errors = check_reason(reason)
    if errors:
        raise ValidationError(errors)
    found = rt.documents.by_number(invoice_number.strip()) if invoice_number.strip() else None
    if found is None or found.kind is not DocumentKind.INVOICE:
        raise NotFound("Facture introuvable.")
    draft = build_credit_note(found.content, reason=reason, today=rt.today())
    document_id = _derived_id(rt, "credit_note", found.number)
    try:
        stored = _issue(rt, draft, document_id, related_number=found.number, journal=lambda issued: event(
            rt, "document.credit_note_issued", actor=actor, target=issued.number, org_id=found.org_id,
            after={"number": issued.number, "invoice": found.number, "reason": reason, "sha256": issued.sha256}))
    except AlreadyExists:  # issued by an earlier try: its email is queued once, whatever the retries
        existing = _existing(rt, document_id)
        _credit_note_to_payer(rt, _organisation(rt, found.org_id), existing)
        return existing.content
    _credit_note_to_payer(rt, _organisation(rt, found.org_id), stored)
    return stored.content


def _credit_note_to_payer(rt: Runtime, org: Organisation, stored: StoredDocument) -> None:
    """Like the invoice: to Chorus Pro for a public buyer (the cancelled invoice's deposit then
    needs no more action), else by email to the billing address."""
    chorus.schedule(rt, org, stored)
    chorus.resolve(rt, stored.related_number, stored.number)
    if _emailed_to_payer(rt, org):
        _send_to_payer(rt, org, stored)


# --- certificates ----------------------------------------------------------------------


def issue_certificate(rt: Runtime, org_id: str, year: int) -> Certificate:
    """The membership certificate of ``year``, once it is paid (the same one when asked again)."""
    org = _organisation(rt, org_id)
    membership = next((m for m in rt.memberships.for_organisation(org_id) if m.year == year), None)
    if membership is None or membership.status is not MembershipStatus.PAID:
        raise NotPaidYet()
    document_id = _derived_id(rt, "certificate", org_id, str(year))
    existing = rt.documents.get(document_id)
    if existing is not None:
        return existing.content
    draft = build_certificate(settings=rt.association(), org=org, year=year, tier_label=membership.tier_label,
                              amount=membership.amount, today=rt.today())
    try:
        stored = _issue(rt, draft, document_id)
    except AlreadyExists:
        stored = _existing(rt, document_id)
    return stored.content


# --- listing and downloading -----------------------------------------------------------


def list_documents(rt: Runtime, org_id: str) -> dict[int, list[DocumentLink]]:
    """« Historique des adhésions »: each membership year's documents (label, url), in one query."""
    return history_documents(rt.documents.for_organisation(org_id), lambda r: DOCUMENT_PATH + r.document_id)


INVOICE_NUMBER = re.compile(r"FAC-\d{4}-\d{5}")


def invoice_download(rt: Runtime, session: Session, number: str) -> str:
    """« Télécharger la facture » from the renewal card: the invoice ``number`` of the session's
    organisation, as ``download`` gives it (another organisation's number: NotFound)."""
    found = rt.documents.by_number(number) if INVOICE_NUMBER.fullmatch(number) else None
    if found is None or found.kind is not DocumentKind.INVOICE:
        raise NotFound("Document introuvable.")
    return download(rt, session, found.document_id)


def download(rt: Runtime, session: Session, document_id: str) -> str:
    """A presigned link to the PDF, valid at most 5 minutes, if the document is the session's.

    Contacts only ever get their organisation's documents; staff get any. Another
    organisation's document and an unknown id give the same NotFound.
    """
    found = rt.documents.get(document_id) if 0 < len(document_id) <= 64 and document_id.isalnum() else None
    allowed = found is not None and (session.role == Role.STAFF.value or found.org_id == session.org_id)
    if not allowed:
        raise NotFound("Document introuvable.")
    link = rt.storage.download_url(found.s3_key, found.filename, seconds=LINK_SECONDS,
                                   content_type="application/pdf")
    # who downloaded what; never the link itself (it is a bearer credential for 5 minutes)
    record(rt, "document.downloaded", actor=session.contact_id, target=found.number, org_id=found.org_id,
           kind=found.kind.value, year=found.year)
    return link
