"""Deployment settings: the only module that reads ``os.environ``.

These are the settings of a *deployment* (stage, table names, URLs, secrets).
The association's own settings (identity, tariffs, dates, wording) live in
DynamoDB and are edited by staff; see ``domain.association``.
"""
from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache, lru_cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

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
    # The CSRF key as given (CSRF_SECRET, or the local stage's per-process key); empty when it
    # is read from the SSM parameter ``csrf_secret_parameter``: see ``csrf_secret``.
    csrf_key: bytes = field(repr=False)
    templates_dir: str | None
    session_idle_seconds: int = 30 * 60
    session_absolute_seconds: int = 12 * 3600
    reset_token_seconds: int = 30 * 60
    campaign_queue: str = ""
    # Work done after the answer (services/tasks.py): an SQS queue, or in the request itself
    # (``tasks_inline``: the local stage's default, where nothing consumes SQS; ``make run``
    # turns it off and drains the queue in a background thread instead).
    tasks_queue: str = ""
    tasks_inline: bool = False
    # A campaign chunk stops and re-queues its remainder after this long (Lambda allows 900 s).
    campaign_work_seconds: int = 600
    aws_endpoint_url: str = ""  # a local stand-in for every AWS service (make run), else AWS itself
    csrf_secret_parameter: str = ""  # an SSM SecureString parameter's name
    # The local stage only: the moment the app's clock starts from (APP_TODAY), e.g. to see the
    # demo on the campaign's opening day. None: the real clock.
    clock_start: datetime | None = None
    # Chorus Pro (services/chorus.py): the API and OAuth base URLs (PISTE's qualification or
    # production ones; the stand-in's locally) and the credentials, as JSON given directly
    # (local stage, tests) or read from an SSM SecureString parameter (deployments).
    chorus_api_url: str = ""
    chorus_oauth_url: str = ""
    chorus_credentials_json: str = field(default="", repr=False)
    chorus_credentials_parameter: str = ""
    # A public buyer's invoice goes to Chorus Pro only; CHORUS_PRO_ALSO_EMAIL=1 also emails it
    # to its billing address (some accountants like a copy).
    chorus_also_email: bool = False

    @property
    def chorus_configured(self) -> bool:
        return bool(self.chorus_api_url and (self.chorus_credentials_json or self.chorus_credentials_parameter))

    @property
    def chorus_credentials(self) -> bytes:
        """Read from SSM on first use, once per process, by the functions that talk to Chorus Pro."""
        if self.chorus_credentials_json:
            return self.chorus_credentials_json.encode()
        if self.chorus_credentials_parameter:
            return _secure_parameter(self.chorus_credentials_parameter, self.region)
        raise RuntimeError("no Chorus Pro credentials: set CHORUS_PRO_CREDENTIALS_PARAMETER")

    @property
    def csrf_secret(self) -> bytes:
        """The key CSRF tokens are signed with.

        Read from SSM on first use, once per process: only the functions that render or check
        a form (the API handler) read it, so only they need ``ssm:GetParameter`` on it.
        """
        if self.csrf_key:
            return self.csrf_key
        if self.csrf_secret_parameter:
            return _secure_parameter(self.csrf_secret_parameter, self.region)
        raise RuntimeError("no CSRF secret: set CSRF_SECRET or CSRF_SECRET_PARAMETER")

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


def _csrf_settings(stage: str) -> tuple[bytes, str]:
    """(the CSRF key if given, else b"", the SSM parameter to read it from, else "")."""
    value = os.environ.get("CSRF_SECRET", "")
    if value:
        return value.encode(), ""
    if stage == LOCAL_STAGE:
        return _LOCAL_CSRF_SECRET, ""
    parameter = os.environ.get("CSRF_SECRET_PARAMETER", "")
    if parameter:
        return b"", parameter
    raise RuntimeError("CSRF_SECRET_PARAMETER (an SSM SecureString parameter's name) must be set "
                       "outside the local stage")


@cache
def _secure_parameter(name: str, region: str) -> bytes:
    """A failed read is not cached: the next request tries again."""
    from .adapters.secrets import read_secure_parameter

    return read_secure_parameter(name, region)


