"""Renewal requests: « Renouveler l'adhésion » → « Enregistrer ma demande », and what follows.

Use cases (``org_id`` always comes from the caller's session or a staff page, never from
a member's form):

- ``renewal_status`` — what « Mes adhésions » shows: the season, its request, the next step;
- ``start_renewal`` — the pre-filled form, or the season's existing request;
- ``submit_renewal_request`` — save the request, then mail the submitter, the other
  contacts and staff. A second submission for the season (another contact, a double click,
  a second tab) returns the existing request instead of creating one;
- ``record_purchase_order`` — a PO number and/or PDF, from a member or staff;
- ``decide_tier`` — staff settle a requested tier change;
- ``mark_invoiced`` — called by the documents service once it has issued the invoice;
- ``mark_paid`` — called by the payments service once the invoice is fully paid;
- ``cancel_request`` — staff cancel; the member may then submit again.

Decisions:

- Corrected billing details update the organisation itself (for every later quote and
  invoice), in the same DynamoDB transaction that stores the request, and the request
  keeps its own snapshot: the invoice of this request is made from what the member
  confirmed when submitting, whatever happens to the organisation later.
- The request is saved before any email: emails go through the outbox (``services.mail``),
  so an SES failure only delays them; an outbox failure is logged, never turns a saved
  request into an error page. Outbox ids are derived from the request, so an email is
  queued at most once per request and recipient.
- Nothing here extends a membership: memberships change only on explicit events
  (validation, payment) handled elsewhere.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from ..domain.association import PAYMENT_METHOD_LABELS
from ..domain.chorus import DirectoryAnswer
from ..domain.errors import (
    AlreadyExists,
    ConcurrentUpdate,
    DomainError,
    Forbidden,
    NotFound,
    OrganisationInactive,
    ValidationError,
)
from ..domain.model import Contact, Membership, Organisation, Tier, last_validated
from ..domain.outbox import OutboxMessage
from ..domain.renewal import InvalidTransition, RequestEvent, RequestState
from ..domain.renewal_request import (
    BillingDetails,
    RenewalForm,
    RenewalRequest,
    Submission,
    check_purchase_order,
    check_submission,
    new_request,
    offered_tier,
)
from ..domain.season import CampaignOpening, campaign_opens_on, renewal_year
from ..domain.security import hash_token
from ..runtime import Runtime
from . import chorus, documents, mail, tasks
from .audit import event
from .mail import send_email

log = logging.getLogger(__name__)

MEMBERSHIPS_PATH = "/mon-compte/adhesions"
PURCHASE_ORDER_PREFIX = "purchase-orders"
_RETRIES = 5


class NothingToRenew(DomainError):
    status = 409
    message = "Il n'y a rien à renouveler pour le moment : votre adhésion est à jour."


class TariffsMissing(DomainError):
    status = 409

    def __init__(self, year: int):
        super().__init__(f"Les tarifs {year} ne sont pas encore publiés : réessayez dans quelques jours "
                         "ou contactez-nous.")


class PurchaseOrderNotAwaited(DomainError):
    status = 409
    message = ("Cette demande n'attend plus de bon de commande. Pour nous transmettre un document, "
               "écrivez-nous.")


# --- what « Mes adhésions » shows --------------------------------------------------------


@dataclass(frozen=True)
class RenewalStatus:
    """The organisation's renewal situation today."""

    year: int | None  # the season a renewal is for today; None when there is nothing to renew
    request: RenewalRequest | None  # that season's latest request (open, cancelled or paid)
    other_open: list[RenewalRequest]  # open requests of other seasons (e.g. last year's, unpaid)
    next_opening: date  # when the next season's campaign opens

    @property
    def can_renew(self) -> bool:
        """« Renouveler l'adhésion » is offered: a season is open and has no live request."""
        return self.year is not None and (self.request is None or self.request.state is RequestState.CANCELLED)


def _opening(rt: Runtime) -> CampaignOpening:
    return CampaignOpening.parse(rt.association().campaign_opening)


def _season(rt: Runtime, memberships: list[Membership], requests: list[RenewalRequest]) -> int | None:
    paid = {m.year for m in memberships if m.counts} | {r.year for r in requests if r.state is RequestState.PAID}
    return renewal_year(rt.today(), _opening(rt), paid)


