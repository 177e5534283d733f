"""Chorus Pro: the directory behind the public buyers' forms, and each invoice deposited then
followed to « Mise en paiement ».

Use cases:

- ``look_up`` — a SIRET in the directory (cached ten minutes per process): the renewal form,
  the staff organisation form and the CSV import check a public buyer with it;
- ``schedule`` — after an invoice or credit note of a public buyer is issued: its deposit is
  recorded as waiting and a task deposits it within seconds;
- ``deposit`` — the task: the stored Factur-X PDF (never re-rendered, its SHA-256 checked) is
  deposited once. Before any new try after a try whose answer never came, the platform is
  asked whether it has the document; the try is recorded (a claim with the time) *before* the
  call, so a crash or a lost answer is always followed by that look-up;
- ``follow`` — scheduled: each open deposit moves on (a failed deposit tried again with
  backoff, a flow's report read, the invoice's statuses read); a rejection or a suspension
  emails staff once with the platform's reason and marks the request « action requise »;
- ``resolve`` — a credit note cancelling a rejected invoice closes its deposit.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import timedelta

from ..domain.chorus import (
    ALERT_STATUSES,
    FLOW_INTEGRATED,
    FLOW_REJECTED,
    LOST_ANSWER_GRACE,
    Deposit,
    DirectoryAnswer,
    StatusEvent,
    retry_delay,
)
from ..domain.documents import DocumentKind, StoredDocument
from ..domain.errors import AlreadyExists, ConcurrentUpdate
from ..domain.model import Organisation
from ..runtime import Runtime
from .audit import record
from .mail import send_email

log = logging.getLogger(__name__)

REQUESTS_PATH = "/admin/demandes"
CLAIM = timedelta(minutes=2)  # longer than a deposit call with its retries (3 × 20 s)
DIRECTORY_TTL = 600.0  # seconds, in the process
DIRECTORY_KEPT = timedelta(days=1)  # in DynamoDB
NOT_CONFIGURED = "Chorus Pro n'est pas configuré (adresse de l'API ou identifiants manquants)."
_directory_cache: dict[str, tuple[float, DirectoryAnswer]] = {}


def enabled(rt: Runtime) -> bool:
    return rt.config.chorus_configured


def goes_to_chorus(rt: Runtime, org: Organisation) -> bool:
    """Whether this organisation's invoices are deposited on Chorus Pro (public buyers)."""
    return org.public_buyer


# --- directory -----------------------------------------------------------------------


def look_up(rt: Runtime, siret: str) -> DirectoryAnswer:
    """What the directory says about ``siret``: ``unavailable`` (never raises) when Chorus Pro is
    not configured or does not answer.

    A structure found is kept ten minutes in the process and a day in DynamoDB
    (``chorus_directory``), so that a form seldom waits for the platform's three calls; the task
    that prepares an organisation's quote after the campaign notice looks it up ahead of the
    member. An unknown SIRET is kept in the process only (it may be registered tomorrow)."""
    siret = siret.strip()
    cached = _directory_cache.get(siret)
    if cached and time.monotonic() - cached[0] < DIRECTORY_TTL:
        return cached[1]
    try:
        stored = rt.chorus_directory.get(siret)
    except Exception:  # the table is a shortcut: without it, ask the platform
        log.exception("Chorus Pro directory cache not read for %s", siret)
        stored = None
    if stored is not None and rt.clock() - stored[1] < DIRECTORY_KEPT:
        answer = DirectoryAnswer("found", siret, stored[0])
        _directory_cache[siret] = (time.monotonic(), answer)
        return answer
    return _look_up_live(rt, siret)


def _look_up_live(rt: Runtime, siret: str) -> DirectoryAnswer:
    from ..domain.chorus import ChorusProError

    if rt.chorus is None:
        return DirectoryAnswer("unavailable", siret, problem=NOT_CONFIGURED)
    try:
        structure = rt.chorus.structure(siret)
    except ChorusProError as error:
        log.warning("Chorus Pro directory look-up of %s failed: %s", siret, error.message)
        return DirectoryAnswer("unavailable", siret, problem=error.message)
    except Exception as error:  # a bug or an odd answer must not block a member's form
        log.exception("Chorus Pro directory look-up of %s failed", siret)
        return DirectoryAnswer("unavailable", siret, problem=str(error))
    answer = DirectoryAnswer("found", siret, structure) if structure else DirectoryAnswer("unknown", siret)
    _directory_cache[siret] = (time.monotonic(), answer)
    if structure is not None:
        now = rt.clock()
        try:
            rt.chorus_directory.put(structure, now, now + DIRECTORY_KEPT * 7)
        except Exception:
            log.exception("Chorus Pro directory answer for %s not kept", siret)
    return answer


def warm_directory(rt: Runtime, org: Organisation) -> None:
    """Look a public buyer up ahead of its form (the quote-preparation task); never raises."""
    if org.public_buyer and len(org.siret) == 14 and org.siret.isdigit():
        look_up(rt, org.siret)


def forget_directory() -> None:
    """Drop the answers kept in this process (tests)."""
    _directory_cache.clear()


