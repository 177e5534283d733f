"""Staff second factor: TOTP codes (RFC 6238) and single-use recovery codes (pure, clock passed in).

Staff see every member and issue invoices: after the password, they give a 6-digit code from an
authenticator app (enrolled by QR code on their first login), or one of ten recovery codes. A
code is accepted in the step before, the current step or the step after (30 s each, for clock
drift) and never twice: the step of the last accepted code is stored and a code must be later
(RFC 6238, section 5.2). Recovery codes are random (50 bits each) and stored as SHA-256 hashes,
like every bearer token here; each works once.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from .security import hash_token

STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
ISSUER = "Adhésions en ligne"
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True)
class SecondFactor:
    """A staff member's TOTP secret; ``enrolled_at`` is None until a first code confirmed it."""

    secret: str
    enrolled_at: datetime | None = None
    last_step: int = 0
    recovery_hashes: frozenset[str] = frozenset()

    @property
    def enrolled(self) -> bool:
        return self.enrolled_at is not None

    def matching_step(self, code: str, now: datetime) -> int | None:
        """The time step ``code`` belongs to, if it is valid now and newer than the last one used."""
        import pyotp

        code = re.sub(r"\s", "", code)
        if not re.fullmatch(r"\d{6}", code):
            return None
        totp = pyotp.TOTP(self.secret, interval=STEP_SECONDS)
        current = int(now.timestamp()) // STEP_SECONDS
        for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
            if step > self.last_step and secrets.compare_digest(totp.at(step * STEP_SECONDS), code):
                return step
        return None

    def provisioning_uri(self, account: str) -> str:
        import pyotp

        return pyotp.TOTP(self.secret, interval=STEP_SECONDS).provisioning_uri(name=account, issuer_name=ISSUER)


def new_secret() -> str:
    """160 random bits in base32, as RFC 4226 recommends."""
    return "".join(secrets.choice(_BASE32) for _ in range(32))


def grouped(secret: str) -> str:
    """``'JBSWY3DPEHPK3PXP'`` → ``'JBSW Y3DP EHPK 3PXP'``, to type it in by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def new_recovery_codes() -> list[str]:
    """Ten codes like ``'K7Q2M-9XH4T'`` (50 random bits each)."""
    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L to misread
    return ["-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(2))
            for _ in range(RECOVERY_CODES)]


def _bare(code: str) -> str:
    """A recovery code as typed, without the spaces and dashes that do not matter."""
    return re.sub(r"[\s-]", "", code).upper()


def recovery_hash(code: str) -> str:
    """What is stored for a recovery code: case, spaces and dashes do not matter."""
    return hash_token(_bare(code))


def looks_like_recovery_code(code: str) -> bool:
    return len(_bare(code)) == 10
