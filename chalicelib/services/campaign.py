"""The renewal campaign: preview, start by hand, the daily run, and the queued chunks.

The rules of who gets what and when are in ``domain.campaign``; this module moves the
messages.

Fan-out. A run — the daily schedule, or staff starting the campaign — lists the active
organisations once (a keys-only Scan), cuts them into chunks of
``campaign_chunk_size`` and queues one SQS message per chunk. ``process_chunk`` (the SQS
handler) then reads each organisation of its chunk by key, decides what is due at that
moment and sends it. A chunk sends at most ``ses_max_per_second / CAMPAIGN_WORKERS``
messages a second (the queue feeds at most ``CAMPAIGN_WORKERS`` chunks at once, so
together they keep SES's rate), and after ``campaign_work_seconds`` it queues the rest of
its organisations as a new chunk and returns, well inside Lambda's 15 minutes.

Exactly once. Each message to each contact goes through three steps:

1. **claim** its ledger item (a conditional write that succeeds only if the item is
   absent, or CLAIMED for longer than ``CLAIM_LEASE``);
2. ``send_email`` with an outbox id derived from the ledger key (the outbox stores the
   message, then hands it to SES; a failed send is retried by ``retry_pending_emails``);
3. **mark** the item SENT.

A crash (Lambda timeout, process killed) leaves the chunk's SQS message undeleted, so SQS
delivers it again after its visibility timeout and the chunk runs again; the
``retry_pending_emails`` schedule keeps running meanwhile. At each point:

- before 1: nothing is recorded; the resumed chunk sends the message.
- between 1 and 2: a CLAIMED item with no outbox message; the resumed chunk re-claims it
  once the claim is stale and sends it.
- in 2, before SES accepted the message: the outbox holds it pending; whichever of the
  resumed chunk and the retry schedule claims the outbox message first sends it, once.
- in 2, after SES accepted it but before the outbox recorded that: the outbox lease
  expires and the message is sent a second time. This window (one DynamoDB write long)
  is the only one where a contact can receive a message twice: we chose at-least-once
  there, because a notice never sent is worse than a notice sent twice.
- between 2 and 3: the outbox says sent; the resumed chunk re-claims the item, finds the
  outbox message already sent (same id: nothing new is stored or sent), and marks it SENT.
- after 3: the item is SENT; it is never claimed again.

The same claim lets only one worker through when SQS delivers a chunk twice or when a
staff start and the daily run overlap. Sent means "stored in the outbox": an SES outage
delays the message (outbox retries) but never re-sends it through the campaign.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from ..config import CAMPAIGN_WORKERS
from ..domain.campaign import (
    ALL_KINDS,
    CampaignRun,
    LedgerEntry,
    LedgerState,
    MessageKind,
    NoticeTerms,
    SeasonFacts,
    campaign_season,
    chunked,
    default_preview_season,
    due_kinds,
    in_notice_window,
    is_due_for_renewal,
    normalise_recipient,
    notice_recipients,
    notice_terms,
    outbox_id,
    seasons_staff_may_start,
)
from ..domain.documents import DocumentKind, Invoice
from ..domain.errors import ValidationError
from ..domain.model import Contact, Membership, MembershipStatus, Organisation, TariffGrid
from ..domain.renewal import RequestState
from ..domain.renewal_rate import to_renew
from ..domain.renewal_request import RenewalRequest
from ..domain.season import CampaignOpening, campaign_opens_on
from ..runtime import PARIS, Runtime
from . import audit, mail, tasks

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=5)
SCHEDULE_ACTOR = "planification"
PREVIEW_LINES = 500  # recipients listed on the staff page; the counts cover everyone


# --- the queued message ----------------------------------------------------------------


@dataclass(frozen=True)
class ChunkMessage:
    """One queued chunk: which organisations, for which season, which kinds may be sent."""

    season: int
    kinds: tuple[MessageKind, ...]
    org_ids: tuple[str, ...]
    run_id: str
    part: int = 0  # 1, 2 … for the remainders a chunk queued when its time ran out

    def dumps(self) -> str:
        return json.dumps({"season": self.season, "kinds": [k.value for k in self.kinds],
                           "org_ids": list(self.org_ids), "run_id": self.run_id, "part": self.part})

    @classmethod
    def loads(cls, body: str) -> ChunkMessage:
        """Parse a queued body; ``ValueError`` if it is not one of ours."""
        try:
            data = json.loads(body)
            return cls(int(data["season"]), tuple(MessageKind(k) for k in data["kinds"]),
                       tuple(str(i) for i in data["org_ids"]), str(data["run_id"]), int(data.get("part", 0)))
        except (TypeError, KeyError, ValueError) as error:
            raise ValueError(f"not a campaign chunk: {body[:200]!r}") from error

    def remainder(self, start: int) -> ChunkMessage:
        return replace(self, org_ids=self.org_ids[start:], part=self.part + 1)


# --- throttling ------------------------------------------------------------------------


class Throttle:
    """Spaces calls at least ``1 / rate`` seconds apart, waiting with the injected sleep."""

    def __init__(self, rate: float, clock, sleep):
        self.interval = timedelta(seconds=1 / rate) if rate > 0 else timedelta(0)
        self._clock, self._sleep = clock, sleep
        self._next: datetime | None = None

    def wait(self) -> None:
        now = self._clock()
        if self._next is not None and now < self._next:
            self._sleep((self._next - now).total_seconds())
            now = max(self._clock(), self._next)
        self._next = now + self.interval


# --- runs: the daily schedule and staff ------------------------------------------------


def _opening(rt: Runtime) -> CampaignOpening:
    return CampaignOpening.parse(rt.association().campaign_opening)


def _queue_pass(rt: Runtime, season: int, kinds: tuple[MessageKind, ...], by: str) -> CampaignRun:
    """List the active organisations once, queue them in chunks, record the run."""
    org_ids = rt.campaign_directory.active_organisation_ids()
    chunks = list(chunked(org_ids, rt.association().campaign_chunk_size))
    run = CampaignRun(rt.id_factory(), season, rt.clock(), by, kinds, len(org_ids), len(chunks))
    rt.campaign_queue.send_many([ChunkMessage(season, kinds, tuple(ids), run.run_id).dumps() for ids in chunks])
    rt.campaign_ledger.add_run(run)
    log.info("campaign %s: run %s by %s queued %s organisation(s) in %s chunk(s) for %s",
             season, run.run_id, by, run.organisations, run.chunks, [k.value for k in kinds])
    return run


def run_campaign_schedule(rt: Runtime) -> CampaignRun:
    """The daily run: queue a pass that sends what is due today for the open season.

    The notice is allowed from the opening day for ``NOTICE_CATCH_UP`` (so a late run still
    sends it), and only once the season's tariff grid exists; reminders are allowed every day.
    """
    today, opening = rt.today(), _opening(rt)
    season = campaign_season(today, opening)
    kinds = tuple(k for k in ALL_KINDS if k is not MessageKind.NOTICE or in_notice_window(today, season, opening))
    if MessageKind.NOTICE in kinds and not rt.tariffs.grid(season).tiers:
        log.error("campaign %s: no tariff grid for %s, the notice waits for it", season, season)
        kinds = tuple(k for k in kinds if k is not MessageKind.NOTICE)
    return _queue_pass(rt, season, kinds, SCHEDULE_ACTOR)


def check_startable(rt: Runtime, season: int) -> None:
    """``ValidationError`` unless staff may start ``season``'s notice now (asked before the
    confirmation page, and again when it is confirmed)."""
    allowed = seasons_staff_may_start(rt.today(), _opening(rt))
    if season not in allowed:
        raise ValidationError({"season": f"Choisissez la campagne {allowed[0]} ou {allowed[1]}."})
    if not rt.tariffs.grid(season).tiers:
        raise ValidationError({"season": f"La grille tarifaire {season} n'est pas encore saisie : "
                                         "l'avis indique le montant de la nouvelle année."})


def start_campaign(rt: Runtime, season: int, *, by: Contact) -> CampaignRun:
    """Staff start: queue the notice for ``season`` to every organisation due, whatever the date.

    Contacts who already received it are skipped (ledger), so starting twice sends nothing new.
    """
    check_startable(rt, season)
    run = _queue_pass(rt, season, (MessageKind.NOTICE,), by.name)
    audit.record(rt, "campaign.started", actor=by.contact_id, target=f"campagne {season}",
                 season=season, organisations=run.organisations, chunks=run.chunks)
    return run


# --- a chunk -----------------------------------------------------------------------------


class ChunkFailed(Exception):
    """Some organisations of the chunk failed: raised after the others are done, so SQS retries it."""


@dataclass
class ChunkResult:
    organisations: int = 0
    sent: Counter = field(default_factory=Counter)  # kind value → messages sent
    continued: int = 0  # organisations queued again because time ran out
    rejected: bool = False
    failed: list[str] = field(default_factory=list)  # organisations whose work raised

    def as_dict(self) -> dict:
        return {"organisations": self.organisations, "sent": dict(self.sent), "continued": self.continued,
                "rejected": self.rejected}


def process_chunk(rt: Runtime, body: str) -> ChunkResult:
    """Send what is due to the organisations of one queued chunk (see the module docstring)."""
    try:
        message = ChunkMessage.loads(body)
    except ValueError:  # redelivering it would never help
        log.error("campaign: dropped a message that is not a chunk: %r", body[:200])
        return ChunkResult(rejected=True)
    return _Chunk(rt, message).run()


class _Chunk:
    """One invocation's work on one chunk: its clock budget, its throttle, the season's grid."""

    def __init__(self, rt: Runtime, message: ChunkMessage):
        self.rt, self.message, self.season = rt, message, message.season
        self.settings = rt.association()
        self.today = rt.today()
        # A rate below one a second would be a settings mistake: never unthrottled because of it.
        rate = max(self.settings.ses_max_per_second, 1) / CAMPAIGN_WORKERS
        self.throttle = Throttle(rate, rt.clock, rt.sleep)
        self.deadline = rt.clock() + timedelta(seconds=rt.config.campaign_work_seconds)
        self.result = ChunkResult()
        self._grid: TariffGrid | None = None
        self.notified: set[str] = set()  # organisations sent the notice by this run

    def run(self) -> ChunkResult:
        rt, message = self.rt, self.message
        organisations = rt.campaign_directory.organisations(message.org_ids)
        for n, org_id in enumerate(message.org_ids):
            if n and rt.clock() >= self.deadline:
                rest = message.remainder(n)
                rt.campaign_queue.send_many([rest.dumps()])
                self.result.continued = len(rest.org_ids)
                log.info("campaign %s: run %s re-queued %s organisation(s)", self.season, message.run_id,
                         self.result.continued)
                break
            org = organisations.get(org_id)
            if org is None or not org.active:
                continue
            self.result.organisations += 1
            try:
                self._send_due(org)
            except Exception:  # one organisation's bad data must not hold back the others
                log.exception("campaign %s: organisation %s failed", self.season, org_id)
                self.result.failed.append(org_id)
        # The quote the notice invites to get is made now, by tasks (« Éditer un devis » then
        # serves it without rendering anything); one that fails is simply made on the click.
        tasks.prepare_quotes(rt, sorted(self.notified))
        if self.result.failed:
            # The SQS message is then delivered again (the ledger skips what was sent) and, if
            # it keeps failing, ends in the dead-letter queue where someone looks at it.
            raise ChunkFailed(f"campaign {self.season}: {len(self.result.failed)} organisation(s) failed: "
                              f"{', '.join(self.result.failed[:20])}")
        return self.result

    @property
    def grid(self) -> TariffGrid:
        """The season's tariff grid, read once per chunk and only if a message needs prices."""
        if self._grid is None:
            self._grid = self.rt.tariffs.grid(self.season)
        return self._grid

    def _send_due(self, org: Organisation) -> None:
        """Read what the season needs of one organisation (by key), then send what is due, once."""
        rt, season = self.rt, self.season
        memberships = rt.memberships.for_organisation(org.org_id)
        request = _live_request(rt, org.org_id, season)
        due_for_renewal = is_due_for_renewal(memberships, season)
        unpaid_possible = _may_have_unpaid_invoice(season, request, memberships)
        if not due_for_renewal and request is None and not unpaid_possible:
            return  # renewed, former member, or nothing started: no message can be due
        unpaid = _unpaid_invoices(rt, org.org_id, season, memberships) if unpaid_possible else []
        ledger = rt.campaign_ledger.for_organisation(season, org.org_id)
        facts = SeasonFacts(
            due_for_renewal=due_for_renewal,
            has_request=request is not None,
            awaiting_po_since=_awaiting_po_since(request),
            unpaid_invoice_due=unpaid[0].terms.due_on if unpaid else None,
            first_notice_on=_first_notice_on(ledger),
        )
        kinds = due_kinds(facts, self.today, self.settings, self.message.kinds)
        if not kinds:
            return
        known = {(e.kind, e.email): e for e in ledger}
        recipients, _ = notice_recipients(rt.contacts.for_organisation(org.org_id))
        for kind in kinds:
            pending = [(c, known.get((kind, normalise_recipient(c.email)))) for c in recipients]
            pending = [(c, entry) for c, entry in pending if entry is None or entry.state is not LedgerState.SENT]
            if not pending:
                continue
            context = self._context(kind, org, memberships, request, unpaid)
            if context is None:
                continue
            for contact, entry in pending:
                if self._send_once(org, kind, contact, context, attempt=entry.attempts + 1 if entry else 1):
                    self.result.sent[kind.value] += 1
                    if kind is MessageKind.NOTICE:
                        self.notified.add(org.org_id)

    def _context(self, kind: MessageKind, org: Organisation, memberships: list[Membership],
                 request: RenewalRequest | None, unpaid: list[Invoice]) -> dict | None:
        return message_context(self.rt, self.season, kind, org, memberships, request, unpaid,
                               settings=self.settings, grid=lambda: self.grid)

    def _send_once(self, org: Organisation, kind: MessageKind, contact: Contact, context: dict,
                   attempt: int) -> bool:
        """Claim, send through the outbox, mark: True if this call sent the message."""
        rt, season = self.rt, self.season
        email = normalise_recipient(contact.email)
        message_id = outbox_id(season, org.org_id, kind, email)
        if not rt.campaign_ledger.claim(season, org.org_id, kind, email, outbox_id=message_id,
                                        now=rt.clock(), lease=CLAIM_LEASE, attempt=attempt):
            return False
        self.throttle.wait()
        mail.send_email(rt, kind=kind.value, template=kind.template, recipients=[contact.email],
                        message_id=message_id, **_send_context(contact, org, context))
        rt.campaign_ledger.mark_sent(season, org.org_id, kind, email, rt.clock())
        return True