def renewal_status(rt: Runtime, org_id: str, memberships: list[Membership]) -> RenewalStatus:
    """The season, its request and the other open requests of the organisation ``org_id``."""
    requests = rt.renewals.for_organisation(org_id)
    year = _season(rt, memberships, requests)
    latest = next((r for r in requests if r.year == year), None)  # newest attempt first
    others = [r for r in requests if r.is_open and r is not latest]
    today = rt.today()
    next_opening = campaign_opens_on(today.year + 1, _opening(rt))
    if next_opening <= today:
        next_opening = campaign_opens_on(today.year + 2, _opening(rt))
    return RenewalStatus(year, latest, others, next_opening)


# --- the form ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RenewalOffer:
    """Everything the renewal form shows, or the season's request if there is one already."""

    organisation: Organisation
    year: int
    tiers: list[Tier]  # the organisation's category in the year's grid
    offered: Tier | None
    last_validated: Membership | None
    payment_methods: list[tuple[str, str]]  # (code, French label)
    form: RenewalForm
    existing: RenewalRequest | None = None  # the season's live request, if any
    latest: RenewalRequest | None = None  # the season's latest attempt, live or cancelled
    directory: DirectoryAnswer | None = None  # a public buyer's structure in Chorus Pro


def _member(rt: Runtime, org_id: str, contact_id: str) -> tuple[Organisation, Contact]:
    org = rt.organisations.get(org_id)
    contact = rt.contacts.get(contact_id)
    if org is None:
        raise NotFound()
    if contact is None or contact.org_id != org_id or not contact.active:
        raise Forbidden()
    if not org.active:
        raise OrganisationInactive()
    return org, contact


def _offer(rt: Runtime, org: Organisation, memberships: list[Membership], requests: list[RenewalRequest],
           year: int) -> RenewalOffer:
    grid = rt.tariffs.grid(year)
    tiers = grid.for_category(org.category)
    if not tiers:
        raise TariffsMissing(year)
    basis = last_validated(memberships)
    offered = offered_tier(grid, org.category, basis.tier_code if basis else org.current_tier)
    previous = next((r for r in requests if r.state is not RequestState.CANCELLED), None)
    methods = [(code, PAYMENT_METHOD_LABELS.get(code, code)) for code in rt.association().payment_methods]
    latest = next((r for r in requests if r.year == year), None)  # newest attempt first
    existing = latest if latest is not None and latest.state is not RequestState.CANCELLED else None
    directory = buyer_directory(rt, org) if existing is None else None
    return RenewalOffer(org, year, tiers, offered, basis, methods,
                        RenewalForm.prefilled(org, offered, previous), existing, latest, directory)


def start_renewal(rt: Runtime, org_id: str, contact_id: str) -> RenewalOffer:
    """The pre-filled form for this season; ``existing`` is set when a request is already live.

    Raises NothingToRenew when no season is open for the organisation.
    """
    org, _ = _member(rt, org_id, contact_id)
    return _start(rt, org)


def _start(rt: Runtime, org: Organisation) -> RenewalOffer:
    memberships = rt.memberships.for_organisation(org.org_id)
    requests = rt.renewals.for_organisation(org.org_id)
    year = _season(rt, memberships, requests)
    if year is None:
        raise NothingToRenew()
    return _offer(rt, org, memberships, requests, year)


# --- « Enregistrer ma demande » ---------------------------------------------------------


@dataclass(frozen=True)
class SubmitResult:
    request: RenewalRequest
    created: bool  # False: the season already had a live request, which is returned


