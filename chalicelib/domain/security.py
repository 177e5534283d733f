"""Authentication rules: sessions, lockout and password policy (pure, clock passed in)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import ValidationError

LOCKOUT_THRESHOLD = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
# The lock is a progressive delay: 1 minute after 5 failures, then 2, 4, 8 and at most 15 minutes
# for each further 5 in a row. Someone trying to lock another person out only delays them, and
# « Mot de passe oublié » always lets the holder in (a reset clears the count).
FIRST_LOCK = timedelta(minutes=1)
LOCKOUT_DURATION = timedelta(minutes=15)  # the longest lock
# An idle session is refreshed at most once a minute, so most pages cost no write.
SESSION_TOUCH_INTERVAL = timedelta(seconds=60)

PASSWORD_MIN = 12
PASSWORD_MAX = 128

GENERIC_LOGIN_ERROR = "Adresse e-mail ou mot de passe incorrect, ou compte temporairement bloqué."


def hash_token(token: str) -> str:
    """What is stored for a bearer token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    token_hash: str
    contact_id: str
    org_id: str | None
    role: str
    created_at: datetime
    last_seen_at: datetime
    # The organisation's name when the session was opened: « Mes adhésions » shows it without
    # reading the organisation item (a renaming shows there from the next login).
    org_name: str = ""
    # Staff sessions reach staff pages only once the second factor was given (domain.second_factor).
    second_factor_done: bool = False

    @property
    def awaits_second_factor(self) -> bool:
        return self.role == "staff" and not self.second_factor_done

    def expired(self, now: datetime, idle_limit: timedelta, absolute_limit: timedelta) -> bool:
        return now - self.last_seen_at >= idle_limit or now - self.created_at >= absolute_limit

    def needs_touch(self, now: datetime) -> bool:
        return now - self.last_seen_at >= SESSION_TOUCH_INTERVAL

    def expires_at(self, idle_limit: timedelta, absolute_limit: timedelta) -> datetime:
        return min(self.last_seen_at + idle_limit, self.created_at + absolute_limit)


@dataclass(frozen=True)
class LoginThrottle:
    """Recent failed logins for one email address."""

    email: str
    failures: tuple[datetime, ...] = ()
    locked_until: datetime | None = None
    strikes: int = 0  # locks in a row; forgotten once a lock ended longer than the longest lock ago

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime) -> LoginThrottle:
        recent = tuple(t for t in self.failures if now - t < LOCKOUT_WINDOW) + (now,)
        locked_until, strikes = self.locked_until, self.strikes
        if locked_until is not None and now - locked_until >= LOCKOUT_DURATION:
            strikes = 0
        if len(recent) >= LOCKOUT_THRESHOLD:
            strikes, recent = strikes + 1, ()
            locked_until = now + _lock_length(strikes)
        return LoginThrottle(self.email, recent[-LOCKOUT_THRESHOLD:], locked_until, strikes)

    def just_locked(self, previous: LoginThrottle, now: datetime) -> bool:
        return self.is_locked(now) and not previous.is_locked(now)

    def has_room(self, now: datetime, limit: int, window: timedelta) -> bool:
        """A plain rate limit on the same record: fewer than ``limit`` events in the last ``window``."""
        return sum(1 for t in self.failures if now - t < window) < limit

    def with_event(self, now: datetime, limit: int, window: timedelta) -> LoginThrottle:
        """``now`` counted if there is room (events that have aged out are dropped either way)."""
        recent = tuple(t for t in self.failures if now - t < window)
        return LoginThrottle(self.email, recent + ((now,) if len(recent) < limit else ()), None)

    @property
    def lock_length(self) -> timedelta:
        """How long the last lock set lasts."""
        return _lock_length(self.strikes)


def _lock_length(strikes: int) -> timedelta:
    """The ``strikes``-th lock in a row: 1 minute, then twice as long each time, 15 at most."""
    return min(FIRST_LOCK * 2 ** max(strikes - 1, 0), LOCKOUT_DURATION)


@dataclass(frozen=True)
class ResetToken:
    token_hash: str
    contact_id: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    purpose: str = "reset"  # "reset" or "invite": same rules, other wording

    def usable(self, now: datetime, password_changed_at: datetime | None) -> bool:
        if self.used_at is not None or now >= self.expires_at:
            return False
        # A password change since the link was sent voids every older link.
        return password_changed_at is None or password_changed_at <= self.created_at


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_new_password(password: str, confirmation: str, user_inputs: list[str]) -> None:
    """Raise ``ValidationError`` unless the password is long enough and hard to guess."""
    if len(password) < PASSWORD_MIN:
        raise ValidationError({"password": f"Le mot de passe doit contenir au moins {PASSWORD_MIN} caractères."})
    if len(password) > PASSWORD_MAX:
        raise ValidationError({"password": f"Le mot de passe doit contenir au plus {PASSWORD_MAX} caractères."})
    if password != confirmation:
        raise ValidationError({"confirmation": "Les deux mots de passe ne sont pas identiques."})
    if is_common_password(password, user_inputs):
        raise ValidationError({
            "password": "Ce mot de passe est trop courant ou trop facile à deviner. "
            "Choisissez une phrase de plusieurs mots sans rapport avec vous."
        })


# zxcvbn's dictionaries are English; these French favourites and the AZERTY rows are added.
FRENCH_COMMON = (
    "azerty", "azertyuiop", "qsdfghjklm", "wxcvbn", "motdepasse", "bonjour", "soleil", "jetaime",
    "marseille", "doudou", "chouchou", "loulou", "coucou", "adhesion", "adherent", "mairie",
)


def is_common_password(password: str, user_inputs: list[str]) -> bool:
    """True for passwords found in zxcvbn's common-password lists or easy to guess."""
    from zxcvbn import zxcvbn  # lazy: its dictionaries take a moment to load

    # zxcvbn is costly on very long inputs; the first 100 characters are enough to judge.
    inputs = [u for u in user_inputs if u] + list(FRENCH_COMMON)
    result = zxcvbn(password[:100], user_inputs=inputs)
    return result["score"] < 3
