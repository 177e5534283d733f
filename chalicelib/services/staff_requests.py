"""The staff side of renewal requests: the queue « Demandes » and one request with its actions.

Use cases:

- ``request_queue`` — a season's requests, filtered by category and state, newest first, paged.
  Six DynamoDB queries (one per state on the ``by_state`` index), one BatchGetItem for the
  organisations shown and the tariff years (season selector), whatever the number of rows;
- ``request_detail`` — one season's latest request of an organisation, with its earlier
  attempts, documents, payments and the actions its state allows;
- ``decide_tier`` — staff settle a tier change; the reason goes to the contacts by email;
- ``cancel_with_credit_note`` — cancel a request; an invoiced one gets its credit note;
- ``finish_settlement`` — finish what an interruption left undone after a full payment;
- ``replace_invoice`` — a credit note cancels the invoice and a corrected one replaces it
  (e.g. Chorus Pro rejected it: wrong engagement number or service code).

The other actions (purchase order, invoice, payment) are the use cases of
``services.renewal`` and ``services.payments``, called as they are.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal

from ..domain.campaign import campaign_season
from ..domain.chorus import STAGE_FILTERS, Deposit, DirectoryAnswer, check_buyer
from ..domain.chorus import counts as chorus_counts
from ..domain.chorus import matches as chorus_matches
from ..domain.documents import CreditNote, DocumentKind, StoredDocument
from ..domain.errors import DomainError, NotFound, ValidationError
from ..domain.formatting import format_eur
from ..domain.model import Category, Organisation, PublicBuyerRequirement, Tier
from ..domain.payments import Payment, settles
from ..domain.renewal import OPEN_STATES, InvalidTransition, RequestEvent, RequestState, allowed_events
from ..domain.renewal_request import PO_NUMBER_MAX, RenewalRequest
from ..domain.season import CampaignOpening
from ..runtime import Runtime
from . import chorus, documents, payments, renewal
from .audit import record

PAGE_SIZE = 50
OPEN, ALL = "en-cours", "toutes"  # state filters besides each RequestState value
REASON_MAX = 500  # a credit note's reason is printed on it: the documents' limit
NOTE_MAX = 1000

# What each action of the detail page is, by the state machine's events.
TIER, PURCHASE_ORDER, INVOICE, PAYMENT, CANCEL = "tier", "purchase_order", "invoice", "payment", "cancel"
REPLACE = "replace"
# Not an event: the follow-ups of a full payment that an interruption left undone (see ``request_detail``).
SETTLE = "settle"
_ACTIONS = {
    RequestEvent.TIER_ACCEPTED: TIER,
    RequestEvent.TIER_REFUSED: TIER,
    RequestEvent.PURCHASE_ORDER_RECEIVED: PURCHASE_ORDER,
    RequestEvent.INVOICE_ISSUED: INVOICE,
    RequestEvent.INVOICE_REPLACED: REPLACE,
    RequestEvent.PAYMENT_RECORDED: PAYMENT,
    RequestEvent.CANCEL: CANCEL,
}

# A request's history, in the past tense (the events' own labels name buttons).
HISTORY_LABELS = {
    "submitted": "Demande enregistrée",
    RequestEvent.TIER_ACCEPTED.value: "Changement de tranche accepté",
    RequestEvent.TIER_REFUSED.value: "Changement de tranche refusé",
    RequestEvent.PURCHASE_ORDER_RECEIVED.value: "Bon de commande reçu",
    RequestEvent.INVOICE_ISSUED.value: "Facture émise",
    RequestEvent.INVOICE_REPLACED.value: "Facture remplacée (avoir et facture corrigée)",
    RequestEvent.PAYMENT_RECORDED.value: "Facture soldée",
    RequestEvent.CANCEL.value: "Demande annulée",
}
SYSTEM = "system"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # newlines are fine in a reason


def current_season(rt: Runtime) -> int:
    """The membership year renewals are for today (next year once its campaign has opened)."""
    return campaign_season(rt.today(), CampaignOpening.parse(rt.association().campaign_opening))


# --- the queue -------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    request: RenewalRequest
    organisation: Organisation | None  # None if it was deleted since

    @property
    def name(self) -> str:
        return self.organisation.name if self.organisation is not None else self.request.organisation_name


@dataclass(frozen=True)
class QueuePage:
    year: int
    years: list[int]  # seasons to choose from, newest first
    category: str  # a Category value, or "" for all
    state: str  # OPEN, ALL or a RequestState value
    rows: list[QueueRow]
    total: int  # rows matching the filters, all pages
    page: int
    pages: int
    counts: dict[RequestState, int] = field(default_factory=dict)  # the season (and category), by state
    chorus: str = ""  # a Chorus Pro filter (domain.chorus.STAGE_FILTERS), or "" for none
    deposits: dict[str, Deposit] = field(default_factory=dict)  # the season's, by invoice number
    chorus_counts: dict[str, int] = field(default_factory=dict)

    @property
    def open_count(self) -> int:
        return sum(n for state, n in self.counts.items() if state in OPEN_STATES)

    @property
    def all_count(self) -> int:
        return sum(self.counts.values())


def state_filter(text: str) -> str:
    """The state filter asked for, or the default (open requests) when unknown."""
    return text if text in (OPEN, ALL) or text in {s.value for s in RequestState} else OPEN


def _matches(request: RenewalRequest, state: str) -> bool:
    if state == ALL:
        return True
    if state == OPEN:
        return request.is_open
    return request.state.value == state


def request_queue(rt: Runtime, *, year: int | None = None, category: str = "", state: str = OPEN,
                  page: int = 1, page_size: int = PAGE_SIZE, chorus_stage: str = "") -> QueuePage:
    """One page of the season's requests matching the filters, newest submission first.

    The season's invoices deposited on Chorus Pro are read in batches (100 per BatchGetItem)
    for the column, the counts and the ``chorus_stage`` filter (which ignores the state filter)."""
    season = current_season(rt)
    year = year or season
    category = category if category in {c.value for c in Category} else ""
    state = state_filter(state)
    requests = [r for r in rt.renewals.for_season(year) if not category or r.category.value == category]
    counts = {s: 0 for s in RequestState}
    for r in requests:
        counts[r.state] += 1
    deposits = chorus.for_numbers(rt, [r.invoice_number for r in requests if r.public_buyer and r.invoice_number])
    chorus_stage = chorus_stage if chorus_stage in STAGE_FILTERS else ""
    if chorus_stage:
        state = ALL
        matching = [r for r in requests if chorus_matches(deposits.get(r.invoice_number), chorus_stage)]
    else:
        matching = [r for r in requests if _matches(r, state)]
    pages = max(1, math.ceil(len(matching) / page_size))
    page = min(max(page, 1), pages)
    shown = matching[(page - 1) * page_size: page * page_size]
    organisations = rt.organisations.get_many(r.org_id for r in shown)
    rows = [QueueRow(r, organisations.get(r.org_id)) for r in shown]
    years = sorted(set(rt.tariffs.years()) | {season, year}, reverse=True)
    return QueuePage(year, years, category, state, rows, len(matching), page, pages, counts, chorus_stage,
                     deposits, chorus_counts(list(deposits.values())))


# --- one request -----------------------------------------------------------------------


@dataclass(frozen=True)
class RequestDetail:
    request: RenewalRequest
    organisation: Organisation | None
    earlier_attempts: list[RenewalRequest]  # the season's cancelled attempts, newest first
    other_seasons: list[RenewalRequest]  # the organisation's requests of other seasons
    documents: list[StoredDocument]  # the organisation's documents of the season, oldest first
    payments: list[Payment]
    invoice_total: Decimal | None  # None until invoiced
    paid: Decimal
    balance: Decimal | None
    tiers: list[Tier]  # the category's tiers of the season, for a tier decision
    deposits: dict[str, Deposit]  # Chorus Pro deposits of the season's invoices and credit notes, by number
    directory: DirectoryAnswer | None  # a public buyer's structure (services for a corrected invoice)
    actions: frozenset[str]  # TIER, PURCHASE_ORDER, INVOICE, PAYMENT, CANCEL: what the state allows
    names: dict[str, str]  # history author id → name

    @property
    def invoice(self) -> StoredDocument | None:
        number = self.request.invoice_number
        return next((d for d in self.documents if d.kind is DocumentKind.INVOICE and d.number == number), None)

    def outcome(self) -> str:
        """What a staff action on the request caused, for its success message: the invoice it
        led to and where it went (« La facture FAC-… a été émise et envoyée à … »)."""
        invoice = self.invoice
        if invoice is None or self.request.state is not RequestState.INVOICED:
            return ""
        payer = invoice.content.buyer.email or (self.organisation.invoice_email if self.organisation else "")
        sent = f" et envoyée à {payer}" if payer else ""
        deposit = self.deposit
        if deposit is not None:
            sent = (f" et déposée sur Chorus Pro (flux {deposit.flux})" if deposit.flux
                    else " ; son dépôt sur Chorus Pro est en cours")
        return (f"La facture {invoice.number} ({format_eur(invoice.total)}) a été émise{sent} ; "
                "les contacts de la structure en ont été prévenus par courriel.")

    @property
    def deposit(self) -> Deposit | None:
        """The Chorus Pro deposit of the request's current invoice."""
        return self.deposits.get(self.request.invoice_number)

    @property
    def credit_note(self) -> StoredDocument | None:
        number = self.request.invoice_number
        return next((d for d in self.documents
                     if d.kind is DocumentKind.CREDIT_NOTE and number and d.related_number == number), None)

    def who(self, author: str) -> str:
        return self.names.get(author, author)