def submit_renewal_request(rt: Runtime, org_id: str, contact_id: str, answers: dict[str, str]) -> SubmitResult:
    """Save the renewal request of ``org_id`` for the open season, then send its emails.

    ``answers`` are the form's fields (see ``domain.renewal_request.FIELD_LIMITS``). Raises
    ValidationError (nothing saved) on bad answers, NothingToRenew when no season is open.
    """
    org, contact = _member(rt, org_id, contact_id)
    offer = _start(rt, org)
    if offer.existing is not None:
        return SubmitResult(offer.existing, False)
    submission = _checked(rt, org, offer, answers)
    # The next attempt after what this very read saw: only a cancelled (final) request lets
    # it go past 1, so every concurrent submitter competes for the same key.
    attempt = offer.latest.attempt + 1 if offer.latest is not None else 1
    request = new_request(submission, org=org, year=offer.year, attempt=attempt, offered=offer.offered,
                          contact_id=contact.contact_id, contact_name=contact.name, at=rt.clock())
    billing_changed = submission.billing != BillingDetails.of(org)
    journal = [event(rt, "renewal.submitted", actor=contact.contact_id, target=request.reference, org_id=org_id,
                     after={"state": request.state.value, "tier": request.tier_code,
                            "requested_tier": request.requested_tier_code, "payment_method": request.payment_method,
                            "wait_for_purchase_order": request.wait_for_purchase_order,
                            "purchase_order_number": request.purchase_order_number})]
    if billing_changed:
        journal.append(event(rt, "organisation.billing_updated", actor=contact.contact_id, target=org_id,
                             org_id=org_id, before=_billing_dict(BillingDetails.of(org)),
                             after=_billing_dict(submission.billing), request=request.reference))
    try:
        stored = rt.renewals.add(request, submission.billing.applied_to(org) if billing_changed else None,
                                 effects=journal)
    except AlreadyExists:
        winner = rt.renewals.latest(org_id, offer.year)
        if winner is None or winner.state is RequestState.CANCELLED:
            raise ConcurrentUpdate() from None
        return SubmitResult(winner, False)
    # The invoice and the emails come after the answer (a task): the member waits for no PDF.
    tasks.enqueue(rt, tasks.Task(tasks.AFTER_SUBMIT, {"org_id": org_id, "year": stored.year,
                                                      "contact_id": contact.contact_id, "attempt": stored.attempt}),
                  inline_if_queue_fails=True)
    if rt.config.tasks_inline:  # done already: show the request as the task left it
        stored = rt.renewals.latest(org_id, stored.year) or stored
    return SubmitResult(stored, True)


def after_submit(rt: Runtime, org_id: str, year: int, contact_id: str, attempt: int | None = None) -> None:
    """The task after « Enregistrer ma demande »: issue the invoice if the request needs nothing
    more, then mail the submitter, the other contacts and staff — so that the emails describe
    the request as it ends up (« Facturée », with the invoice). Idempotent: run again after a
    crash, it finds the invoice issued and the emails already in the outbox (fixed ids). An email
    that cannot be queued raises, so that the task is delivered again."""
    request = rt.renewals.latest(org_id, year)
    if request is None or (attempt is not None and request.attempt != attempt):
        return  # cancelled and submitted again meanwhile: that request has its own task
    submitter = rt.contacts.get(contact_id)
    if request.state is RequestState.READY_TO_INVOICE:
        request = _entered(rt, None, request)
    if submitter is not None:
        _send_submission_emails(rt, request, submitter, strict=True)


def ensure_submission_emails(rt: Runtime, request: RenewalRequest) -> bool:
    """The reconciler's check: a request whose submission emails never reached the outbox (its
    task was never queued: the save's answer was lost and the member, pressing again, found it
    saved) gets its task's work done now. True when something was missing."""
    if request.state is RequestState.CANCELLED:  # « enregistrée » would no longer be true
        return False
    submitter = rt.contacts.get(request.submitted_by)
    if submitter is None:
        return False
    # The task queues them in this order and stops at the first it cannot queue: the last one
    # in the outbox means every one is.
    staff = rt.association().staff_notification_email
    others = _contact_emails(rt, request.org_id, exclude=submitter.contact_id)
    last = (_message_id(request, "staff", None) if staff else
            _message_id(request, "copy", others[-1][0]) if others else
            _message_id(request, "confirmation", submitter))
    if rt.outbox.get(last) is not None:
        return False
    after_submit(rt, request.org_id, request.year, request.submitted_by, request.attempt)
    return rt.outbox.get(last) is not None


