"""« Renouvelée » and « à renouveler », and the day-by-day count the dashboard's curve is made of."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal
from fractions import Fraction

from chalicelib.domain.model import Address, Category, Membership, MembershipStatus, PublicBuyerRequirement
from chalicelib.domain.renewal import RequestState
from chalicelib.domain.renewal_rate import (
    Span,
    cancelled_on,
    daily_rates,
    live_spans,
    paris_date,
    renewed_counts,
    to_renew,
)
from chalicelib.domain.renewal_request import BillingDetails, HistoryEntry, RenewalRequest

START = date(2026, 12, 1)


def membership(year: int, status=MembershipStatus.PAID) -> Membership:
    return Membership("org", year, "COL-1", "Commune", Decimal("180"), status)


def request(submitted: datetime, *, cancelled: datetime | None = None, attempt: int = 1) -> RenewalRequest:
    made = RenewalRequest(
        org_id="org", year=2027, attempt=attempt, state=RequestState.READY_TO_INVOICE, submitted_at=submitted,
        submitted_by="c", submitted_by_name="C", organisation_name="O", category=Category.COLLECTIVITE,
        public_buyer=False,
        billing=BillingDetails(Address("1 rue", "49000", "Angers"), "a@b.example", "", "", PublicBuyerRequirement.NONE),
        tier_code="COL-1", tier_label="Commune", amount=Decimal("180"),
        history=(HistoryEntry(submitted, "submitted", "c", RequestState.READY_TO_INVOICE),),
    )
    return made.cancelled(cancelled, "staff") if cancelled else made


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_to_renew_looks_at_the_two_years_before_the_season_only():
    assert to_renew([membership(2026)], 2027)
    assert to_renew([membership(2025, MembershipStatus.VALIDATED)], 2027)
    assert not to_renew([membership(2024)], 2027)  # lapsed for longer: not a renewal
    assert not to_renew([], 2027)  # a new member
    assert not to_renew([membership(2026, MembershipStatus.CANCELLED)], 2027)
    assert to_renew([membership(2026), membership(2027)], 2027)  # what 2027 brought changes nothing


def test_days_are_french_days():
    assert paris_date(utc(2026, 11, 30, 23, 30)) == date(2026, 12, 1)  # 00:30 in Paris


def test_a_cancelled_request_is_live_until_its_cancellation_day():
    cancelled = request(utc(2026, 12, 2, 9), cancelled=utc(2026, 12, 5, 16))
    assert cancelled_on(cancelled) == date(2026, 12, 5)
    assert live_spans([cancelled]) == [Span(date(2026, 12, 2), date(2026, 12, 5))]
    assert cancelled_on(request(utc(2026, 12, 2, 9))) is None


def test_a_request_cancelled_the_day_it_was_made_never_counts():
    assert live_spans([request(utc(2026, 12, 2, 9), cancelled=utc(2026, 12, 2, 15))]) == []


def test_one_organisation_counts_once_a_day_whatever_its_attempts():
    first = request(utc(2026, 12, 2, 9), cancelled=utc(2026, 12, 4, 9))
    second = request(utc(2026, 12, 3, 9), attempt=2)  # overlapping (e.g. written by staff)
    third = request(utc(2026, 12, 8, 9), attempt=3)
    spans = live_spans([first, second])
    assert renewed_counts([spans], START, 6) == [0, 1, 1, 1, 1, 1]
    gap = live_spans([request(utc(2026, 12, 2, 9), cancelled=utc(2026, 12, 4, 9)), third])
    assert renewed_counts([gap], START, 9) == [0, 1, 1, 0, 0, 0, 0, 1, 1]


def test_counts_add_up_organisations_and_clip_to_the_window():
    before_opening = [Span(date(2026, 11, 20))]  # counted from the first day shown
    later = [Span(date(2026, 12, 3), date(2026, 12, 5))]
    after_window = [Span(date(2027, 1, 10))]
    ended_before = [Span(date(2026, 11, 1), date(2026, 11, 5))]
    counts = renewed_counts([before_opening, later, after_window, ended_before], START, 5)
    assert counts == [1, 1, 2, 2, 1]
    assert renewed_counts([before_opening], START, 0) == []


def test_daily_rates_divide_by_the_organisations_to_renew():
    points = daily_rates([[Span(date(2026, 12, 2))], [Span(date(2026, 12, 3))]], 3, START, 3)
    assert [p.day for p in points] == [date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)]
    assert [p.rate for p in points] == [Fraction(0), Fraction(1, 3), Fraction(2, 3)]
    assert daily_rates([], 0, START, 2)[0].rate is None  # nobody to renew: no rate, not 0 %


def test_a_cancelled_state_without_its_history_line_uses_the_last_change():
    odd = replace(request(utc(2026, 12, 2, 9)), state=RequestState.CANCELLED, updated_at=utc(2026, 12, 6, 9))
    assert cancelled_on(odd) == date(2026, 12, 6)
