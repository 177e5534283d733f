"""Sending email through SES v2 as raw MIME (keeps the text part, the HTML part and attachments)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import cached_property


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


class SesMailer:
    def __init__(self, region: str):
        self._region = region

    @cached_property
    def _client(self):
        from .aws import client

        return client("sesv2", self._region)

    def send_raw(self, sender: str, recipients: list[str], raw: bytes) -> str:
        response = self._client.send_email(
            FromEmailAddress=sender,
            Destination={"ToAddresses": recipients},
            Content={"Raw": {"Data": raw}},
        )
        return response["MessageId"]
