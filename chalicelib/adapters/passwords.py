"""Password hashing with argon2id at OWASP's recommended parameters (m=19 MiB, t=2, p=1).

Chosen for the API function's Lambda size (1024 MB, a bit over half a vCPU: a second lane,
p=2, buys nothing there): about 20 ms a check on a quiet 2-core machine, 35–40 ms on Lambda,
where RFC 9106's low-memory profile (m=64 MiB, t=3, p=4) took 100 ms here and several times
that on Lambda. Hashes made with other parameters are redone at the next login.
"""
from __future__ import annotations

from functools import cached_property

TIME_COST = 2
MEMORY_KIB = 19 * 1024
PARALLELISM = 1


class Argon2Hasher:
    """argon2id, t=2, m=19 MiB, p=1: OWASP's recommended configuration."""

    @cached_property
    def _hasher(self):
        from argon2 import PasswordHasher, Type

        return PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM, type=Type.ID)

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hasher.hash("not-a-password-of-anyone")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> None:
        """Spend the time of a real check, so an unknown address answers no faster."""
        self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
