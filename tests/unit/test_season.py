"""The season rule: which membership year a renewal made on a given day is for."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.season import CampaignOpening, campaign_opens_on, renewal_year

DECEMBER_1 = CampaignOpening(12, 1)
NOTHING_PAID: frozenset[int] = frozenset()


# --- CampaignOpening -------------------------------------------------------------------


@pytest.mark.parametrize("month, day", [(1, 1), (2, 28), (4, 30), (9, 15), (12, 1), (12, 31)])
def test_campaign_opening_accepts_real_days(month: int, day: int) -> None:
    assert CampaignOpening(month, day) == CampaignOpening(month=month, day=day)


@pytest.mark.parametrize(
    "month, day", [(2, 29), (2, 30), (4, 31), (0, 1), (13, 1), (12, 0), (12, 32), (-1, 5)]
)
def test_campaign_opening_refuses_days_that_do_not_exist_every_year(
    month: int, day: int
) -> None:
    with pytest.raises(ValueError):
        CampaignOpening(month, day)


@pytest.mark.parametrize("month, day", [("12", 1), (12, 1.0), (True, 1), (12, None)])
def test_campaign_opening_refuses_non_integers(month: object, day: object) -> None:
    with pytest.raises(ValueError):
        CampaignOpening(month, day)  # type: ignore[arg-type]


def test_campaign_opening_error_message_is_french() -> None:
    with pytest.raises(ValueError, match="29 février"):
        CampaignOpening(2, 29)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("12-01", CampaignOpening(12, 1)),
        ("9-15", CampaignOpening(9, 15)),
        (" 01-01 ", CampaignOpening(1, 1)),
    ],
)
def test_campaign_opening_is_read_from_the_month_day_setting(
    text: str, expected: CampaignOpening
) -> None:
    assert CampaignOpening.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "12", "12/01", "décembre", "-12-01", "12-01-2026", "012-01", "1²-01", "02-29", "13-01"],
)
def test_campaign_opening_setting_that_is_unreadable_or_not_a_real_day_is_refused(
    text: str,
) -> None:
    with pytest.raises(ValueError):
        CampaignOpening.parse(text)


def test_campaign_opening_prints_as_its_setting() -> None:
    assert str(CampaignOpening(9, 5)) == "09-05"
    assert CampaignOpening.parse(str(DECEMBER_1)) == DECEMBER_1


def test_campaign_opening_is_immutable() -> None:
    with pytest.raises(AttributeError):
        DECEMBER_1.month = 11  # type: ignore[misc]


# --- campaign_opens_on -----------------------------------------------------------------


def test_campaign_for_a_year_opens_in_the_previous_year() -> None:
    assert campaign_opens_on(2027, DECEMBER_1) == date(2026, 12, 1)
    assert campaign_opens_on(2027, CampaignOpening(9, 15)) == date(2026, 9, 15)
    assert campaign_opens_on(2027, CampaignOpening(12, 31)) == date(2026, 12, 31)


def test_campaign_opening_on_1_january_opens_on_the_first_day_of_the_year_itself() -> None:
    assert campaign_opens_on(2027, CampaignOpening(1, 1)) == date(2027, 1, 1)


def test_campaign_opening_on_28_february_works_in_leap_years() -> None:
    assert campaign_opens_on(2029, CampaignOpening(2, 28)) == date(2028, 2, 28)


# --- renewal_year, opening on 1 December -----------------------------------------------


@pytest.mark.parametrize(
    "today, expected",
    [
        (date(2026, 1, 1), 2026),
        (date(2026, 6, 15), 2026),
        (date(2026, 11, 30), 2026),  # day before the opening
        (date(2026, 12, 1), 2027),  # opening day
        (date(2026, 12, 2), 2027),  # day after the opening
        (date(2026, 12, 31), 2027),
        (date(2027, 1, 1), 2027),  # new year: still the year just renewed for, if unpaid
    ],
)
def test_with_nothing_paid_renewal_is_for_current_year_until_opening_then_next_year(
    today: date, expected: int
) -> None:
    assert renewal_year(today, DECEMBER_1, NOTHING_PAID) == expected


@pytest.mark.parametrize("today", [date(2026, 1, 1), date(2026, 6, 15), date(2026, 11, 30)])
def test_before_opening_a_paid_current_year_leaves_nothing_to_renew(today: date) -> None:
    assert renewal_year(today, DECEMBER_1, {2026}) is None


@pytest.mark.parametrize("today", [date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 31)])
def test_after_opening_renewal_is_for_next_year_even_if_current_year_is_paid(today: date) -> None:
    assert renewal_year(today, DECEMBER_1, {2026}) == 2027


@pytest.mark.parametrize("today", [date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 31)])
def test_after_opening_an_unpaid_current_year_is_no_longer_offered(today: date) -> None:
    assert renewal_year(today, DECEMBER_1, {2025}) == 2027


@pytest.mark.parametrize("paid", [{2027}, {2026, 2027}])
@pytest.mark.parametrize("today", [date(2026, 12, 1), date(2026, 12, 31)])
def test_after_opening_a_paid_next_year_leaves_nothing_to_renew(
    today: date, paid: set[int]
) -> None:
    assert renewal_year(today, DECEMBER_1, paid) is None


def test_before_opening_a_paid_next_year_does_not_hide_an_unpaid_current_year() -> None:
    assert renewal_year(date(2026, 11, 30), DECEMBER_1, {2027}) == 2026


def test_on_1_january_a_year_paid_in_advance_leaves_nothing_to_renew() -> None:
    assert renewal_year(date(2027, 1, 1), DECEMBER_1, {2026, 2027}) is None


def test_paid_years_may_be_any_set() -> None:
    assert renewal_year(date(2026, 6, 15), DECEMBER_1, frozenset({2026})) is None


# --- renewal_year, edge openings -------------------------------------------------------


@pytest.mark.parametrize("today", [date(2026, 1, 1), date(2026, 7, 14), date(2026, 12, 31)])
def test_opening_on_1_january_means_renewal_is_always_for_the_current_year(today: date) -> None:
    assert renewal_year(today, CampaignOpening(1, 1), NOTHING_PAID) == today.year


def test_opening_on_1_january_with_current_year_paid_leaves_nothing_to_renew() -> None:
    assert renewal_year(date(2026, 12, 31), CampaignOpening(1, 1), {2026}) is None


def test_opening_on_2_january_switches_to_next_year_on_2_january() -> None:
    opening = CampaignOpening(1, 2)
    assert renewal_year(date(2026, 1, 1), opening, NOTHING_PAID) == 2026
    assert renewal_year(date(2026, 1, 2), opening, NOTHING_PAID) == 2027


def test_opening_on_31_december_switches_to_next_year_on_31_december() -> None:
    opening = CampaignOpening(12, 31)
    assert renewal_year(date(2026, 12, 30), opening, NOTHING_PAID) == 2026
    assert renewal_year(date(2026, 12, 31), opening, NOTHING_PAID) == 2027
    assert renewal_year(date(2027, 1, 1), opening, NOTHING_PAID) == 2027


def test_opening_on_28_february_in_a_leap_year_switches_on_28_february() -> None:
    opening = CampaignOpening(2, 28)
    assert renewal_year(date(2028, 2, 27), opening, NOTHING_PAID) == 2028
    assert renewal_year(date(2028, 2, 28), opening, NOTHING_PAID) == 2029
    assert renewal_year(date(2028, 2, 29), opening, NOTHING_PAID) == 2029


# --- properties ------------------------------------------------------------------------

openings = st.dates(min_value=date(2001, 1, 1), max_value=date(2001, 12, 31)).map(
    lambda d: CampaignOpening(d.month, d.day)
)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
paid_sets = st.frozensets(st.integers(min_value=1999, max_value=2102), max_size=4)


@given(today=days, opening=openings, paid=paid_sets)
def test_renewal_is_for_an_unpaid_year_whose_campaign_is_open(
    today: date, opening: CampaignOpening, paid: frozenset[int]
) -> None:
    year = renewal_year(today, opening, paid)
    if year is not None:
        assert year in (today.year, today.year + 1)
        assert year not in paid
        assert campaign_opens_on(year, opening) <= today
        assert campaign_opens_on(year + 1, opening) > today


@given(today=days, opening=openings)
def test_with_nothing_paid_the_renewal_year_never_goes_back(
    today: date, opening: CampaignOpening
) -> None:
    tomorrow = today + timedelta(days=1)
    this_year = renewal_year(today, opening, NOTHING_PAID)
    next_year = renewal_year(tomorrow, opening, NOTHING_PAID)
    assert this_year is not None and next_year is not None
    assert next_year in (this_year, this_year + 1)