def check_renewal_request(rt: Runtime, org_id: str, contact_id: str,
                          answers: dict[str, str]) -> tuple[RenewalOffer, Submission]:
    """The recap before « Enregistrer ma demande »: the answers checked exactly as the save will
    check them, nothing written. Raises ValidationError, NothingToRenew like the save."""
    org, _ = _member(rt, org_id, contact_id)
    offer = _start(rt, org)
    return offer, _checked(rt, org, offer, answers)


def _checked(rt: Runtime, org: Organisation, offer: RenewalOffer, answers: dict[str, str]) -> Submission:
    """The form's answers checked against the season's offer and, for a public buyer, against
    the Chorus Pro directory (ValidationError otherwise)."""
    form = RenewalForm.from_fields(answers)
    return check_submission(
        form, organisation=org, offered=offer.offered, grid=rt.tariffs.grid(offer.year),
        payment_methods=rt.association().payment_methods, directory=buyer_directory(rt, org, form.siret),
    )


DRAFT_FORM = "renewal"
DRAFT_LIFETIME = timedelta(hours=24)


def keep_draft(rt: Runtime, contact_id: str, answers: dict[str, str]) -> str:
    """Keep what the member typed when their session ran out; return the token that gives it
    back to them (and only them) once logged in again, within a day, once."""
    token = rt.token_factory()
    now = rt.clock()
    rt.form_drafts.add(hash_token(token), contact_id, DRAFT_FORM, answers, now, now + DRAFT_LIFETIME)
    return token


def take_draft(rt: Runtime, contact_id: str, token: str) -> RenewalForm | None:
    """The form as the member had filled it, if ``token`` is one of their drafts (read once)."""
    if not token or len(token) > 100:
        return None
    values = rt.form_drafts.take(hash_token(token), contact_id, DRAFT_FORM, rt.clock())
    return RenewalForm.from_fields(values) if values is not None else None


def buyer_directory(rt: Runtime, org: Organisation, siret: str | None = None) -> DirectoryAnswer | None:
    """What Chorus Pro's directory says of a public buyer's SIRET (the one on record by default);
    None for other organisations or a SIRET that is not 14 digits (the form says why)."""
    if not org.public_buyer:
        return None
    siret = re.sub(r"[\s.\u00a0\u202f]", "", siret if siret is not None else org.siret)
    if not (len(siret) == 14 and siret.isdigit()):
        return None
    return chorus.look_up(rt, siret)


def _billing_dict(b: BillingDetails) -> dict:
    return {"address": b.address.lines(), "invoice_email": b.invoice_email, "siret": b.siret,
            "service_code": b.service_code, "buyer_requirement": b.buyer_requirement.value}


# --- later changes -----------------------------------------------------------------------


Effects = Callable[[RenewalRequest, RenewalRequest], list]


def _change(rt: Runtime, org_id: str, year: int, change: Callable[[RenewalRequest], RenewalRequest],
            effects: Effects | None = None) -> tuple[RenewalRequest, RenewalRequest]:
    """Apply ``change`` to the season's latest request with optimistic locking; (before, after).

    ``change`` returning its argument unchanged means there is nothing to write. ``effects``
    (before, after) gives what the change causes — its audit event, its emails — written in
    the same transaction as the change: all or nothing. The emails are then sent; one that
    fails now is stored, and the retries send it.
    """
    for _ in range(_RETRIES):
        current = rt.renewals.latest(org_id, year)
        if current is None:
            raise NotFound(f"Aucune demande de renouvellement {year} n'est enregistrée.")
        changed = change(current)
        if changed is current:
            return current, current
        caused = effects(current, changed) if effects is not None else []
        try:
            stored = rt.renewals.update(changed, effects=caused)
        except ConcurrentUpdate:
            continue
        mail.dispatch(rt, [e for e in caused if isinstance(e, OutboxMessage)])
        return current, stored
    raise ConcurrentUpdate()


