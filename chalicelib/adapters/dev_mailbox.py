"""Reads the emails that moto's SES, running in this process, has accepted (local stage only)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class MailboxMessage:
    message_id: str
    date: datetime | None
    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    html: str
    attachments: tuple[tuple[str, bytes], ...] = ()  # (file name, bytes)

    @property
    def html_body(self) -> str:
        """The inside of the HTML part's <body>, to show within the mailbox page."""
        match = re.search(r"<body[^>]*>(.*)</body>", self.html, re.S | re.I)
        return match.group(1) if match else self.html


def _parse(message_id: str, raw: bytes, destinations) -> MailboxMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    try:
        date = parsedate_to_datetime(msg["Date"]) if msg["Date"] else None
    except (TypeError, ValueError):
        date = None
    if isinstance(destinations, dict):
        destinations = [a for key in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destinations.get(key, [])]
    header = [a.strip() for a in str(msg["To"] or "").split(",") if a.strip()]
    recipients = tuple(dict.fromkeys(list(destinations or []) or header))
    return MailboxMessage(
        message_id=message_id, date=date, sender=str(msg["From"] or ""), recipients=recipients,
        subject=str(msg["Subject"] or ""),
        text=text_part.get_content() if text_part else "",
        html=html_part.get_content() if html_part else "",
        attachments=tuple((part.get_filename() or "piece-jointe", part.get_content()) for part in msg.iter_attachments()),
    )


class LocalMailbox:
    def __init__(self, region: str):
        self.region = region

    def _sent(self):
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        return list(ses_backends[DEFAULT_ACCOUNT_ID][self.region].sent_messages)

    def messages(self) -> list[MailboxMessage]:
        """Every message sent so far, newest first."""
        found = []
        for sent in self._sent():
            raw = getattr(sent, "raw_data", None)
            if raw is None:
                continue
            raw = raw.encode() if isinstance(raw, str) else raw
            found.append(_parse(sent.id, raw, getattr(sent, "destinations", None)))
        return list(reversed(found))

    def message(self, message_id: str) -> MailboxMessage | None:
        return next((m for m in self.messages() if m.message_id == message_id), None)
