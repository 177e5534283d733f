"""The staff dashboard of a renewal season: where every organisation stands, the renewal
rate day by day against last season, and who has not renewed yet.

The page is ``/admin/tableau-de-bord``, linked first from the staff home ``/admin``. The
home stays a light page of links (every staff login lands there); the dashboard reads
the whole population, so it is only read when asked for.

The season shown is the one renewals are for today (``domain.campaign.campaign_season``),
or another one chosen with ``?annee=``. « Renouvelée », « à renouveler » and the rate are
defined in ``domain.renewal_rate``.

Each organisation appears on one line of the table of states:

- its latest request for the season, when it is live (not cancelled): one line per state
  (tier decision pending … invoiced, paid); amounts are the requests' (excluding VAT) and
  the totals of their issued invoices (VAT included);
- else, a membership for the season validated or paid without a request (import, staff
  validation): « sans demande », with the membership's amount;
- else, an active organisation to renew: « pas encore renouvelée » (whether it never asked
  or its request was cancelled), with the amount its notice announces (tariff grid of the
  season, tier of its last validated membership).

DynamoDB reads, whatever the number of organisations (DynamoDB pages each Scan or Query
by 1 MB, so very large tables take a few more calls of the same kind):

- one Scan each of organisations, contacts and memberships (``rt.campaign_directory``,
  the reads the campaign preview uses);
- 12 queries of the requests' ``by_state`` index: one per request state (6) for the
  season and for the season before (the comparison curve);
- one Scan of the documents, filtered to the season's invoices (invoiced totals);
- one Query of the season's tariff grid (amounts expected from those not renewed yet).

That is 17 requests, and none per organisation.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from ..domain.campaign import campaign_season, notice_terms
from ..domain.chart import Series, percent, rate_chart, table_rows
from ..domain.chorus import counts as chorus_counts
from ..domain.documents import DocumentKind
from ..domain.errors import ValidationError
from ..domain.formatting import format_date
from ..domain.model import Contact, Membership, Organisation
from ..domain.renewal import RequestState
from ..domain.renewal_rate import RatePoint, cancelled_on, daily_rates, live_spans, to_renew
from ..domain.renewal_request import RenewalRequest
from ..domain.season import CampaignOpening, campaign_opens_on
from ..domain.validation import check_year, fold
from ..runtime import Runtime

ZERO = Decimal("0.00")
NOT_RENEWED = "not_renewed"
WITHOUT_REQUEST = "without_request"
LIVE_STATES = (RequestState.TIER_DECISION_PENDING, RequestState.AWAITING_PURCHASE_ORDER,
               RequestState.READY_TO_INVOICE, RequestState.INVOICED, RequestState.PAID)
SEASONS_BACK = 4  # seasons offered before the current one
FIRST_SEASON = 2000


@dataclass(frozen=True)
class StateLine:
    """One line of the table of states."""

    key: str  # a RequestState value, NOT_RENEWED or WITHOUT_REQUEST
    label: str
    organisations: int
    amount: Decimal  # excluding VAT: requests', memberships', or expected (see the module docstring)
    invoiced: Decimal | None = None  # VAT included: issued invoices of these requests; None: no invoice here
    missing_price: int = 0  # organisations to renew whose tier has no price in the season's grid


@dataclass(frozen=True)
class NotRenewed:
    """An organisation to renew that has no live request and no membership for the season."""

    org: Organisation
    contacts: list[Contact]  # active contacts of the organisation
    last_year: int | None  # its last validated or paid membership
    tier_label: str
    expected: Decimal | None  # what the notice announces (None: no price yet)
    cancelled_on: date | None  # its latest request for the season was cancelled that day


@dataclass(frozen=True)
class Curve:
    """The rate day by day for one season, from its campaign's opening."""

    season: int
    opens_on: date
    population: int  # organisations to renew
    points: list[RatePoint]

    @property
    def last(self) -> RatePoint | None:
        return self.points[-1] if self.points else None


