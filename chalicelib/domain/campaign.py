"""The annual renewal campaign: who gets the notice, which reminder is due, and when.

Seasons. The campaign for membership year Y (the *season*) opens on the configured day of
year Y-1 (``domain.season``). The daily run works on the season whose campaign is open
today, ``campaign_season(today)``: from 1 December 2026 it is 2027, until 1 December 2027.

Due for renewal. An active organisation is due for renewal in season Y when its last
validated (or paid) membership is for Y-1 or Y-2 — a member of last year, or of the year
before that which let one year lapse — and nothing counts for Y yet. Older members are
former members: staff write to them by hand. A membership for Y that counts (validated or
paid) settles the season.

What is sent, to whom. Every message goes to each *contact technique* of the organisation
who is active and receives notices (staff can turn that off per contact), once per
(season, organisation, kind, contact email) — the ledger keeps that promise (see
``services.campaign``). Kinds:

- the notice (*avis de renouvellement*), to organisations due for renewal with no
  request for the season yet. The daily run sends it during ``NOTICE_CATCH_UP`` after the
  opening day, so a run that comes late still sends it, while a first deployment in the
  middle of a season does not send a notice that is months late; staff may start the
  campaign by hand at any time (before the opening day too);
- « no request yet », ``reminder_no_request_days`` after the organisation's first notice,
  while it is still due and has recorded no request;
- « purchase order awaited », ``reminder_po_days`` after the request entered that state
  (or was submitted), while it is still awaiting the purchase order;
- « invoice unpaid », ``reminder_unpaid_days_after_due`` after an invoice's due date,
  while the invoice is issued and unpaid.

Each reminder is checked against the state at the moment of sending, so it stops as soon
as the state moves on; each is sent once per season (a state that comes back later does
not repeat it). Reminders are counted in whole Paris days, so a run that comes three days
late sends what fell due meanwhile, once. Past seasons get no automatic reminders once the
next campaign has opened: the association settles them directly (``domain.season``).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum

from .association import AssociationSettings
from .model import Contact, Membership, Role, TariffGrid, last_validated
from .season import CampaignOpening, campaign_opens_on, renewal_year

NOTICE_CATCH_UP = timedelta(days=30)
# How long before its opening day the admin page shows the next campaign rather than the
# running one.
PREVIEW_LEAD = timedelta(days=90)


class MessageKind(str, Enum):
    """A campaign message; the value is also its email template's name."""

    NOTICE = "renewal_notice"
    NO_REQUEST = "reminder_no_request"
    PURCHASE_ORDER = "reminder_purchase_order"
    UNPAID_INVOICE = "reminder_unpaid_invoice"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def template(self) -> str:
        return self.value

    @property
    def is_reminder(self) -> bool:
        return self is not MessageKind.NOTICE


_LABELS = {
    MessageKind.NOTICE: "Avis de renouvellement",
    MessageKind.NO_REQUEST: "Relance : aucune demande",
    MessageKind.PURCHASE_ORDER: "Relance : bon de commande attendu",
    MessageKind.UNPAID_INVOICE: "Relance : facture impayée",
}

REMINDERS: tuple[MessageKind, ...] = tuple(k for k in MessageKind if k.is_reminder)
ALL_KINDS: tuple[MessageKind, ...] = tuple(MessageKind)


# --- seasons ---------------------------------------------------------------------------


def campaign_season(today: date, opening: CampaignOpening) -> int:
    """The season whose campaign is open today (the last one to have opened)."""
    return renewal_year(today, opening, frozenset())  # type: ignore[return-value]


def default_preview_season(today: date, opening: CampaignOpening) -> int:
    """The season the staff page shows first: the next one when it opens soon, else the open one."""
    running = campaign_season(today, opening)
    upcoming = running + 1
    if campaign_opens_on(upcoming, opening) - today <= PREVIEW_LEAD:
        return upcoming
    return running


def seasons_staff_may_start(today: date, opening: CampaignOpening) -> tuple[int, ...]:
    """The open season and the next one: a campaign further away is refused."""
    running = campaign_season(today, opening)
    return (running, running + 1)


def in_notice_window(today: date, season: int, opening: CampaignOpening) -> bool:
    """True from the opening day of ``season`` for ``NOTICE_CATCH_UP``: the daily run sends notices then."""
    opens_on = campaign_opens_on(season, opening)
    return opens_on <= today <= opens_on + NOTICE_CATCH_UP


# --- who -------------------------------------------------------------------------------


