"""What « renouvelée » means on the staff dashboard, and the renewal rate day by day.

Definitions, for a season S (a membership year):

- **to renew** (*à renouveler*): an active organisation whose last validated or paid
  membership *before* S is for S-1 or S-2 — the organisations the campaign sends its
  notice to (``domain.campaign.is_due_for_renewal``). New members and members lapsed for
  longer are not renewals; what S itself brought does not change who had to renew.
- **renewed on day d** (*renouvelée*): the organisation has a request for S submitted on
  or before d (Paris date) and not cancelled on or before d. Later states (invoiced,
  paid) change nothing: paying comes after renewing. A cancelled request stops counting
  on the day of its cancellation; a new attempt counts again from its own submission.
- **rate on day d** = organisations to renew that are renewed on d / organisations to renew.

Every date comes from what is stored (``submitted_at``, the cancellation entry of the
request's history), so the curve of a past season is rebuilt from today's data with no
extra write. Memberships for S recorded without a request (an import, a staff validation)
carry no date: the dashboard counts them apart and never in the curve.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from zoneinfo import ZoneInfo

from .model import Membership, last_validated
from .renewal import RequestEvent, RequestState
from .renewal_request import RenewalRequest

PARIS = ZoneInfo("Europe/Paris")


def paris_date(moment: datetime) -> date:
    """The French calendar day of a stored (UTC) time."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(PARIS).date()


def to_renew(memberships: Iterable[Membership], season: int) -> bool:
    """True when the last validated or paid membership before ``season`` is for one of the two years before."""
    latest = last_validated([m for m in memberships if m.year < season])
    return latest is not None and latest.year in (season - 1, season - 2)


@dataclass(frozen=True)
class Span:
    """The days a request was live: from its submission day, until (excluded) its cancellation day."""

    start: date
    end: date | None = None  # None: not cancelled

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)


def cancelled_on(request: RenewalRequest) -> date | None:
    """The day ``request`` was cancelled, None if it was not."""
    if request.state is not RequestState.CANCELLED:
        return None
    entry = next((e for e in reversed(request.history) if e.action == RequestEvent.CANCEL.value), None)
    moment = entry.at if entry is not None else (request.updated_at or request.submitted_at)
    return paris_date(moment)


def live_spans(requests: Iterable[RenewalRequest]) -> list[Span]:
    """When each request (of one organisation and season) was live; empty spans are left out."""
    spans = []
    for request in requests:
        span = Span(paris_date(request.submitted_at), cancelled_on(request))
        if span.end is None or span.end > span.start:
            spans.append(span)
    return spans


def renewed_counts(spans_by_org: Iterable[Sequence[Span]], first_day: date, days: int) -> list[int]:
    """For each of ``days`` days from ``first_day``: how many organisations had a live span.

    One organisation counts once a day, however many attempts overlap.
    """
    if days <= 0:
        return []
    changes = [0] * (days + 1)
    for spans in spans_by_org:
        clipped = sorted((max((s.start - first_day).days, 0),
                          days if s.end is None else min((s.end - first_day).days, days)) for s in spans)
        merged: list[list[int]] = []
        for start, end in clipped:
            if start >= end:
                continue
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        for start, end in merged:
            changes[start] += 1
            changes[end] -= 1
    counts, running = [], 0
    for offset in range(days):
        running += changes[offset]
        counts.append(running)
    return counts


@dataclass(frozen=True)
class RatePoint:
    day: date
    renewed: int
    population: int

    @property
    def rate(self) -> Fraction | None:
        return Fraction(self.renewed, self.population) if self.population else None


def daily_rates(spans_by_org: Iterable[Sequence[Span]], population: int, first_day: date,
                days: int) -> list[RatePoint]:
    """The rate on each of ``days`` days from ``first_day`` (``spans_by_org``: organisations to renew only)."""
    counts = renewed_counts(spans_by_org, first_day, days)
    return [RatePoint(first_day + timedelta(days=offset), count, population) for offset, count in enumerate(counts)]
