"""An email as the outbox keeps it: stored before it is sent, then sent and marked."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

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


def compose_message(
    *, sender: str, sender_name: str, recipients: list[str], subject: str, text: str, html: str,
    sent_at: datetime, reply_to: str | None = None, attachments: Sequence[tuple[str, bytes]] = (),
) -> bytes:
    """Build a multipart/alternative message with a text and an HTML part, and (then as
    multipart/mixed) the PDF ``attachments`` given as (file name, bytes)."""
    # SMTP allows 998-character lines: folding long non-ASCII subjects at 78 loses spaces.
    msg = EmailMessage(policy=policy.default.clone(max_line_length=998))
    # Header values built by the email library: a name with quotes, commas or non-ASCII
    # letters is quoted or encoded as RFC 5322 wants, never pasted into the header by hand.
    msg["From"] = Address(display_name=sender_name, addr_spec=sender) if sender_name else sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    if reply_to:
        msg["Reply-To"] = reply_to
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    for filename, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=filename)
    return msg.as_bytes()