def _year_requests(rt: Runtime, org_id: str, year: int) -> tuple[RenewalRequest, list[RenewalRequest],
                                                                     list[RenewalRequest]]:
    every = rt.renewals.for_organisation(org_id)  # newest season and attempt first
    season = [r for r in every if r.year == year]
    if not season:
        raise NotFound(f"Aucune demande de renouvellement {year} n'est enregistrée pour cette structure.")
    return season[0], season[1:], [r for r in every if r.year != year]


def _names(rt: Runtime, request: RenewalRequest, recorded: list[Payment]) -> dict[str, str]:
    """Who wrote each history line or recorded each payment: a few people per request, one read each."""
    names = {SYSTEM: "Automatique", request.submitted_by: request.submitted_by_name}
    for author in ({e.by for e in request.history} | {p.recorded_by for p in recorded}) - set(names):
        contact = rt.contacts.get(author) if author else None
        if contact is not None:
            names[author] = contact.name + (" (équipe)" if contact.is_staff else "")
    return names


def request_detail(rt: Runtime, org_id: str, year: int) -> RequestDetail:
    """The season's latest request of ``org_id`` and all a staff member needs to act on it."""
    request, earlier, others = _year_requests(rt, org_id, year)
    organisation = rt.organisations.get(org_id)
    season_documents = sorted((d for d in rt.documents.for_organisation(org_id) if d.year == year),
                              key=lambda d: d.issued_at)
    paid_list = payments.payments_for(rt, org_id, year)
    total = balance = None
    paid = sum((p.amount for p in paid_list), Decimal("0.00"))
    if request.invoice_number:
        try:
            total, paid, balance = payments.balance(rt, request)
        except payments.InvoiceNotFound:  # just issued: the number index catches up in a moment
            pass
    actions = frozenset(_ACTIONS[e] for e in allowed_events(request.state))
    if _settlement_unfinished(request, season_documents, total, balance):
        actions = (actions - {PAYMENT}) | {SETTLE}
    if paid:  # an invoice with payments is never credited
        actions -= {REPLACE}
    deposits = chorus.for_numbers(rt, [d.number for d in season_documents if d.kind in
                                       (DocumentKind.INVOICE, DocumentKind.CREDIT_NOTE)])
    directory = renewal.buyer_directory(rt, organisation, request.billing.siret) \
        if organisation is not None and REPLACE in actions else None
    return RequestDetail(
        request=request, organisation=organisation, earlier_attempts=earlier, other_seasons=others,
        documents=season_documents, payments=paid_list, invoice_total=total, paid=paid, balance=balance,
        tiers=rt.tariffs.grid(year).for_category(request.category), deposits=deposits, directory=directory,
        actions=actions, names=_names(rt, request, paid_list),
    )


