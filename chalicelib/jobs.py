"""Entry points of the scheduled functions: each builds nothing itself and calls one service."""
from __future__ import annotations

from .runtime import get_runtime
from .services import mail


def retry_pending_emails() -> dict:
    sent = mail.retry_pending_emails(get_runtime())
    return {"sent": sent}
