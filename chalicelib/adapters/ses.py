"""Sending email through SES v2 as raw MIME (keeps the text part, the HTML part and attachments)."""
from __future__ import annotations

from functools import cached_property

from ..domain.outbox import compose_message  # noqa: F401  (re-exported: it lives in the domain)


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