def record_purchase_order(rt: Runtime, org_id: str, year: int, *, actor_id: str, number: str = "",
                          pdf: bytes | None = None, by_staff: bool = False) -> RenewalRequest:
    """Record a purchase order (number and/or PDF) for the season's request.

    Members may do it only while a purchase order is awaited; staff whenever the state
    machine allows it (before invoicing). The PDF is stored first under a fresh key;
    if the request cannot take it, the file is deleted again.
    """
    current = rt.renewals.latest(org_id, year)
    if current is None:
        raise NotFound(f"Aucune demande de renouvellement {year} n'est enregistrée.")
    if not by_staff and not current.accepts_purchase_order_from_member:
        raise PurchaseOrderNotAwaited()
    number = check_purchase_order(number, pdf, current.billing.buyer_requirement)
    key = ""
    if pdf:
        key = rt.storage.new_key(PURCHASE_ORDER_PREFIX, org_id)
        rt.storage.put(key, pdf, "application/pdf")

    def change(r: RenewalRequest) -> RenewalRequest:
        if not by_staff and not r.accepts_purchase_order_from_member:
            raise PurchaseOrderNotAwaited()
        return r.with_purchase_order(number, key, rt.clock(), actor_id)

    def effects(before: RenewalRequest, after: RenewalRequest) -> list:
        return [event(rt, "renewal.purchase_order", actor=actor_id, target=after.reference, org_id=org_id,
                      before={"state": before.state.value, "purchase_order_number": before.purchase_order_number},
                      after={"state": after.state.value, "purchase_order_number": after.purchase_order_number,
                             "purchase_order_file": bool(after.purchase_order_file)}),
                *_emails(rt, after, "purchase_order", f"po{len(after.history)}",
                         [rt.association().staff_notification_email], template="renewal_purchase_order")]

    try:
        before, after = _change(rt, org_id, year, change, effects)
    except Exception:
        # Not if the write went through and only its answer was lost: the request has it then.
        if key and not _references(rt, org_id, key):
            _forget_file(rt, key)
        raise
    if before.purchase_order_file and key and before.purchase_order_file != key:
        _forget_file(rt, before.purchase_order_file)  # staff replaced the PDF: keep one copy only
    return _entered(rt, before, after)


def decide_tier(rt: Runtime, org_id: str, year: int, tier_code: str, *, decided_by: str,
                note: str = "") -> RenewalRequest:
    """Staff settle a tier change: ``tier_code`` is the tier to invoice.

    Keeping the tier the member was offered is a refusal, any other tier of the
    organisation's category (usually the one asked for) an acceptance. The organisation's
    contacts are told by email.
    """
    note = note.strip()
    if len(note) > 1000:
        raise ValidationError({"note": "Ce commentaire ne doit pas dépasser 1000 caractères."})
    tier = rt.tariffs.grid(year).tier(tier_code)

    def change(r: RenewalRequest) -> RenewalRequest:
        if tier is None or tier.category is not r.category:
            raise ValidationError({"tier_code": "Choisissez une tranche de la catégorie de la structure."})
        return r.with_tier_decided(tier, rt.clock(), decided_by, note)

    def effects(before: RenewalRequest, after: RenewalRequest) -> list:
        return [event(rt, "renewal.tier_decided", actor=decided_by, target=after.reference, org_id=org_id,
                      before={"state": before.state.value, "tier": before.tier_code},
                      after={"state": after.state.value, "tier": after.tier_code}, note=note),
                *_emails(rt, after, "tier_decision", "tier", _contact_emails(rt, org_id),
                         template="renewal_tier_decision",
                         accepted=after.history[-1].action == RequestEvent.TIER_ACCEPTED.value, note=note)]

    before, after = _change(rt, org_id, year, change, effects)
    return _entered(rt, before, after)


def mark_invoiced(rt: Runtime, org_id: str, year: int, invoice_number: str, *, by: str = "system") -> RenewalRequest:
    """Move the season's request to INVOICED once its invoice is issued (idempotent).

    Calling it again with the same number changes nothing; another number for an already
    invoiced request, or a request not ready to invoice, raises InvalidTransition.
    """
    def change(r: RenewalRequest) -> RenewalRequest:
        if r.state is RequestState.INVOICED and r.invoice_number == invoice_number:
            return r
        return r.with_invoice(invoice_number, rt.clock(), by)

    def effects(before: RenewalRequest, after: RenewalRequest) -> list:
        return [event(rt, "renewal.invoiced", actor=by, target=after.reference, org_id=org_id,
                      after={"state": after.state.value, "invoice_number": invoice_number})]

    return _change(rt, org_id, year, change, effects)[1]