def message_context(rt: Runtime, season: int, kind: MessageKind, org: Organisation,
                    memberships: list[Membership], request: RenewalRequest | None, unpaid: list[Invoice],
                    *, settings=None, grid: Callable[[], TariffGrid] | None = None) -> dict | None:
    """What the kind's template needs beyond the contact, the organisation and the association
    (None: on a closer look, nothing to send). The chunks and the staff preview both use it."""
    settings = settings or rt.association()
    base = rt.config.base_url
    context = {
        "season": season,
        "opens_on": campaign_opens_on(season, CampaignOpening.parse(settings.campaign_opening)),
        "memberships_url": f"{base}/mon-compte/adhesions", "login_url": f"{base}/connexion",
    }
    if kind in (MessageKind.NOTICE, MessageKind.NO_REQUEST):
        tariff_grid = grid() if grid is not None else rt.tariffs.grid(season)
        context["terms"] = notice_terms(memberships, org.current_tier, tariff_grid)
    if kind is MessageKind.PURCHASE_ORDER:
        context.update(request=request, next_step=RequestState.AWAITING_PURCHASE_ORDER.next_step)
    if kind is MessageKind.UNPAID_INVOICE:
        # What is left on each invoice: a partly paid one asks only for the rest, and one
        # paid in full (its settlement interrupted, see ``payments.settle``) is not asked for.
        paid = {invoice.number: rt.payments.paid_total(invoice.number) for invoice in unpaid}
        unpaid = [invoice for invoice in unpaid if paid[invoice.number] < invoice.totals.gross]
        if not unpaid:
            return None
        context.update(invoices=unpaid, paid=paid, request=request,
                       next_step=RequestState.INVOICED.next_step)
    return context


