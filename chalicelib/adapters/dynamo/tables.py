"""PynamoDB table definitions: the single source of the DynamoDB schema.

Table names come from the deployment config when this module is imported, so tests
set the environment (and start moto) before importing it.
"""
from __future__ import annotations

from functools import lru_cache

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from ...config import get_config
from ..aws import ATTEMPTS, DYNAMODB_TIMEOUTS

_config = get_config()


def _meta(name: str) -> type:
    class Meta:
        table_name = _config.table_name(name)
        region = _config.region
        billing_mode = "PAY_PER_REQUEST"
        # Retries and timeouts for Lambda (adapters/aws.py): pynamodb turns max_retry_attempts
        # into botocore's standard mode with 1 + max_retry_attempts attempts in all.
        max_retry_attempts = ATTEMPTS - 1
        connect_timeout_seconds = DYNAMODB_TIMEOUTS["connect_timeout_seconds"]
        read_timeout_seconds = DYNAMODB_TIMEOUTS["read_timeout_seconds"]

    return Meta


def _index_meta(index_name: str, projection) -> type:
    class Meta:
        pass

    Meta.index_name = index_name
    Meta.projection = projection
    return Meta


class OrganisationTable(Model):
    Meta = _meta("organisations")
    org_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    category = UnicodeAttribute()
    siret = UnicodeAttribute(default="")
    address_line1 = UnicodeAttribute(default="")
    address_line2 = UnicodeAttribute(default="")
    postcode = UnicodeAttribute(default="")
    city = UnicodeAttribute(default="")
    invoice_email = UnicodeAttribute(default="")
    current_tier = UnicodeAttribute(default="")
    public_buyer = BooleanAttribute(default=False)
    attach_invoices = BooleanAttribute(null=True)  # absent (older items): True
    service_code = UnicodeAttribute(default="")
    buyer_requirement = UnicodeAttribute(default="none")
    active = BooleanAttribute(default=True)
    version = VersionAttribute()


class ContactByEmail(GlobalSecondaryIndex):
    Meta = _index_meta("by_email", AllProjection())
    email = UnicodeAttribute(hash_key=True)


class ContactByOrganisation(GlobalSecondaryIndex):
    Meta = _index_meta("by_organisation", AllProjection())
    org_id = UnicodeAttribute(hash_key=True)


class ContactTable(Model):
    Meta = _meta("contacts")
    contact_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    name = UnicodeAttribute()
    role = UnicodeAttribute()
    org_id = UnicodeAttribute(null=True)
    password_hash = UnicodeAttribute(default="")
    receives_notices = BooleanAttribute(default=True)
    active = BooleanAttribute(default=True)
    password_changed_at = UTCDateTimeAttribute(null=True)
    # Staff second factor (domain.second_factor), never mapped into ``Contact``.
    totp_secret = UnicodeAttribute(null=True)
    totp_enrolled_at = UTCDateTimeAttribute(null=True)
    totp_last_step = NumberAttribute(default=0)
    recovery_hashes = UnicodeSetAttribute(null=True)
    version = VersionAttribute()
    by_email = ContactByEmail()
    by_organisation = ContactByOrganisation()


class MembershipTable(Model):
    Meta = _meta("memberships")
    org_id = UnicodeAttribute(hash_key=True)
    year = NumberAttribute(range_key=True)
    tier_code = UnicodeAttribute()
    tier_label = UnicodeAttribute()
    amount = UnicodeAttribute()  # Decimal as text: DynamoDB numbers would go through float
    status = UnicodeAttribute()


class TariffTierTable(Model):
    Meta = _meta("tariffs")
    year = NumberAttribute(hash_key=True)
    code = UnicodeAttribute(range_key=True)
    category = UnicodeAttribute()
    label = UnicodeAttribute()
    amount = UnicodeAttribute()
    rank = NumberAttribute(default=0)


class SettingsTable(Model):
    Meta = _meta("settings")
    key = UnicodeAttribute(hash_key=True)
    data = UnicodeAttribute()  # JSON document
    version = VersionAttribute()


class SessionByContact(GlobalSecondaryIndex):
    Meta = _index_meta("by_contact", KeysOnlyProjection())
    contact_id = UnicodeAttribute(hash_key=True)


class SessionTable(Model):
    Meta = _meta("sessions")
    token_hash = UnicodeAttribute(hash_key=True)
    contact_id = UnicodeAttribute()
    org_id = UnicodeAttribute(null=True)
    org_name = UnicodeAttribute(null=True)  # display only (Session.org_name)
    role = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    last_seen_at = UTCDateTimeAttribute()
    second_factor_done = BooleanAttribute(default=False)
    expires_at = TTLAttribute()  # clean-up only: expiry is checked in code
    by_contact = SessionByContact()


class LoginThrottleTable(Model):
    Meta = _meta("login_throttle")
    email = UnicodeAttribute(hash_key=True)
    failures = ListAttribute(of=UTCDateTimeAttribute, default=list)
    locked_until = UTCDateTimeAttribute(null=True)
    strikes = NumberAttribute(default=0)  # locks in a row: each lasts twice the one before
    expires_at = TTLAttribute()
    version = VersionAttribute()


class ResetTokenTable(Model):
    Meta = _meta("reset_tokens")
    token_hash = UnicodeAttribute(hash_key=True)
    contact_id = UnicodeAttribute()
    purpose = UnicodeAttribute(default="reset")
    created_at = UTCDateTimeAttribute()
    valid_until = UTCDateTimeAttribute()
    used_at = UTCDateTimeAttribute(null=True)
    # Only on a contact's « pending link » item (key ``pending#<contact id>``): the outbox
    # message that carried the newest reset link, so that a repeated request re-sends it.
    message_id = UnicodeAttribute(null=True)
    link_hash = UnicodeAttribute(null=True)  # and that link's token hash
    expires_at = TTLAttribute()


class OutboxPending(GlobalSecondaryIndex):
    """Sparse index: only messages still to send carry ``pending``."""

    Meta = _index_meta("pending", AllProjection())
    pending = UnicodeAttribute(hash_key=True)
    next_attempt_at = UTCDateTimeAttribute(range_key=True)


class OutboxTable(Model):
    Meta = _meta("outbox")
    message_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    recipients = ListAttribute(of=UnicodeAttribute)
    subject = UnicodeAttribute()
    raw = BinaryAttribute(legacy_encoding=False)
    status = UnicodeAttribute()  # pending, sent, failed
    pending = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    next_attempt_at = UTCDateTimeAttribute()
    sent_at = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    by_pending = OutboxPending()



@lru_cache(maxsize=1)
def shared_connection() -> Connection:
    """One connection for transactions: building a botocore client costs ~0.2 s, so never per call."""
    return Connection(region=_config.region, max_retry_attempts=ATTEMPTS - 1, **DYNAMODB_TIMEOUTS)