def mark_invoice_replaced(rt: Runtime, org_id: str, year: int, *, replaced: str, invoice_number: str,
                          po_number: str, service_code: str, by: str, note: str) -> RenewalRequest:
    """The request's invoice ``replaced`` is cancelled and ``invoice_number`` replaces it (idempotent)."""
    def change(r: RenewalRequest) -> RenewalRequest:
        if r.invoice_number == invoice_number:
            return r
        if r.invoice_number != replaced:
            raise ConcurrentUpdate()
        return r.with_invoice_replaced(invoice_number, po_number, service_code, rt.clock(), by, note=note)

    return _change(rt, org_id, year, change)[1]


def mark_paid(rt: Runtime, org_id: str, year: int, *, by: str) -> RenewalRequest:
    """Move the season's INVOICED request to PAID once its invoice is fully paid (idempotent).

    Called by ``services.payments``, which checks the payments first and then extends the
    membership. Calling it again on a PAID request changes nothing and records nothing:
    with optimistic locking, exactly one caller makes the transition. A request in another
    state raises InvalidTransition.
    """
    def change(r: RenewalRequest) -> RenewalRequest:
        return r if r.state is RequestState.PAID else r.paid(rt.clock(), by)

    def effects(before: RenewalRequest, after: RenewalRequest) -> list:
        return [event(rt, "renewal.paid", actor=by, target=after.reference, org_id=org_id,
                      before={"state": before.state.value},
                      after={"state": after.state.value, "invoice_number": after.invoice_number})]

    return _change(rt, org_id, year, change, effects)[1]


class InvoicedAlready(DomainError):
    status = 409

    def __init__(self, email: str):
        super().__init__(f"La facture de cette demande est émise : elle ne peut plus être annulée en ligne. Pour "
                         f"l'annuler, écrivez-nous à {email} ; nous émettrons un avoir.")


def cancel_request(rt: Runtime, org_id: str, year: int, *, cancelled_by: str, reason: str = "",
                   before_invoice_only: bool = False, also: Effects | None = None) -> RenewalRequest:
    """Cancel the season's request (staff); the organisation may then submit a new one.

    An invoiced request can be cancelled too: the caller then issues the credit note. With
    ``before_invoice_only`` (a member's cancellation) the state is checked on the very version
    the conditional write replaces, so an invoice issued at the same instant wins.
    """
    def cancel(r: RenewalRequest) -> RenewalRequest:
        if before_invoice_only and not r.state.member_may_cancel:
            raise InvoicedAlready(rt.association().contact_email)
        return r.cancelled(rt.clock(), cancelled_by, reason.strip()[:1000])

    def effects(before: RenewalRequest, after: RenewalRequest) -> list:
        return [event(rt, "renewal.cancelled", actor=cancelled_by, target=after.reference, org_id=org_id,
                      before={"state": before.state.value}, after={"state": after.state.value},
                      reason=reason[:1000]),
                *(also(before, after) if also is not None else [])]

    return _change(rt, org_id, year, cancel, effects)[1]


def cancel_by_member(rt: Runtime, org_id: str, contact_id: str, year: int) -> RenewalRequest:
    """« Annuler ma demande »: a contact cancels the season's request while it is not invoiced
    (audited; staff are told). Once invoiced, only staff cancel it, with a credit note."""
    _, contact = _member(rt, org_id, contact_id)
    current = rt.renewals.latest(org_id, year)
    if current is None:
        raise NotFound("Aucune demande en cours pour cette année.")
    if current.state is RequestState.CANCELLED:
        return current  # pressed again, or a retry after an error: already done, nothing more sent
    def staff_told(_before: RenewalRequest, after: RenewalRequest) -> list:
        return _emails(rt, after, "cancelled_staff", "cancelled", [rt.association().staff_notification_email],
                       template="renewal_cancelled_staff", cancelled_by=contact.name)

    return cancel_request(rt, org_id, year, cancelled_by=contact.contact_id,
                          reason=f"Annulée en ligne par {contact.name}", before_invoice_only=True, also=staff_told)


