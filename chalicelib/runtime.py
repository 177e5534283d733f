"""The collaborators a service needs, built lazily once per process.

Routes and scheduled functions call ``get_runtime()``; tests replace the clock or the
token generator on it. No AWS client is created at import time.
"""
from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import cached_property
from zoneinfo import ZoneInfo

from . import ports
from .config import Config, get_config
from .domain.association import AssociationSettings

PARIS = ZoneInfo("Europe/Paris")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def running_from(start: datetime) -> Callable[[], datetime]:
    """A clock that reads ``start`` now and runs at the real pace from there (``APP_TODAY``)."""
    origin = utc_now()
    return lambda: (start + (utc_now() - origin)).astimezone(timezone.utc)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Runtime:
    config: Config
    clock: ports.Clock = utc_now
    token_factory: Callable[[], str] = new_token
    id_factory: Callable[[], str] = new_id
    sleep: Callable[[float], None] = time.sleep  # the campaign's SES throttle waits with it
    settings_ttl_seconds: float = 30.0
    _settings_cache: tuple[float, AssociationSettings] | None = field(default=None, repr=False)

    def today(self) -> date:
        """Today in the association's time zone (dates and seasons are French dates)."""
        return self.clock().astimezone(PARIS).date()

    # --- repositories -------------------------------------------------------------
    @cached_property
    def organisations(self) -> ports.Organisations:
        from .adapters.dynamo.repositories import DynamoOrganisations
        return DynamoOrganisations()

    @cached_property
    def contacts(self) -> ports.Contacts:
        from .adapters.dynamo.repositories import DynamoContacts
        return DynamoContacts()

    @cached_property
    def memberships(self) -> ports.Memberships:
        from .adapters.dynamo.repositories import DynamoMemberships
        return DynamoMemberships()

    @cached_property
    def tariffs(self) -> ports.Tariffs:
        from .adapters.dynamo.repositories import DynamoTariffs
        return DynamoTariffs()

    @cached_property
    def settings(self) -> ports.Settings:
        from .adapters.dynamo.repositories import DynamoSettings
        return DynamoSettings()

    @cached_property
    def sessions(self) -> ports.Sessions:
        from .adapters.dynamo.repositories import DynamoSessions
        return DynamoSessions()

    @cached_property
    def login_throttle(self) -> ports.LoginThrottles:
        from .adapters.dynamo.repositories import DynamoLoginThrottle
        return DynamoLoginThrottle()

    @cached_property
    def reset_tokens(self) -> ports.ResetTokens:
        from .adapters.dynamo.repositories import DynamoResetTokens
        return DynamoResetTokens()

    @cached_property
    def outbox(self) -> ports.Outbox:
        from .adapters.dynamo.outbox import DynamoOutbox
        return DynamoOutbox()

    @cached_property
    def audit(self) -> ports.AuditLog:
        from .adapters.dynamo.audit import DynamoAudit
        return DynamoAudit()

    @cached_property
    def tariff_versions(self) -> ports.TariffVersions:
        from .adapters.dynamo.tariff_versions import DynamoTariffVersions
        return DynamoTariffVersions()

    @cached_property
    def imports(self) -> ports.Imports:
        from .adapters.dynamo.imports import DynamoImports
        return DynamoImports()

    @cached_property
    def renewals(self) -> ports.Renewals:
        from .adapters.dynamo.renewals import DynamoRenewals
        return DynamoRenewals()

    @cached_property
    def payments(self) -> ports.Payments:
        from .adapters.dynamo.payments import DynamoPayments
        return DynamoPayments()

    @cached_property
    def campaign_ledger(self) -> ports.CampaignLedger:
        from .adapters.dynamo.campaign import DynamoCampaignLedger
        return DynamoCampaignLedger()

    @cached_property
    def campaign_directory(self) -> ports.CampaignDirectory:
        from .adapters.dynamo.campaign import DynamoCampaignDirectory
        return DynamoCampaignDirectory()

    @cached_property
    def form_drafts(self) -> ports.FormDrafts:
        from .adapters.dynamo.drafts import DynamoFormDrafts
        return DynamoFormDrafts()

    @cached_property
    def chorus_directory(self) -> ports.ChorusDirectory:
        from .adapters.dynamo.chorus import DynamoChorusDirectory
        return DynamoChorusDirectory()

    @cached_property
    def chorus_deposits(self) -> ports.ChorusDeposits:
        from .adapters.dynamo.chorus import DynamoChorusDeposits
        return DynamoChorusDeposits()

    # --- other adapters -----------------------------------------------------------
    @cached_property
    def chorus(self) -> ports.ChorusPro | None:
        """The Chorus Pro client (its credentials read on first use); None when not configured."""
        if not self.config.chorus_configured:
            return None
        from .adapters.chorus_pro import ChorusProClient, Credentials
        return ChorusProClient(self.config.chorus_api_url, self.config.chorus_oauth_url,
                               Credentials.from_json(self.config.chorus_credentials), sleep=self.sleep)

    @cached_property
    def storage(self) -> ports.Storage:
        from .adapters.storage import S3Storage
        return S3Storage(self.config.documents_bucket, self.config.region)

    @cached_property
    def task_queue(self) -> ports.Queue:
        from .adapters.queue import SqsQueue
        return SqsQueue(self.config.tasks_queue, self.config.region)

    @cached_property
    def campaign_queue(self) -> ports.Queue:
        from .adapters.queue import SqsQueue
        return SqsQueue(self.config.campaign_queue, self.config.region)

    @cached_property
    def mailer(self) -> ports.Mailer:
        from .adapters.ses import SesMailer
        return SesMailer(self.config.region)

    @cached_property
    def hasher(self) -> ports.PasswordHasher:
        from .adapters.passwords import Argon2Hasher
        return Argon2Hasher()

    @cached_property
    def templates(self) -> ports.Templates:
        from .adapters.templates import TemplateRenderer, find_templates_dir
        return TemplateRenderer(find_templates_dir(self.config.templates_dir))

    @cached_property
    def documents(self) -> ports.Documents:
        from .adapters.dynamo.documents import DynamoDocuments
        return DynamoDocuments(self.config.region)

    @cached_property
    def pdf(self) -> ports.PdfRenderer:
        from .adapters.pdf import PdfRenderer  # WeasyPrint itself is imported on first render
        return PdfRenderer(self.templates)

    def association(self) -> AssociationSettings:
        """The association's settings, cached briefly: every page shows its contact."""
        now = time.monotonic()
        if self._settings_cache and now - self._settings_cache[0] < self.settings_ttl_seconds:
            return self._settings_cache[1]
        settings = self.settings.association()
        if settings is None:
            raise RuntimeError("association settings are missing: load them first")
        self._settings_cache = (now, settings)
        return settings

    @cached_property
    def document_id_key(self) -> bytes:
        """The random key document ids are derived with (stored once per installation)."""
        import secrets

        return bytes.fromhex(self.settings.document_id_key(secrets.token_hex(32)))

    def forget_cached_settings(self) -> None:
        self._settings_cache = None


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        config = get_config()
        _runtime = Runtime(config, clock=running_from(config.clock_start)) if config.clock_start else Runtime(config)
    return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    """Replace the process runtime (tests)."""
    global _runtime
    _runtime = runtime
