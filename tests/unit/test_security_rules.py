"""Pure authentication rules: lockout, session limits, reset links, password policy."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.errors import ValidationError
from chalicelib.domain.security import LoginThrottle, ResetToken, Session, check_new_password, hash_token

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
IDLE, ABSOLUTE = timedelta(minutes=30), timedelta(hours=12)


def test_fifth_failure_within_fifteen_minutes_delays_the_account_one_minute():
    throttle = LoginThrottle("a@b.fr")
    for i in range(4):
        throttle = throttle.after_failure(T0 + timedelta(minutes=3 * i))
        assert not throttle.is_locked(T0 + timedelta(minutes=3 * i))
    fifth = T0 + timedelta(minutes=14)
    locked = throttle.after_failure(fifth)
    assert locked.is_locked(fifth)
    assert locked.just_locked(throttle, fifth)
    assert locked.is_locked(fifth + timedelta(seconds=59))
    assert not locked.is_locked(fifth + timedelta(minutes=1))


def _five_failures(throttle, now):
    for _ in range(5):
        throttle = throttle.after_failure(now)
    return throttle


def test_each_lock_in_a_row_lasts_twice_as_long_up_to_fifteen_minutes():
    throttle, now, lengths = LoginThrottle("a@b.fr"), T0, []
    for _ in range(7):
        throttle = _five_failures(throttle, now)
        lengths.append(throttle.locked_until - now)
        assert throttle.lock_length == lengths[-1]
        now = throttle.locked_until
    assert lengths == [timedelta(minutes=m) for m in (1, 2, 4, 8, 15, 15, 15)]


def test_the_delay_starts_again_at_one_minute_once_quiet_for_the_longest_lock():
    throttle = _five_failures(_five_failures(LoginThrottle("a@b.fr"), T0), T0 + timedelta(minutes=1))
    assert throttle.strikes == 2
    later = throttle.locked_until + timedelta(minutes=15)
    assert _five_failures(throttle, later).locked_until == later + timedelta(minutes=1)


def test_failures_spread_over_more_than_fifteen_minutes_never_lock():
    throttle = LoginThrottle("a@b.fr")
    for i in range(10):
        now = T0 + timedelta(minutes=4 * i)
        throttle = throttle.after_failure(now)
        assert not throttle.is_locked(now)


@pytest.mark.parametrize("idle, since_login, expired", [
    (timedelta(minutes=29, seconds=59), timedelta(hours=1), False),
    (timedelta(minutes=30), timedelta(hours=1), True),
    (timedelta(minutes=1), timedelta(hours=11, minutes=59), False),
    (timedelta(minutes=1), timedelta(hours=12), True),
])
def test_session_idle_and_absolute_limits(idle, since_login, expired):
    now = T0 + since_login
    session = Session("h", "c", "o", "contact", created_at=T0, last_seen_at=now - idle)
    assert session.expired(now, IDLE, ABSOLUTE) is expired


def test_session_expiry_is_the_earlier_of_both_limits():
    session = Session("h", "c", "o", "contact", T0, T0 + timedelta(hours=11, minutes=50))
    assert session.expires_at(IDLE, ABSOLUTE) == T0 + ABSOLUTE


def test_reset_token_is_single_use_expires_and_dies_with_a_password_change():
    token = ResetToken("h", "c", T0, T0 + timedelta(minutes=30))
    assert token.usable(T0 + timedelta(minutes=29), None)
    assert not token.usable(T0 + timedelta(minutes=30), None)
    assert not ResetToken("h", "c", T0, T0 + timedelta(minutes=30), used_at=T0).usable(T0, None)
    assert not token.usable(T0 + timedelta(minutes=1), password_changed_at=T0 + timedelta(seconds=1))


def test_token_hash_is_sha256_hex_and_not_the_token():
    assert hash_token("abc") != "abc" and len(hash_token("abc")) == 64


@pytest.mark.parametrize("password, field", [
    ("short", "password"), ("x" * 129, "password"), ("password1234", "password"),
    ("azertyuiop123", "password"), ("jean.dupont@mairie.fr", "password"),
])
def test_weak_passwords_are_refused(password, field):
    with pytest.raises(ValidationError) as error:
        check_new_password(password, password, ["jean.dupont@mairie.fr", "Jean Dupont"])
    assert field in error.value.errors


def test_confirmation_must_match():
    with pytest.raises(ValidationError) as error:
        check_new_password("Quatre chevaux blancs", "Quatre chevaux blanc", [])
    assert "confirmation" in error.value.errors


def test_a_long_passphrase_is_accepted():
    check_new_password("Quatre chevaux blancs dans la prairie", "Quatre chevaux blancs dans la prairie", [])


def test_a_rate_limit_counts_up_to_its_limit_in_its_window():
    from datetime import datetime, timedelta, timezone

    from chalicelib.domain.security import LoginThrottle

    start, hour = datetime(2026, 12, 7, 10, tzinfo=timezone.utc), timedelta(hours=1)
    throttle = LoginThrottle("reset#x")
    for minute in range(3):
        assert throttle.has_room(start + timedelta(minutes=minute), 3, hour)
        throttle = throttle.with_event(start + timedelta(minutes=minute), 3, hour)
    assert not throttle.has_room(start + timedelta(minutes=10), 3, hour)
    assert len(throttle.with_event(start + timedelta(minutes=10), 3, hour).failures) == 3  # not counted
    assert throttle.has_room(start + timedelta(minutes=60), 3, hour)  # the first event has aged out
    assert len(throttle.with_event(start + timedelta(minutes=60), 3, hour).failures) == 3