def request_for_member(rt: Runtime, org_id: str, year: int) -> RenewalRequest:
    """The season's latest request of the member's own organisation, or NotFound."""
    found = rt.renewals.latest(org_id, year)
    if found is None:
        raise NotFound("Aucune demande de renouvellement n'est enregistrée pour cette année.")
    return found


def purchase_order_link(rt: Runtime, org_id: str, year: int) -> str:
    """A short-lived download link to the PO PDF of the organisation's request, or NotFound."""
    found = request_for_member(rt, org_id, year)
    if not found.purchase_order_file:
        raise NotFound("Aucun bon de commande n'a été transmis pour cette demande.")
    return rt.storage.download_url(found.purchase_order_file, f"bon-de-commande-{year}.pdf")


def requests_ready_to_invoice(rt: Runtime, year: int | None = None) -> list[RenewalRequest]:
    """Requests waiting for their invoice, oldest first (for a sweeping job or the staff queue)."""
    return rt.renewals.in_state(RequestState.READY_TO_INVOICE, year)


def issue_pending_invoices(rt: Runtime, limit: int = 200) -> int:
    """Issue the invoices the automatic hook could not (S3, SES or a crash in between).

    Each request READY_TO_INVOICE goes through the same path as the hook, which is
    idempotent per request: a request whose invoice was issued but not yet recorded gets
    that invoice back, never a second number. One request failing does not stop the
    others; the job runs again later. Returns how many requests were invoiced.
    """
    done = 0
    for request in rt.renewals.in_state(RequestState.READY_TO_INVOICE, limit=limit):
        try:
            if _ready_to_invoice(rt, request).state is RequestState.INVOICED:
                done += 1
        except Exception:
            log.exception("request %s: invoice still not issued", request.reference)
    return done


# --- after a change --------------------------------------------------------------------


def _entered(rt: Runtime, before: RenewalRequest | None, after: RenewalRequest) -> RenewalRequest:
    """Hooks run once a request has been saved in a new state; returns the request as they leave it."""
    if after.state is RequestState.READY_TO_INVOICE and (before is None or before.state is not after.state):
        try:
            return _ready_to_invoice(rt, after)
        except Exception:  # the request is saved; the invoice job catches up
            log.exception("request %s ready to invoice: follow-up failed", after.reference)
    return after


def _ready_to_invoice(rt: Runtime, request: RenewalRequest, by: str = "system") -> RenewalRequest:
    """The request needs no decision and no purchase order any more: its invoice can be issued.

    The one place where the automatic invoice is triggered: the documents service issues
    the invoice (idempotent per request reference), then the request moves to INVOICED. The request is already
    saved, so a failure here never fails the member's action (``_entered`` logs it), and
    ``requests_ready_to_invoice`` lets a job catch up.
    """
    invoice = documents.issue_invoice(
        rt, org_id=request.org_id, year=request.year, tier_code=request.tier_code, tier_label=request.tier_label,
        amount=request.amount, po_number=request.purchase_order_number, service_code=request.billing.service_code,
        request_id=request.reference, actor=by,
    )
    return mark_invoiced(rt, request.org_id, request.year, invoice.number, by=by)


def invoice_request(rt: Runtime, org_id: str, year: int, *, by: str) -> RenewalRequest:
    """Staff issue the invoice of a request left READY_TO_INVOICE (the automatic issue failed).

    The same path as the automatic hook, so never a second invoice for the request.
    Raises NotFound without a request, InvalidTransition (409) in any other state.
    """
    current = rt.renewals.latest(org_id, year)
    if current is None:
        raise NotFound(f"Aucune demande de renouvellement {year} n'est enregistrée.")
    if current.state is not RequestState.READY_TO_INVOICE:
        raise InvalidTransition(current.state, RequestEvent.INVOICE_ISSUED)
    return _ready_to_invoice(rt, current, by)


def _contact_emails(rt: Runtime, org_id: str, exclude: str = "") -> list[tuple[Contact, str]]:
    return [(c, c.email) for c in rt.contacts.for_organisation(org_id)
            if c.active and c.receives_notices and c.contact_id != exclude]