def _send_context(contact: Contact, org: Organisation, context: dict) -> dict:
    """The template's whole context for one recipient (what is sent and what is previewed)."""
    return {"contact": contact, "organisation": org, **context}


def compose(rt: Runtime, kind: MessageKind, contact: Contact, org: Organisation, context: dict) -> tuple[str, str, str]:
    """(subject, text, HTML) of one campaign message, exactly as ``send_email`` renders it."""
    return mail.render_email(rt, kind.template, **_send_context(contact, org, context))


# --- what one organisation's season looks like ----------------------------------------------


def _first_notice_on(ledger: list[LedgerEntry]) -> date | None:
    sent = [e.sent_at for e in ledger if e.kind is MessageKind.NOTICE and e.state is LedgerState.SENT and e.sent_at]
    return min(sent).astimezone(PARIS).date() if sent else None


def _live_request(rt: Runtime, org_id: str, season: int) -> RenewalRequest | None:
    """The season's latest request unless it was cancelled (the member may submit again)."""
    request = rt.renewals.latest(org_id, season)
    return request if request is not None and request.state is not RequestState.CANCELLED else None


def _awaiting_po_since(request: RenewalRequest | None) -> date | None:
    """The day the member asked us to wait for a purchase order they have not sent yet."""
    if request is None or not request.accepts_purchase_order_from_member:
        return None
    return request.submitted_at.astimezone(PARIS).date()


