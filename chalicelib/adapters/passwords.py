"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile)."""
from __future__ import annotations

from functools import cached_property


class Argon2Hasher:
    """argon2id, t=3, m=64 MiB, p=4: above OWASP's minimum (m=19 MiB, t=2, p=1)."""

    @cached_property
    def _hasher(self):
        from argon2 import PasswordHasher

        return PasswordHasher()  # argon2id with the RFC 9106 low-memory parameters

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
