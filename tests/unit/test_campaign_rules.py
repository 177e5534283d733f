"""The campaign's rules: who is due, who receives, which message is due when, and the throttle."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from chalicelib.domain.association import AssociationSettings
from chalicelib.domain.campaign import (
    REMINDERS,
    MessageKind,
    SeasonFacts,
    campaign_season,
    chunked,
    default_preview_season,
    due_kinds,
    in_notice_window,
    is_due_for_renewal,
    notice_recipients,
    notice_terms,
    outbox_id,
    seasons_staff_may_start,
)
from chalicelib.domain.model import (
    Address,
    Category,
    Contact,
    Membership,
    MembershipStatus,
    Role,
    TariffGrid,
    Tier,
)
from chalicelib.domain.season import CampaignOpening
from chalicelib.services.campaign import ChunkMessage, Throttle

DECEMBER_1 = CampaignOpening(12, 1)
JANUARY_1 = CampaignOpening(1, 1)
SETTINGS = AssociationSettings("Cité Verte", Address("1 rue", "49000", "Angers"), "44112233400027",
                               "a@example.org", "02 00 00 00 00", "s@example.org")
ALL = tuple(MessageKind)
P, V, X = MembershipStatus.PAID, MembershipStatus.VALIDATED, MembershipStatus.CANCELLED


def member(*years_and_status) -> list[Membership]:
    return [Membership("org", y, "COL-1", "Petite commune", Decimal("180"), s) for y, s in years_and_status]


# --- seasons -----------------------------------------------------------------------------


@pytest.mark.parametrize("today, season", [
    (date(2026, 11, 28), 2026), (date(2026, 12, 1), 2027), (date(2027, 3, 1), 2027), (date(2027, 12, 1), 2028),
])
def test_the_open_season_is_the_last_campaign_to_have_opened(today, season):
    assert campaign_season(today, DECEMBER_1) == season


def test_with_no_early_campaign_the_season_is_the_calendar_year():
    assert campaign_season(date(2027, 1, 1), JANUARY_1) == 2027
    assert campaign_season(date(2027, 12, 31), JANUARY_1) == 2027


def test_the_daily_run_sends_the_notice_from_the_opening_day_for_thirty_days():
    assert not in_notice_window(date(2026, 11, 30), 2027, DECEMBER_1)
    assert in_notice_window(date(2026, 12, 1), 2027, DECEMBER_1)
    assert in_notice_window(date(2026, 12, 31), 2027, DECEMBER_1)
    assert not in_notice_window(date(2027, 1, 1), 2027, DECEMBER_1)


def test_staff_see_the_next_campaign_when_it_opens_soon_else_the_running_one():
    assert default_preview_season(date(2026, 11, 28), DECEMBER_1) == 2027
    assert default_preview_season(date(2027, 3, 1), DECEMBER_1) == 2027
    assert default_preview_season(date(2027, 9, 15), DECEMBER_1) == 2028
    assert seasons_staff_may_start(date(2026, 11, 28), DECEMBER_1) == (2026, 2027)


# --- who ----------------------------------------------------------------------------------


@pytest.mark.parametrize("history, due", [
    ([(2026, P)], True),                      # last year's member
    ([(2026, V)], True),                      # validated counts too
    ([(2024, P), (2025, P)], True),           # let one year lapse
    ([(2024, P)], False),                     # former member
    ([(2026, P), (2027, P)], False),          # already renewed
    ([(2026, P), (2027, V)], False),          # renewal validated by staff
    ([(2026, P), (2027, X)], True),           # a cancelled 2027 does not count
    ([(2025, P), (2026, X)], True),           # nor a cancelled 2026: 2025 is the last
    ([], False),                              # never a member
])
def test_due_for_renewal_means_a_member_of_one_of_the_two_previous_years(history, due):
    assert is_due_for_renewal(member(*history), 2027) is due


def test_notices_go_to_active_contacts_techniques_unless_staff_turned_them_off():
    def contact(n, **kw):
        return Contact(f"c{n}", f"c{n}@x.example", f"C{n}", kw.pop("role", Role.CONTACT), "org", **kw)

    contacts = [contact(1), contact(2, receives_notices=False), contact(3, active=False), contact(4, role=Role.STAFF)]
    recipients, opted_out = notice_recipients(contacts)
    assert [c.contact_id for c in recipients] == ["c1"]
    assert [c.contact_id for c in opted_out] == ["c2"]


def test_the_notice_prices_the_last_validated_tier_with_the_new_grid():
    grid = TariffGrid(2027, (Tier("COL-1", Category.COLLECTIVITE, "Petite commune", Decimal("185.00")),))
    terms = notice_terms(member((2025, P), (2026, P)), "COL-2", grid)
    assert (terms.tier_code, terms.amount, terms.last_year) == ("COL-1", Decimal("185.00"), 2026)


def test_a_tier_missing_from_the_new_grid_gives_no_amount():
    terms = notice_terms(member((2026, P)), "COL-1", TariffGrid(2027, ()))
    assert terms.amount is None and terms.tier_label == "Petite commune"


# --- when -----------------------------------------------------------------------------------

NOTICE_DAY = date(2026, 12, 1)


def due(facts, today, allowed=ALL):
    return due_kinds(facts, today, SETTINGS, allowed)


def test_the_notice_is_due_while_no_request_is_recorded():
    assert due(SeasonFacts(due_for_renewal=True), NOTICE_DAY) == [MessageKind.NOTICE]
    assert due(SeasonFacts(due_for_renewal=True, has_request=True), NOTICE_DAY) == []
    assert due(SeasonFacts(due_for_renewal=False), NOTICE_DAY) == []
    assert due(SeasonFacts(due_for_renewal=True), NOTICE_DAY, allowed=(MessageKind.NO_REQUEST,)) == []


def test_no_request_reminder_falls_due_21_days_after_the_first_notice_and_stays_due():
    facts = SeasonFacts(due_for_renewal=True, first_notice_on=NOTICE_DAY)
    assert due(facts, NOTICE_DAY + timedelta(days=20), REMINDERS) == []
    assert due(facts, NOTICE_DAY + timedelta(days=21), REMINDERS) == [MessageKind.NO_REQUEST]
    assert due(facts, NOTICE_DAY + timedelta(days=24), REMINDERS) == [MessageKind.NO_REQUEST]  # a late run


def test_no_request_reminder_stops_once_a_request_exists_or_without_a_notice():
    late = NOTICE_DAY + timedelta(days=30)
    assert MessageKind.NO_REQUEST not in due(SeasonFacts(True, has_request=True, first_notice_on=NOTICE_DAY), late)
    assert MessageKind.NO_REQUEST not in due(SeasonFacts(True), late)


def test_purchase_order_reminder_falls_due_15_days_after_the_request():
    facts = SeasonFacts(due_for_renewal=True, has_request=True, awaiting_po_since=date(2026, 12, 5))
    assert due(facts, date(2026, 12, 19)) == []
    assert due(facts, date(2026, 12, 20)) == [MessageKind.PURCHASE_ORDER]


def test_unpaid_invoice_reminder_falls_due_7_days_after_the_due_date():
    facts = SeasonFacts(due_for_renewal=False, has_request=True, unpaid_invoice_due=date(2027, 1, 10))
    assert due(facts, date(2027, 1, 16)) == []
    assert due(facts, date(2027, 1, 17)) == [MessageKind.UNPAID_INVOICE]


def test_cadences_are_settings():
    from dataclasses import replace

    quick = replace(SETTINGS, reminder_po_days=3)
    facts = SeasonFacts(due_for_renewal=True, has_request=True, awaiting_po_since=date(2026, 12, 5))
    assert due_kinds(facts, date(2026, 12, 8), quick, ALL) == [MessageKind.PURCHASE_ORDER]


# --- keys, chunks, messages, throttle --------------------------------------------------------


def test_the_outbox_id_is_the_same_for_the_same_message_and_differs_otherwise():
    one = outbox_id(2027, "org-1", MessageKind.NOTICE, "A@Example.org ")
    assert one == outbox_id(2027, "org-1", MessageKind.NOTICE, "a@example.org")
    others = {outbox_id(2028, "org-1", MessageKind.NOTICE, "a@example.org"),
              outbox_id(2027, "org-2", MessageKind.NOTICE, "a@example.org"),
              outbox_id(2027, "org-1", MessageKind.NO_REQUEST, "a@example.org"),
              outbox_id(2027, "org-1", MessageKind.NOTICE, "b@example.org")}
    assert one not in others and len(others) == 4


def test_chunks_cover_every_organisation_once():
    ids = [f"o{n}" for n in range(205)]
    chunks = list(chunked(ids, 100))
    assert [len(c) for c in chunks] == [100, 100, 5]
    assert sum(chunks, []) == ids
    assert list(chunked([], 100)) == []


def test_a_chunk_message_survives_the_queue_and_garbage_is_refused():
    message = ChunkMessage(2027, (MessageKind.NOTICE,), ("o1", "o2", "o3"), "run-1")
    assert ChunkMessage.loads(message.dumps()) == message
    assert message.remainder(1).org_ids == ("o2", "o3") and message.remainder(1).part == 1
    for body in ("", "{}", "[1]", '{"season": "x", "kinds": [], "org_ids": [], "run_id": "r"}',
                 '{"season": 2027, "kinds": ["spam"], "org_ids": [], "run_id": "r"}'):
        with pytest.raises(ValueError):
            ChunkMessage.loads(body)


class FakeTime:
    def __init__(self):
        self.now = datetime(2026, 12, 1, 5, tzinfo=timezone.utc)
        self.slept = 0.0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept += seconds
        self.now += timedelta(seconds=seconds)


def test_the_throttle_spaces_sends_to_the_rate():
    time = FakeTime()
    throttle = Throttle(5, time.clock, time.sleep)
    moments = []
    for _ in range(11):
        throttle.wait()
        moments.append(time.now)
    assert moments[-1] - moments[0] == timedelta(seconds=2)


def test_the_throttle_does_not_wait_when_sends_are_slow_anyway():
    time = FakeTime()
    throttle = Throttle(5, time.clock, time.sleep)
    for _ in range(3):
        throttle.wait()
        time.now += timedelta(seconds=1)
    assert time.slept == 0