def _may_have_unpaid_invoice(season: int, request: RenewalRequest | None, memberships: list[Membership]) -> bool:
    """Whether the season's invoices are worth reading: invoiced and not paid yet.

    Invoices come from requests (INVOICED until the payment is recorded); a season that staff
    validated by hand without its payment is read too.
    """
    if request is not None:
        return request.state is RequestState.INVOICED
    return any(m.year == season and m.status is MembershipStatus.VALIDATED for m in memberships)


def _unpaid_invoices(rt: Runtime, org_id: str, season: int, memberships: list[Membership]) -> list[Invoice]:
    """The season's issued invoices that no credit note cancelled, unless the season is paid."""
    if any(m.year == season and m.status is MembershipStatus.PAID for m in memberships):
        return []
    documents = rt.documents.for_organisation(org_id)
    credited = {d.related_number for d in documents if d.kind is DocumentKind.CREDIT_NOTE}
    return sorted((d.content for d in documents
                   if d.kind is DocumentKind.INVOICE and d.year == season and d.number not in credited),
                  key=lambda invoice: invoice.terms.due_on)


# --- local: the queue drained in this process ---------------------------------------------


@dataclass
class DrainResult:
    chunks: int = 0
    sent: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def drain_queue(rt: Runtime, max_chunks: int = 1000) -> DrainResult:
    """Process the queued chunks here, as SQS would deliver them to ``process_chunk`` (local stage).

    A chunk that fails is made visible again and the error raised, as a failed Lambda
    invocation leaves its message for a later delivery.
    """
    result = DrainResult()
    while result.chunks < max_chunks:
        received = rt.campaign_queue.receive(max_messages=1)
        if not received:
            break
        message = received[0]
        try:
            done = process_chunk(rt, message.body)
        except BaseException:
            rt.campaign_queue.release(message.receipt)
            raise
        rt.campaign_queue.delete(message.receipt)
        result.chunks += 1
        result.sent.update(done.sent)
    return result