def is_due_for_renewal(memberships: Iterable[Membership], season: int) -> bool:
    """True when the last counting membership is for ``season - 1`` or ``season - 2``."""
    latest = last_validated([m for m in memberships if m.year <= season])
    return latest is not None and latest.year in (season - 1, season - 2)


def notice_recipients(contacts: Iterable[Contact]) -> tuple[list[Contact], list[Contact]]:
    """(recipients, contacts skipped because staff turned their notices off).

    Inactive accounts and staff are neither: they are not contacts techniques.
    """
    recipients, opted_out = [], []
    for contact in contacts:
        if not contact.active or contact.role is not Role.CONTACT:
            continue
        (recipients if contact.receives_notices else opted_out).append(contact)
    return recipients, opted_out


@dataclass(frozen=True)
class NoticeTerms:
    """What the notice says is due: the tier of the last validated membership, at next year's price."""

    tier_code: str
    tier_label: str
    amount: Decimal | None  # None: the season's grid has no price for this tier yet
    last_year: int | None


def notice_terms(memberships: Iterable[Membership], current_tier: str, grid: TariffGrid) -> NoticeTerms:
    """The quote's basis (« dernière adhésion validée »), priced with ``grid`` (the season's)."""
    latest = last_validated(list(memberships))
    code = latest.tier_code if latest else current_tier
    tier = grid.tier(code)
    label = tier.label if tier else (latest.tier_label if latest else code)
    return NoticeTerms(code, label, tier.amount if tier else None, latest.year if latest else None)


# --- when ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeasonFacts:
    """What the campaign needs to know of one organisation for one season."""

    due_for_renewal: bool
    has_request: bool = False  # a request for the season that is not cancelled
    awaiting_po_since: date | None = None  # the open request awaits a purchase order since
    unpaid_invoice_due: date | None = None  # earliest due date of an issued, unpaid invoice
    first_notice_on: date | None = None  # when the ledger first recorded a notice sent


def due_kinds(
    facts: SeasonFacts, today: date, settings: AssociationSettings, allowed: Sequence[MessageKind],
) -> list[MessageKind]:
    """The messages due today for this organisation, among ``allowed`` (the ledger is not consulted).

    The notice has no date of its own here: the run that allows it decided (opening day,
    catch-up window, or staff).
    """
    due: list[MessageKind] = []
    waiting = facts.due_for_renewal and not facts.has_request
    if MessageKind.NOTICE in allowed and waiting:
        due.append(MessageKind.NOTICE)
    if (MessageKind.NO_REQUEST in allowed and waiting and facts.first_notice_on is not None
            and today >= facts.first_notice_on + timedelta(days=settings.reminder_no_request_days)):
        due.append(MessageKind.NO_REQUEST)
    if (MessageKind.PURCHASE_ORDER in allowed and facts.awaiting_po_since is not None
            and today >= facts.awaiting_po_since + timedelta(days=settings.reminder_po_days)):
        due.append(MessageKind.PURCHASE_ORDER)
    if (MessageKind.UNPAID_INVOICE in allowed and facts.unpaid_invoice_due is not None
            and today >= facts.unpaid_invoice_due + timedelta(days=settings.reminder_unpaid_days_after_due)):
        due.append(MessageKind.UNPAID_INVOICE)
    return due


# --- the ledger and the runs -----------------------------------------------------------


class LedgerState(str, Enum):
    """CLAIMED: a worker is sending it; SENT: stored in the outbox, which delivers it (retries included)."""

    CLAIMED = "claimed"
    SENT = "sent"


@dataclass(frozen=True)
class LedgerEntry:
    """One campaign message to one contact: (season, organisation, kind, email) is its key."""

    season: int
    org_id: str
    kind: MessageKind
    email: str
    state: LedgerState
    claimed_at: datetime
    sent_at: datetime | None = None
    attempts: int = 1


@dataclass(frozen=True)
class CampaignRun:
    """A pass over the organisations, queued as chunks: by the daily schedule or by staff."""

    run_id: str
    season: int
    started_at: datetime
    by: str  # "planification" or the staff contact's name
    kinds: tuple[MessageKind, ...]
    organisations: int
    chunks: int


def normalise_recipient(email: str) -> str:
    return email.strip().lower()


def outbox_id(season: int, org_id: str, kind: MessageKind, email: str) -> str:
    """The outbox id of one campaign message: the same on every retry, so a retry never duplicates it."""
    key = f"{season}|{org_id}|{kind.value}|{normalise_recipient(email)}"
    return "campagne-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def chunked(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """Consecutive slices of at most ``size`` items (at least one per slice)."""
    size = max(int(size), 1)
    for start in range(0, len(items), size):
        yield list(items[start:start + size])
