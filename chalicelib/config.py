"""Deployment settings: the only module that reads ``os.environ``.

These are the settings of a *deployment* (stage, table names, URLs, secrets).
The association's own settings (identity, tariffs, dates, wording) live in
DynamoDB and are edited by staff; see ``domain.association``.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

LOCAL_STAGE = "local"
# Campaign chunks consumed at once (the SQS event source's maximum concurrency): each
# worker sends at ses_max_per_second / CAMPAIGN_WORKERS so that together they keep the rate.
CAMPAIGN_WORKERS = 2


@dataclass(frozen=True)
class Config:
    stage: str
    region: str
    table_prefix: str
    documents_bucket: str
    sender_email: str
    base_url: str
    csrf_secret: bytes
    templates_dir: str | None
    session_idle_seconds: int = 30 * 60
    session_absolute_seconds: int = 12 * 3600
    reset_token_seconds: int = 30 * 60
    campaign_queue: str = ""
    # A campaign chunk stops and re-queues its remainder after this long (Lambda allows 900 s).
    campaign_work_seconds: int = 600
    aws_endpoint_url: str = ""  # a local stand-in for every AWS service (make run), else AWS itself

    @property
    def is_local(self) -> bool:
        return self.stage == LOCAL_STAGE

    @property
    def secure_cookies(self) -> bool:
        """Outside the local stage cookies are Secure and use the ``__Host-`` prefix."""
        return not self.is_local

    def table_name(self, name: str) -> str:
        return f"{self.table_prefix}{name}"

    @property
    def documents_origin(self) -> str:
        """Where presigned document links point (the storage adapter signs virtual-hosted,
        regional URLs): pages allow their download forms to be redirected there."""
        if self.aws_endpoint_url:
            parts = urlsplit(self.aws_endpoint_url)
            return f"{parts.scheme}://{parts.netloc}"
        return f"https://{self.documents_bucket}.s3.{self.region}.amazonaws.com"


# A per-process secret is acceptable only where one process serves every request.
_LOCAL_CSRF_SECRET = secrets.token_bytes(32)


def _csrf_secret(stage: str) -> bytes:
    value = os.environ.get("CSRF_SECRET", "")
    if value:
        return value.encode()
    if stage == LOCAL_STAGE:
        return _LOCAL_CSRF_SECRET
    raise RuntimeError("CSRF_SECRET must be set outside the local stage")


def campaign_queue_name() -> str:
    """The campaign queue's name; needs no secret, since packaging reads it from ``app.py``."""
    stage = os.environ.get("APP_STAGE", LOCAL_STAGE)
    return os.environ.get("CAMPAIGN_QUEUE", f"adhesions-{stage}-campaign")


@lru_cache(maxsize=1)
def get_config() -> Config:
    """Read the deployment settings once per process."""
    stage = os.environ.get("APP_STAGE", LOCAL_STAGE)
    return Config(
        stage=stage,
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-3",
        table_prefix=os.environ.get("TABLE_PREFIX", f"adhesions-{stage}-"),
        documents_bucket=os.environ.get("DOCUMENTS_BUCKET", f"adhesions-{stage}-documents"),
        sender_email=os.environ.get("SENDER_EMAIL", "adhesions@example.org"),
        base_url=os.environ.get("BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        csrf_secret=_csrf_secret(stage),
        templates_dir=os.environ.get("TEMPLATES_DIR") or None,
        campaign_queue=campaign_queue_name(),
        campaign_work_seconds=int(os.environ.get("CAMPAIGN_WORK_SECONDS", "600")),
        aws_endpoint_url=os.environ.get("AWS_ENDPOINT_URL", ""),
    )