# --- staff preview -------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewLine:
    org_id: str
    organisation: str
    contact: str
    email: str
    terms: NoticeTerms
    already_sent: bool


@dataclass(frozen=True)
class CampaignPreview:
    season: int
    opens_on: date
    seasons: tuple[int, ...]  # the seasons staff may start
    grid_ready: bool
    # The dashboard's words, with the same counts (``domain.renewal_rate.to_renew``):
    # to_renew = organisations_due + with_request + recorded_without_request.
    to_renew: int  # active, last validated or paid membership before the season in Y-1 or Y-2
    organisations_due: int  # to renew and not renewed yet (no live request, no membership): the notice is for them
    with_request: int  # renewed: a live request for the season (the dashboard's « renouvelée »)
    recorded_without_request: int  # the season's membership recorded by staff or an import, no request
    recipients: int  # contacts who would receive the notice (sent or not yet)
    already_sent: int
    opted_out: int  # contacts of due organisations whose notices staff turned off
    without_recipient: list[str]  # due organisations nobody would receive the notice for
    missing_price: list[str]  # due organisations whose tier has no price in the season's grid
    not_due: int
    inactive: int
    lines: list[PreviewLine]  # at most PREVIEW_LINES
    sent_by_kind: dict[MessageKind, int]
    runs: list[CampaignRun]

    @property
    def to_send(self) -> int:
        return self.recipients - self.already_sent

    @property
    def more_lines(self) -> int:
        return self.recipients - len(self.lines)

    @property
    def notice_choices(self) -> list[tuple[str, str]]:
        """(org_id, name) of the organisations listed, for « L'avis tel qu'il sera envoyé »."""
        return list(dict((line.org_id, line.organisation) for line in self.lines).items())