# --- deposit ---------------------------------------------------------------------------


def schedule(rt: Runtime, org: Organisation, stored: StoredDocument) -> Deposit | None:
    """Record the deposit of a public buyer's invoice or credit note and queue it (once per
    document: a second call changes nothing). Never raises: ``follow`` deposits what is waiting."""
    from . import tasks

    if not goes_to_chorus(rt, org) or stored.kind not in (DocumentKind.INVOICE, DocumentKind.CREDIT_NOTE):
        return None
    deposit = Deposit(number=stored.number, document_id=stored.document_id, kind=stored.kind.value,
                      org_id=stored.org_id, year=stored.year, created_at=rt.clock(),
                      request_id=stored.request_id)
    try:
        rt.chorus_deposits.add(deposit)
    except AlreadyExists:  # recorded (and queued) by an earlier call
        return rt.chorus_deposits.get(stored.number)
    except Exception:
        log.exception("%s: Chorus Pro deposit not recorded; the reconciler records it", stored.number)
        return None
    try:
        tasks.enqueue(rt, tasks.Task(tasks.CHORUS_DEPOSIT, {"number": stored.number}))
    except Exception:
        log.exception("%s: Chorus Pro deposit not queued; the follow-up deposits it", stored.number)
    return rt.chorus_deposits.get(stored.number)


def ensure_scheduled(rt: Runtime, org: Organisation, stored: StoredDocument) -> bool:
    """The reconciler's check: a public buyer's document issued without its deposit record."""
    if not goes_to_chorus(rt, org) or rt.chorus_deposits.get(stored.number) is not None:
        return False
    return schedule(rt, org, stored) is not None


def _claim(rt: Runtime, deposit: Deposit, holder: str) -> Deposit | None:
    """Take the deposit for one try (recording the try's start); None if another worker has it."""
    now = rt.clock()
    tried = replace(deposit, attempt_started_at=now, attempts=deposit.attempts + 1)
    try:
        return rt.chorus_deposits.save(tried, claimed_by=holder, claimed_until=now + CLAIM, claim_free_at=now)
    except ConcurrentUpdate:
        return None


def _save(rt: Runtime, deposit: Deposit) -> Deposit:
    return rt.chorus_deposits.save(deposit)


def deposit(rt: Runtime, number: str) -> Deposit | None:
    """Deposit the document ``number`` if it is not already on the platform (the task)."""
    from ..domain.chorus import ChorusProError, ChorusProRefused

    current = rt.chorus_deposits.get(number)
    if current is None or current.flux or current.final or current.cpp_id:
        return current
    now = rt.clock()
    if rt.chorus is None:
        return _save(rt, replace(current, last_error=NOT_CONFIGURED, next_try_at=now + retry_delay(current.attempts + 1)))
    earlier_try = current.attempt_started_at
    claimed = _claim(rt, current, rt.id_factory())
    if claimed is None:
        return current  # another worker is on it
    try:
        if earlier_try is not None:  # a try whose outcome we never heard: ask before depositing again
            found = _found_on_platform(rt, claimed)
            if found is not None:
                return found
            if now - earlier_try < LOST_ANSWER_GRACE:
                return _save(rt, replace(claimed, attempt_started_at=earlier_try, attempts=current.attempts,
                                         next_try_at=earlier_try + LOST_ANSWER_GRACE))
        stored = rt.documents.by_number(number)
        if stored is None:
            raise RuntimeError(f"{number}: no such document")
        from .documents import stored_pdf

        answer = rt.chorus.deposit(stored_pdf(rt, stored), f"{number}.pdf")
    except ChorusProError as error:
        permanent = isinstance(error, ChorusProRefused)
        log.warning("chorus deposit failed: %s (%s)", number, error.message)
        failed = replace(claimed, last_error=error.message,
                         next_try_at=rt.clock() + retry_delay(claimed.attempts * (2 if permanent else 1)))
        if permanent or error.status:  # the platform answered: it has nothing, the next try needs no look-up
            failed = replace(failed, attempt_started_at=None)
        return _save(rt, failed)
    except Exception:
        log.exception("chorus deposit failed: %s", number)
        return _save(rt, replace(claimed, last_error="Erreur interne lors du dépôt : nouvel essai automatique.",
                                 next_try_at=rt.clock() + retry_delay(claimed.attempts)))
    sent = _save(rt, replace(claimed, flux=answer.flux, deposited_at=rt.clock(), last_error="", next_try_at=None))
    record(rt, "chorus.deposited", actor="system", target=number, org_id=sent.org_id,
           after={"flux": answer.flux, "attempts": sent.attempts})
    try:
        return follow_one(rt, sent)
    except Exception:  # the follow-up reads the report later
        log.exception("%s: flow report not read yet", number)
        return sent


def _platform_kind(deposit: Deposit) -> str:
    return "AVOIR" if deposit.kind == "credit_note" else "FACTURE"