_STAGE_NAME = re.compile(r"[a-z][a-z0-9-]{0,19}")


def current_stage() -> str:
    """``APP_STAGE``, which must be set: the app fails closed rather than assume ``local``
    (dev pages on, cookies without ``Secure``) on a deployment that forgot it."""
    stage = os.environ.get("APP_STAGE", "")
    if not _STAGE_NAME.fullmatch(stage):
        raise RuntimeError(f"APP_STAGE must name the stage (local, dev, prod…), not {stage!r}: refusing to start")
    return stage


def tasks_queue_name() -> str:
    """The queue of work done after the answer (e.g. « Mot de passe oublié »'s email)."""
    return os.environ.get("TASKS_QUEUE", f"adhesions-{current_stage()}-tasks")


def campaign_queue_name() -> str:
    """The campaign queue's name; needs no secret, since packaging reads it from ``app.py``."""
    return os.environ.get("CAMPAIGN_QUEUE", f"adhesions-{current_stage()}-campaign")


_TODAY = re.compile(r"(?P<day>[0-9]{4}-[0-9]{2}-[0-9]{2})(?:[T ](?P<time>[0-9]{2}:[0-9]{2}(?::[0-9]{2})?))?")


def parse_clock_start(text: str) -> datetime:
    """``YYYY-MM-DD`` (10:00 that day) or ``YYYY-MM-DDTHH:MM[:SS]``, in Paris time.

    A bare day starts at 10:00 so that a demo or a test run never crosses midnight by surprise.
    """
    match = _TODAY.fullmatch(text.strip())
    try:
        if match is None:
            raise ValueError
        day = date.fromisoformat(match["day"])
        at = time.fromisoformat(match["time"]) if match["time"] else time(10, 0)
    except ValueError:
        raise ValueError(f"APP_TODAY={text!r}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    return datetime.combine(day, at, ZoneInfo("Europe/Paris"))


def _clock_start(stage: str) -> datetime | None:
    text = os.environ.get("APP_TODAY", "").strip()
    if not text:
        return None
    if stage != LOCAL_STAGE:
        raise RuntimeError(f"APP_TODAY is accepted in the local stage only (stage {stage!r})")
    return parse_clock_start(text)


@lru_cache(maxsize=1)
def get_config() -> Config:
    """Read the deployment settings once per process."""
    stage = current_stage()
    csrf_key, csrf_parameter = _csrf_settings(stage)
    return Config(
        stage=stage,
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-3",
        table_prefix=os.environ.get("TABLE_PREFIX", f"adhesions-{stage}-"),
        documents_bucket=os.environ.get("DOCUMENTS_BUCKET", f"adhesions-{stage}-documents"),
        sender_email=os.environ.get("SENDER_EMAIL", "adhesions@example.org"),
        base_url=os.environ.get("BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        csrf_key=csrf_key,
        templates_dir=os.environ.get("TEMPLATES_DIR") or None,
        campaign_queue=campaign_queue_name(),
        tasks_queue=tasks_queue_name(),
        tasks_inline=os.environ.get("TASKS_INLINE", "1" if stage == LOCAL_STAGE else "0") == "1",
        campaign_work_seconds=int(os.environ.get("CAMPAIGN_WORK_SECONDS", "600")),
        aws_endpoint_url=os.environ.get("AWS_ENDPOINT_URL", ""),
        csrf_secret_parameter=csrf_parameter,
        clock_start=_clock_start(stage),
        chorus_api_url=os.environ.get("CHORUS_PRO_API_URL", "").rstrip("/"),
        chorus_oauth_url=(os.environ.get("CHORUS_PRO_OAUTH_URL") or os.environ.get("CHORUS_PRO_API_URL", "")).rstrip("/"),
        chorus_credentials_json=os.environ.get("CHORUS_PRO_CREDENTIALS", "") if stage == LOCAL_STAGE else "",
        chorus_credentials_parameter=os.environ.get("CHORUS_PRO_CREDENTIALS_PARAMETER", ""),
        chorus_also_email=os.environ.get("CHORUS_PRO_ALSO_EMAIL", "0") == "1",
    )