def seasons_offered(rt: Runtime) -> tuple[int, ...]:
    """The seasons staff may preview and start: the open one and the next."""
    return seasons_staff_may_start(rt.today(), _opening(rt))


def preview_campaign(rt: Runtime, season: int | None = None) -> CampaignPreview:
    """Who would receive the notice of ``season`` and the counts; sends nothing.

    Whole-population work: one Scan each of organisations, contacts and memberships, one
    index query of the season's ledger and one per request state, joined here — not one
    request per organisation.
    """
    today, opening = rt.today(), _opening(rt)
    seasons = seasons_staff_may_start(today, opening)
    season = season if season is not None else default_preview_season(today, opening)
    directory = rt.campaign_directory
    contacts = directory.contacts_by_organisation()
    memberships = directory.memberships_by_organisation()
    ledger = rt.campaign_ledger.for_season(season)
    sent = {(e.org_id, e.email) for e in ledger if e.kind is MessageKind.NOTICE and e.state is LedgerState.SENT}
    sent_by_kind = Counter(e.kind for e in ledger if e.state is LedgerState.SENT)
    grid = rt.tariffs.grid(season)
    answered = {r.org_id for state in RequestState if state is not RequestState.CANCELLED
                for r in rt.renewals.in_state(state, season, limit=1_000_000)}
    lines: list[PreviewLine] = []
    due = with_request = without_request = recipients = already = opted_out = not_due = inactive = 0
    without, missing = [], []
    for org in sorted(directory.all_organisations(), key=lambda o: o.name.lower()):
        if not org.active:
            inactive += 1
            continue
        history = memberships.get(org.org_id, [])
        if not is_due_for_renewal(history, season):
            # Its season's membership is recorded already: still one « to renew » for the dashboard.
            if to_renew(history, season):
                if org.org_id in answered:
                    with_request += 1
                else:
                    without_request += 1
            else:
                not_due += 1
            continue
        if org.org_id in answered:
            with_request += 1
            continue
        due += 1
        terms = notice_terms(history, org.current_tier, grid)
        if terms.amount is None:
            missing.append(org.name)
        chosen, skipped = notice_recipients(contacts.get(org.org_id, []))
        opted_out += len(skipped)
        if not chosen:
            without.append(org.name)
        for contact in chosen:
            was_sent = (org.org_id, normalise_recipient(contact.email)) in sent
            recipients += 1
            already += was_sent
            if len(lines) < PREVIEW_LINES:
                lines.append(PreviewLine(org.org_id, org.name, contact.name, contact.email, terms, was_sent))
    return CampaignPreview(
        season=season, opens_on=campaign_opens_on(season, opening), seasons=seasons,
        grid_ready=bool(grid.tiers), to_renew=due + with_request + without_request, organisations_due=due,
        with_request=with_request, recorded_without_request=without_request, recipients=recipients,
        already_sent=already,
        opted_out=opted_out, without_recipient=without, missing_price=missing, not_due=not_due,
        inactive=inactive, lines=lines, sent_by_kind={k: sent_by_kind.get(k, 0) for k in MessageKind},
        runs=rt.campaign_ledger.runs(season),
    )


@dataclass(frozen=True)
class NoticePreview:
    """The notice of a season for one organisation, as its first recipient would receive it."""

    organisation: Organisation
    contact: Contact
    subject: str
    text: str
    html: str

    @property
    def html_body(self) -> str:
        """The inside of the HTML part's <body>, to show within the staff page."""
        start = self.html.find(">", self.html.lower().find("<body")) + 1
        end = self.html.lower().rfind("</body>")
        return self.html[start:end] if 0 < start <= end else self.html


def preview_notice(rt: Runtime, season: int, org_id: str) -> NoticePreview | None:
    """Render the notice of ``season`` for ``org_id`` with the very functions a chunk sends it
    with (``message_context``, then ``compose``); nothing is stored or sent. None when the
    organisation is unknown, inactive or has nobody to receive the notice."""
    org = rt.organisations.get(org_id) if org_id and len(org_id) <= 100 else None
    if org is None or not org.active:
        return None
    recipients, _ = notice_recipients(rt.contacts.for_organisation(org.org_id))
    if not recipients:
        return None
    kind = MessageKind.NOTICE
    context = message_context(rt, season, kind, org, rt.memberships.for_organisation(org.org_id), None, [])
    subject, text, html = compose(rt, kind, recipients[0], org, context)
    return NoticePreview(org, recipients[0], subject, text, html)