@dataclass(frozen=True)
class TableRow:
    """One line of the chart's table: a day of the campaign and both seasons' rates."""

    day_number: int  # 1 = opening day
    day: date
    current: RatePoint
    previous_day: date
    previous: RatePoint


@dataclass(frozen=True)
class Dashboard:
    season: int
    current_season: int  # the one renewals are for today
    seasons: tuple[int, ...]  # offered in the selector, newest first
    today: date
    opens_on: date
    until: date  # last day of the curve: today, or the day before the next campaign opens
    lines: list[StateLine]
    current: Curve
    previous: Curve
    without_request: int  # organisations to renew with a membership for the season but no request
    not_renewed: list[NotRenewed]
    chart: str  # SVG markup ("" before the campaign opens)
    table: list[TableRow]
    chorus: dict[str, int] = field(default_factory=dict)  # the season's Chorus Pro deposits (domain.chorus.counts)

    @property
    def total(self) -> StateLine:
        return StateLine("total", "Total", sum(line.organisations for line in self.lines),
                         sum((line.amount for line in self.lines), ZERO),
                         sum((line.invoiced or ZERO for line in self.lines), ZERO))

    @property
    def opened(self) -> bool:
        return bool(self.current.points)

    @property
    def renewed(self) -> int:
        return self.current.last.renewed if self.current.last else 0

    @property
    def rate(self) -> Fraction | None:
        return self.current.last.rate if self.current.last else None

    @property
    def previous_rate(self) -> Fraction | None:
        return self.previous.last.rate if self.previous.last else None


def _opening(rt: Runtime) -> CampaignOpening:
    return CampaignOpening.parse(rt.association().campaign_opening)


def current_season(rt: Runtime) -> int:
    """The season renewals are for today."""
    return campaign_season(rt.today(), _opening(rt))


def parse_season(text: str, current: int) -> int:
    """The season asked for in ``?annee=`` (empty: ``current``), or ValidationError in French."""
    if not text.strip():
        return current
    message = f"Année invalide : choisissez une saison entre {FIRST_SEASON} et {current + 1}."
    try:
        season = check_year(text)
    except ValueError:
        raise ValidationError({"annee": message}, message) from None
    if season > current + 1:
        raise ValidationError({"annee": message}, message)
    return season


def _requests(rt: Runtime, season: int) -> dict[str, list[RenewalRequest]]:
    """The season's requests by organisation, newest attempt first (one index query per state)."""
    found: dict[str, list[RenewalRequest]] = defaultdict(list)
    for state in RequestState:
        for request in rt.renewals.in_state(state, season, limit=1_000_000):
            found[request.org_id].append(request)
    for requests in found.values():
        requests.sort(key=lambda r: -r.attempt)
    return found


def _curve(season: int, opening: CampaignOpening, days: int, organisations: list[Organisation],
           memberships: dict[str, list[Membership]], requests: dict[str, list[RenewalRequest]]) -> Curve:
    opens_on = campaign_opens_on(season, opening)
    population = [o.org_id for o in organisations if o.active and to_renew(memberships.get(o.org_id, []), season)]
    spans = [live_spans(requests.get(org_id, [])) for org_id in population]
    return Curve(season, opens_on, len(population), daily_rates(spans, len(population), opens_on, days))


def _counts_membership(memberships: list[Membership], season: int) -> Membership | None:
    return next((m for m in memberships if m.year == season and m.counts), None)