def _settlement_unfinished(request: RenewalRequest, season_documents: list[StoredDocument],
                           total: Decimal | None, balance: Decimal | None) -> bool:
    """Whether a full payment's follow-ups were interrupted (``payments.settle`` finishes them):
    the invoice is paid but the request is still INVOICED, or the request is PAID and the
    season has no certificate yet."""
    if request.state is RequestState.INVOICED:
        return total is not None and balance is not None and settles(total, balance)
    if request.state is RequestState.PAID:
        return not any(d.kind is DocumentKind.CERTIFICATE for d in season_documents)
    return False


def finish_settlement(rt: Runtime, org_id: str, year: int, *, by: str) -> RenewalRequest:
    """Staff finish the settlement of a fully paid request (membership, certificate, email)."""
    request = payments.settle(rt, org_id, year, by=by)
    if request is None:
        raise NotFound(f"Aucune demande de renouvellement {year} n'est enregistrée pour cette structure.")
    if request.state is not RequestState.PAID:
        raise SettlementNotDue(request.state)
    return request


class SettlementNotDue(DomainError):
    status = 409

    def __init__(self, state: RequestState) -> None:
        super().__init__(f"Rien à finaliser : la demande est « {state.label} » et sa facture "
                         "n'est pas entièrement réglée.")


