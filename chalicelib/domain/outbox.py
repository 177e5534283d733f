"""An email as the outbox keeps it: stored before it is sent, then sent and marked."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PENDING = "pending"


@dataclass(frozen=True)
class OutboxMessage:
    message_id: str
    kind: str
    recipients: tuple[str, ...]
    subject: str
    raw: bytes
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None = None
    last_error: str | None = None