def _email(rt: Runtime, request: RenewalRequest, kind: str, suffix: str, recipients, *, template: str,
           strict: bool = False, **context) -> None:
    """Queue one email per recipient (an address, or a (contact, address) pair); never raise,
    unless ``strict`` (a task, which is delivered again when it raises)."""
    for recipient in recipients:
        contact, address = recipient if isinstance(recipient, tuple) else (None, recipient)
        if not address:
            continue
        try:
            send_email(
                rt, kind=f"renewal_{kind}", template=template, recipients=[address],
                message_id=_message_id(request, suffix, contact),
                request=request, contact=contact, link=rt.config.base_url + MEMBERSHIPS_PATH, **context,
            )
        except Exception:  # the request is saved: a lost email is logged, never an error page
            if strict:
                raise
            log.exception("renewal email %s for %s not queued", kind, request.reference)


def _emails(rt: Runtime, request: RenewalRequest, kind: str, suffix: str, recipients, *, template: str,
            **context) -> list[OutboxMessage]:
    """The emails of a change, composed for its transaction (one per recipient: an address, or
    a (contact, address) pair), with the same fixed ids as ``_email``."""
    messages = []
    for recipient in recipients:
        contact, address = recipient if isinstance(recipient, tuple) else (None, recipient)
        if address:
            messages.append(mail.compose(
                rt, kind=f"renewal_{kind}", template=template, recipients=[address],
                message_id=_message_id(request, suffix, contact), request=request, contact=contact,
                link=rt.config.base_url + MEMBERSHIPS_PATH, **context))
    return messages


def _message_id(request: RenewalRequest, suffix: str, contact: Contact | None) -> str:
    who = contact.contact_id if contact is not None else "staff"
    return f"renewal.{request.org_id}.{request.year}.{request.attempt}.{suffix}.{who}"


def _send_submission_emails(rt: Runtime, request: RenewalRequest, submitter: Contact, strict: bool = False) -> None:
    _email(rt, request, "confirmation", "confirmation", [(submitter, submitter.email)],
           template="renewal_confirmation", strict=strict)
    _email(rt, request, "copy", "copy", _contact_emails(rt, request.org_id, exclude=submitter.contact_id),
           template="renewal_copy", strict=strict)
    _email(rt, request, "staff", "staff", [rt.association().staff_notification_email],
           template="renewal_staff", strict=strict)


def _held_files(rt: Runtime, org_id: str) -> set[str]:
    """The purchase-order files the organisation's requests hold."""
    return {r.purchase_order_file for r in rt.renewals.for_organisation(org_id) if r.purchase_order_file}


def _references(rt: Runtime, org_id: str, key: str) -> bool:
    """Whether a request of the organisation holds ``key`` (True when that cannot be read: a
    file kept by doubt is swept later; a file deleted by mistake is lost)."""
    try:
        return key in _held_files(rt, org_id)
    except Exception:
        log.exception("could not read %s's requests: %s kept for the sweep", org_id, key)
        return True


def remove_orphan_purchase_orders(rt: Runtime, older_than: timedelta = timedelta(hours=1),
                                  looked_back: timedelta = timedelta(days=2)) -> int:
    """Delete purchase-order files no request holds (an upload whose request write never
    happened: a crash between the two). Only uploads between ``looked_back`` and ``older_than``
    ago: an upload whose request is being written right now is left alone, and the files of
    earlier years, checked by earlier runs, cost no request reads. Returns how many."""
    removed = 0
    by_org: dict[str, set[str]] = {}
    now = rt.clock()
    for key in rt.storage.written_between(PURCHASE_ORDER_PREFIX + "/", now - looked_back, now - older_than):
        org_id = key.split("/")[1]
        if org_id not in by_org:
            by_org[org_id] = _held_files(rt, org_id)
        if key not in by_org[org_id]:
            _forget_file(rt, key)
            log.warning("orphan purchase order %s removed", key)
            removed += 1
    return removed


def _forget_file(rt: Runtime, key: str) -> None:
    try:
        rt.storage.delete(key)
    except Exception:  # an orphan file is harmless; the request is what matters
        log.exception("could not delete %s", key)