# --- actions ---------------------------------------------------------------------------


def _check_text(value: str, field_name: str, limit: int, required: str = "") -> str:
    value = value.strip()
    if not value and required:
        raise ValidationError({field_name: required})
    if len(value) > limit:
        raise ValidationError({field_name: f"Ce texte ne doit pas dépasser {limit} caractères (il en compte {len(value)})."})
    if _CONTROL.search(value):
        raise ValidationError({field_name: "Ce texte contient des caractères non autorisés."})
    return value


def decide_tier(rt: Runtime, org_id: str, year: int, *, tier_code: str, note: str, by: str) -> RenewalRequest:
    """Settle the request's tier change; ``note`` is emailed to the contacts.

    A note is required unless the tier the member asked for is granted: a member told
    « no » (or « another tier ») is owed the reason.
    """
    note = _check_text(note, "note", NOTE_MAX)
    current = rt.renewals.latest(org_id, year)
    if current is None:
        raise NotFound(f"Aucune demande de renouvellement {year} n'est enregistrée.")
    if not tier_code:
        raise ValidationError({"tier_code": "Choisissez la tranche à facturer."})
    granted = tier_code == (current.requested_tier_code or current.tier_code)
    if not granted and not note:
        raise ValidationError({"note": "Expliquez votre décision : ce message est envoyé aux contacts de la structure."})
    return renewal.decide_tier(rt, org_id, year, tier_code, decided_by=by, note=note)


@dataclass(frozen=True)
class Cancellation:
    request: RenewalRequest
    credit_note: CreditNote | None  # issued when the request was invoiced