def _found_on_platform(rt: Runtime, deposit: Deposit) -> Deposit | None:
    """The deposit completed from the platform's own record of the document, if it has one."""
    matches = [f for f in rt.chorus.find_invoices(number=deposit.number)
               if f.number == deposit.number and f.kind in ("", _platform_kind(deposit))]
    if not matches:
        return None
    found = matches[-1]
    adopted = _save(rt, replace(deposit, flux=found.flux or deposit.flux, deposited_at=deposit.deposited_at
                                or deposit.attempt_started_at or rt.clock(), cpp_id=found.cpp_id,
                                flow_state="IN_INTEGRE", flow_errors=(), status=found.status, last_error="",
                                next_try_at=None))
    log.info("%s: found on Chorus Pro (flow %s), not deposited again", deposit.number, found.flux)
    return follow_one(rt, adopted)


# --- follow-up -------------------------------------------------------------------------


def follow_one(rt: Runtime, deposit: Deposit) -> Deposit:
    """Move one deposited document on from what the platform says now."""
    if deposit.final or not deposit.flux:
        return deposit
    if deposit.cpp_id is None:
        report = rt.chorus.flow_report(deposit.flux)
        if report.state in FLOW_REJECTED:
            adopted = _found_on_platform(rt, deposit)  # e.g. a duplicate of a deposit that did get in
            if adopted is not None:
                return adopted
            rejected = _save(rt, replace(deposit, flow_state=report.state, flow_errors=report.errors))
            _alert(rt, rejected, "flow_rejected", rejected.reason)
            return rejected
        if report.state not in FLOW_INTEGRATED:
            return _save(rt, replace(deposit, flow_state=report.state)) if report.state != deposit.flow_state else deposit
        found = [f for f in rt.chorus.find_invoices(flux=deposit.flux) if f.number == deposit.number]
        if not found:
            return _save(rt, replace(deposit, flow_state=report.state)) if report.state != deposit.flow_state else deposit
        deposit = _save(rt, replace(deposit, flow_state=report.state, cpp_id=found[0].cpp_id, status=found[0].status))
    current, events = rt.chorus.history(deposit.cpp_id)
    new = deposit.new_events(events)
    if not new and current == deposit.status:
        return deposit
    moved = _save(rt, deposit.with_history(events, current))
    for event in new:
        record(rt, "chorus.status", actor="chorus-pro", target=moved.number, org_id=moved.org_id,
               after={"status": event.status, "at": event.at.isoformat(), "comment": event.comment})
        if event.status in ALERT_STATUSES:
            _alert(rt, moved, f"{event.status}.{event.at:%Y%m%dT%H%M%S}", event.comment, event)
    return moved


def follow(rt: Runtime) -> dict[str, int]:
    """The scheduled follow-up: deposit what waits, read what moved. One failure never stops the rest."""
    from ..domain.chorus import ChorusProUnavailable

    done = {"deposited": 0, "moved": 0, "failed": 0}
    if rt.chorus is None:
        return done
    now = rt.clock()
    for d in rt.chorus_deposits.open():
        try:
            if not d.flux:
                if d.next_try_at is None or d.next_try_at <= now:
                    after = deposit(rt, d.number)
                    done["deposited"] += bool(after and after.flux)
            else:
                done["moved"] += follow_one(rt, d).version != d.version
        except ChorusProUnavailable as error:
            log.warning("chorus follow-up of %s: %s", d.number, error.message)
            done["failed"] += 1
        except Exception:
            log.exception("chorus follow-up of %s failed; next run tries again", d.number)
            done["failed"] += 1
    return done


def _alert(rt: Runtime, deposit: Deposit, occurrence: str, reason: str, event: StatusEvent | None = None) -> None:
    """Email staff once per occurrence (the outbox id is derived from it)."""
    log.warning("chorus rejected or suspended: %s %s (%s)", deposit.number, occurrence, reason)
    settings = rt.association()
    to = (settings.staff_notification_email or settings.contact_email).strip()
    if not to:
        return
    org = rt.organisations.get(deposit.org_id)
    link = f"{rt.config.base_url}{REQUESTS_PATH}/{deposit.org_id}/{deposit.year}" if deposit.request_id else \
        f"{rt.config.base_url}/admin/structures/{deposit.org_id}"
    try:
        send_email(rt, kind="chorus_alert", template="chorus_alert", recipients=[to],
                   message_id=f"chorus.{deposit.number}.{occurrence}", deposit=deposit, event=event,
                   reason=reason or "aucun motif donné", organisation=org, link=link)
    except Exception:
        log.exception("%s: Chorus Pro alert to staff not queued", deposit.number)


def resolve(rt: Runtime, invoice_number: str, credit_note_number: str) -> None:
    """A credit note cancelled the invoice: its deposit needs no more action nor follow-up."""
    for _ in range(3):
        current = rt.chorus_deposits.get(invoice_number)
        if current is None or current.resolved_by:
            return
        try:
            _save(rt, replace(current, resolved_by=credit_note_number))
            return
        except ConcurrentUpdate:
            continue


def for_numbers(rt: Runtime, numbers) -> dict[str, Deposit]:
    try:
        return rt.chorus_deposits.many(numbers)
    except Exception:  # a page shows the rest without it
        log.exception("Chorus Pro deposits not read")
        return {}