def build_dashboard(rt: Runtime, season: int | None = None) -> Dashboard:
    """Everything the dashboard shows for ``season`` (default: the one renewals are for today)."""
    today, opening = rt.today(), _opening(rt)
    current = campaign_season(today, opening)
    season = current if season is None else season
    directory = rt.campaign_directory
    organisations = sorted(directory.all_organisations(), key=lambda o: fold(o.name))
    memberships = directory.memberships_by_organisation()
    contacts = directory.contacts_by_organisation()
    requests, previous_requests = _requests(rt, season), _requests(rt, season - 1)
    invoices = {d.number: d.total for d in rt.documents.all(DocumentKind.INVOICE, season)}
    grid = rt.tariffs.grid(season)

    opens_on = campaign_opens_on(season, opening)
    until = min(today, campaign_opens_on(season + 1, opening) - timedelta(days=1))
    days = max((until - opens_on).days + 1, 0)
    curve = _curve(season, opening, days, organisations, memberships, requests)
    previous = _curve(season - 1, opening, days, organisations, memberships, previous_requests)

    by_state: dict[RequestState, list[RenewalRequest]] = defaultdict(list)
    without_request: list[Membership] = []
    not_renewed: list[NotRenewed] = []
    for org in organisations:
        history = memberships.get(org.org_id, [])
        latest = next(iter(requests.get(org.org_id, [])), None)
        if latest is not None and latest.state is not RequestState.CANCELLED:
            by_state[latest.state].append(latest)
        elif (membership := _counts_membership(history, season)) is not None:
            without_request.append(membership)
        elif org.active and to_renew(history, season):
            terms = notice_terms([m for m in history if m.year < season], org.current_tier, grid)
            people = [c for c in contacts.get(org.org_id, []) if c.active and not c.is_staff]
            not_renewed.append(NotRenewed(org, people, terms.last_year, terms.tier_label, terms.amount,
                                          cancelled_on(latest) if latest is not None else None))

    lines = [StateLine(NOT_RENEWED, "Pas encore renouvelée", len(not_renewed),
                       sum((n.expected for n in not_renewed if n.expected is not None), ZERO),
                       missing_price=sum(1 for n in not_renewed if n.expected is None))]
    for state in LIVE_STATES:
        found = by_state.get(state, [])
        lines.append(StateLine(state.value, state.label, len(found), sum((r.amount for r in found), ZERO),
                               sum((invoices.get(r.invoice_number, ZERO) for r in found), ZERO)))
    lines.append(StateLine(WITHOUT_REQUEST, "Adhésion enregistrée sans demande", len(without_request),
                           sum((m.amount for m in without_request), ZERO)))
    population = {o.org_id for o in organisations if o.active and to_renew(memberships.get(o.org_id, []), season)}
    uncounted = sum(1 for m in without_request if m.org_id in population)
    chart, table = _chart(curve, previous)
    seasons = tuple(sorted({*range(current - SEASONS_BACK, current + 1), season}, reverse=True))
    deposits = [d for d in rt.chorus_deposits.all() if d.year == season]
    return Dashboard(season, current, seasons, today, opens_on, until, lines, curve, previous, uncounted,
                     not_renewed, chart, table, chorus_counts(deposits) if deposits else {})


def _chart(curve: Curve, previous: Curve) -> tuple[str, list[TableRow]]:
    if not curve.points:
        return "", []
    days = [p.day for p in curve.points]
    title = f"Taux de renouvellement {curve.season}, comparé à {previous.season}"
    last, before = curve.points[-1], previous.points[-1]
    description = (
        f"Part des structures à renouveler qui ont déposé une demande non annulée, jour par jour depuis "
        f"l'ouverture de la campagne {curve.season} le {format_date(curve.opens_on)}, jusqu'au "
        f"{format_date(last.day)} : {percent(last.rate)} ({last.renewed} sur {last.population}). "
        f"Même jour de campagne en {previous.season} (le {format_date(before.day)}) : "
        f"{percent(before.rate)} ({before.renewed} sur {before.population})."
    )
    svg = rate_chart(days, [
        Series(f"Campagne {curve.season}", tuple(p.rate for p in curve.points), "current"),
        Series(f"Campagne {previous.season}", tuple(p.rate for p in previous.points), "previous"),
    ], title=title, description=description, chart_id="taux")
    rows = [TableRow(i + 1, curve.points[i].day, curve.points[i], previous.points[i].day, previous.points[i])
            for i in table_rows(len(days))]
    return svg, rows