def cancel_with_credit_note(rt: Runtime, org_id: str, year: int, *, by: str, reason: str) -> Cancellation:
    """Cancel the season's request; when it was invoiced, issue the invoice's credit note first.

    Credit note first, then the cancellation: if the second step fails, the request is
    still INVOICED and the same action can be run again; the credit note is issued once
    per invoice (the documents service returns the existing one). The other order would
    leave a CANCELLED request (final: no action any more) whose invoice has no credit note.
    """
    reason = _check_text(reason, "reason", REASON_MAX, required="Indiquez le motif de l'annulation.")
    current = rt.renewals.latest(org_id, year)
    if current is None:
        raise NotFound(f"Aucune demande de renouvellement {year} n'est enregistrée.")
    credit_note = None
    if current.state is RequestState.INVOICED and current.invoice_number:
        credit_note = documents.issue_credit_note(rt, current.invoice_number, reason, actor=by)
    cancelled = renewal.cancel_request(rt, org_id, year, cancelled_by=by, reason=reason)
    return Cancellation(cancelled, credit_note)


@dataclass(frozen=True)
class Replacement:
    request: RenewalRequest
    credit_note: str
    invoice: str


def replace_invoice(rt: Runtime, org_id: str, year: int, *, replaced: str, reason: str, po_number: str,
                    service_code: str, by: str) -> Replacement:
    """Cancel the request's invoice ``replaced`` with a credit note and issue the corrected one
    (same tier and amount; the engagement number and service code given), which goes to the
    payer as any invoice does (Chorus Pro for a public buyer). Each step is idempotent: pressed
    again, or run again after a failure, nothing is issued twice; once done, a second press says so.
    """
    reason = _check_text(reason, "reason", REASON_MAX,
                         required="Indiquez pourquoi la facture est remplacée : le motif figure sur l'avoir.")
    po_number = _check_text(po_number, "purchase_order_number", PO_NUMBER_MAX)
    current = rt.renewals.latest(org_id, year)
    if current is None:
        raise NotFound(f"Aucune demande de renouvellement {year} n'est enregistrée.")
    if replaced and current.invoice_number != replaced and any(
            e.action == RequestEvent.INVOICE_REPLACED.value and e.note.startswith(f"{replaced} ") for e in current.history):
        return Replacement(current, "", current.invoice_number)  # already done (a second press)
    if current.state is not RequestState.INVOICED or not current.invoice_number or current.invoice_number != replaced:
        raise InvalidTransition(current.state, RequestEvent.INVOICE_REPLACED)
    org = rt.organisations.get(org_id)
    errors: dict[str, str] = {}
    requirement = PublicBuyerRequirement.NONE
    if org is not None and org.public_buyer:
        answer = renewal.buyer_directory(rt, org, current.billing.siret)
        service_code, requirement = check_buyer(answer, _check_text(service_code, "service_code", 100), errors,
                                                fallback=current.billing.buyer_requirement)
    else:
        service_code = ""
    if requirement in (PublicBuyerRequirement.ENGAGEMENT, PublicBuyerRequirement.BOTH) and not po_number:
        errors["purchase_order_number"] = "Cette structure exige un numéro d'engagement : indiquez-le."
    if requirement is PublicBuyerRequirement.EITHER and not (po_number or service_code):
        errors["purchase_order_number"] = "Cette structure exige un numéro d'engagement ou un code service."
    if errors:
        raise ValidationError(errors)
    credit_note = documents.issue_credit_note(rt, replaced, reason, actor=by)
    invoice = documents.issue_invoice(
        rt, org_id=org_id, year=year, tier_code=current.tier_code, tier_label=current.tier_label,
        amount=current.amount, po_number=po_number, service_code=service_code,
        request_id=f"{current.reference}~{replaced}", actor=by)

    after = renewal.mark_invoice_replaced(
        rt, org_id, year, replaced=replaced, invoice_number=invoice.number, po_number=po_number,
        service_code=service_code, by=by, note=f"{replaced} → {invoice.number} (avoir {credit_note.number}) : {reason}")
    record(rt, "renewal.invoice_replaced", actor=by, target=after.reference, org_id=org_id,
           before={"invoice": replaced}, after={"invoice": invoice.number, "credit_note": credit_note.number,
                                                "purchase_order_number": po_number, "service_code": service_code})
    return Replacement(after, credit_note.number, invoice.number)
