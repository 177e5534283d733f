"""DynamoDB repositories: convert between table items and domain objects.

DynamoDB errors become domain errors here (a failed condition → ``ConcurrentUpdate``
or ``AlreadyExists``); nothing above this module sees pynamodb.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from ...domain.association import AssociationSettings
from ...domain.errors import AlreadyExists, ConcurrentUpdate, NotFound
from ...domain.model import (
    Address,
    Category,
    Contact,
    Membership,
    MembershipStatus,
    Organisation,
    PublicBuyerRequirement,
    Role,
    TariffGrid,
    Tier,
)
from ...domain.second_factor import SecondFactor
from ...domain.security import LoginThrottle, ResetToken, Session, normalise_email
from .contact_emails import ContactEmailTable
from .effects import Effect, add_effects
from .tables import (
    ContactTable,
    LoginThrottleTable,
    MembershipTable,
    OrganisationTable,
    ResetTokenTable,
    SessionTable,
    SettingsTable,
    TariffTierTable,
    shared_connection,
)


def _condition_failed(error: Exception) -> bool:
    cause = getattr(error, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"


def _cancellation_codes(error: TransactWriteError, size: int) -> list[str | None]:
    """The reason code of each transaction item (pynamodb orders checks, deletes, puts, updates)."""
    reasons = list(getattr(error, "cancellation_reasons", None) or [])
    return ([getattr(r, "code", None) for r in reasons] + [None] * size)[:size]


def _connection() -> Connection:
    return shared_connection()


class DynamoOrganisations:
    def get(self, org_id: str) -> Organisation | None:
        try:
            return self._to_domain(OrganisationTable.get(org_id))
        except DoesNotExist:
            return None

    def all(self) -> list[Organisation]:
        return [self._to_domain(item) for item in OrganisationTable.scan()]

    def get_many(self, org_ids) -> dict[str, Organisation]:
        """The organisations of ``org_ids`` that exist, by id (BatchGetItem, 100 keys per call)."""
        keys = sorted(set(org_ids))
        return {item.org_id: self._to_domain(item) for item in OrganisationTable.batch_get(keys)} if keys else {}

    def add(self, org: Organisation) -> None:
        item = self._to_item(org)
        try:
            item.save(condition=OrganisationTable.org_id.does_not_exist())
        except PutError as error:
            if _condition_failed(error):
                raise AlreadyExists("Cette structure existe déjà.") from error
            raise

    def update(self, org: Organisation) -> None:
        """Save every field of an existing organisation; ``ConcurrentUpdate`` if it changed meanwhile."""
        try:
            item = OrganisationTable.get(org.org_id, consistent_read=True)
        except DoesNotExist:
            raise NotFound("Structure introuvable.") from None
        fresh = self._to_item(org)
        for name in OrganisationTable.get_attributes():
            if name not in ("org_id", "version"):
                setattr(item, name, getattr(fresh, name))
        try:
            item.save()  # conditioned on the version just read
        except PutError as error:
            if _condition_failed(error):
                raise ConcurrentUpdate() from error
            raise

    @staticmethod
    def _to_item(org: Organisation) -> OrganisationTable:
        a = org.billing_address
        return OrganisationTable(
            org.org_id, name=org.name, category=org.category.value, siret=org.siret,
            address_line1=a.line1, address_line2=a.line2, postcode=a.postcode, city=a.city,
            invoice_email=org.invoice_email, current_tier=org.current_tier,
            public_buyer=org.public_buyer, service_code=org.service_code,
            buyer_requirement=org.buyer_requirement.value, active=org.active,
            attach_invoices=org.attach_invoices,
        )

    @staticmethod
    def _to_domain(item: OrganisationTable) -> Organisation:
        return Organisation(
            org_id=item.org_id, name=item.name, category=Category(item.category),
            billing_address=Address(item.address_line1, item.postcode, item.city, item.address_line2),
            invoice_email=item.invoice_email, siret=item.siret, current_tier=item.current_tier,
            public_buyer=item.public_buyer, service_code=item.service_code,
            buyer_requirement=PublicBuyerRequirement(item.buyer_requirement), active=item.active,
            attach_invoices=item.attach_invoices is not False,
        )


class DynamoContacts:
    def get(self, contact_id: str) -> Contact | None:
        try:
            return self._to_domain(ContactTable.get(contact_id))
        except DoesNotExist:
            return None

    def find_by_email(self, email: str) -> Contact | None:
        found = [self._to_domain(i) for i in ContactTable.by_email.query(email, limit=2)]
        return found[0] if found else None

    def for_organisation(self, org_id: str) -> list[Contact]:
        contacts = [self._to_domain(i) for i in ContactTable.by_organisation.query(org_id)]
        return sorted(contacts, key=lambda c: c.name.lower())

    def all(self) -> list[Contact]:
        return [self._to_domain(i) for i in ContactTable.scan()]

    def add(self, contact: Contact) -> None:
        """Store a new contact with its email guard, in one transaction: emails stay unique."""
        item = ContactTable(
            contact.contact_id, email=contact.email, name=contact.name, role=contact.role.value,
            org_id=contact.org_id, password_hash=contact.password_hash,
            receives_notices=contact.receives_notices, active=contact.active,
            password_changed_at=contact.password_changed_at,
        )
        guard = ContactEmailTable(normalise_email(contact.email), contact_id=contact.contact_id)
        try:
            with TransactWrite(connection=_connection()) as transaction:
                transaction.save(guard, condition=ContactEmailTable.email.does_not_exist())
                transaction.save(item, condition=ContactTable.contact_id.does_not_exist())
        except TransactWriteError as error:
            guard_code, contact_code = _cancellation_codes(error, 2)
            if guard_code == "ConditionalCheckFailed":
                raise AlreadyExists("Un compte existe déjà avec cette adresse e-mail.") from error
            if contact_code == "ConditionalCheckFailed":
                raise AlreadyExists("Ce contact existe déjà.") from error
            raise

    def update(self, before: Contact, after: Contact) -> None:
        """Save staff changes (name, email, role, organisation, notices, active), never the password.

        A changed email moves its guard in the same transaction: ``AlreadyExists`` if the new
        address is taken, ``ConcurrentUpdate`` if the contact's email changed meanwhile.
        """
        t = ContactTable
        try:
            item = t.get(before.contact_id, consistent_read=True)
        except DoesNotExist:
            raise NotFound("Contact introuvable.") from None
        actions = [t.email.set(after.email), t.name.set(after.name), t.role.set(after.role.value),
                   t.receives_notices.set(after.receives_notices), t.active.set(after.active)]
        actions.append(t.org_id.set(after.org_id) if after.org_id is not None else t.org_id.remove())
        old_key, new_key = normalise_email(before.email), normalise_email(after.email)
        moves = old_key != new_key
        try:
            with TransactWrite(connection=_connection()) as transaction:
                if moves:
                    g = ContactEmailTable
                    transaction.delete(g(old_key), condition=(g.contact_id == before.contact_id) | g.email.does_not_exist())
                    transaction.save(g(new_key, contact_id=before.contact_id), condition=g.email.does_not_exist())
                transaction.update(item, actions=actions, condition=t.contact_id.exists() & (t.email == before.email),
                                   add_version_condition=False)
        except TransactWriteError as error:
            codes = _cancellation_codes(error, 3 if moves else 1)
            if moves and codes[1] == "ConditionalCheckFailed":
                raise AlreadyExists("Un compte existe déjà avec cette adresse e-mail.") from error
            if "ConditionalCheckFailed" in codes:
                raise ConcurrentUpdate() from error
            raise

    def set_password_hash(self, contact_id: str, password_hash: str, changed_at: datetime | None) -> None:
        """Store a new hash; ``changed_at`` is None for a silent rehash on login."""
        actions = [ContactTable.password_hash.set(password_hash)]
        if changed_at is not None:
            actions.append(ContactTable.password_changed_at.set(changed_at))
        self._update(contact_id, actions, None)

    # --- staff second factor -----------------------------------------------------------
    def second_factor(self, contact_id: str) -> SecondFactor | None:
        try:
            i = ContactTable.get(contact_id, consistent_read=True, attributes_to_get=[
                "totp_secret", "totp_enrolled_at", "totp_last_step", "recovery_hashes"])
        except DoesNotExist:
            return None
        if not i.totp_secret:
            return None
        return SecondFactor(i.totp_secret, i.totp_enrolled_at, int(i.totp_last_step or 0),
                            frozenset(i.recovery_hashes or ()))

    def start_second_factor(self, contact_id: str, secret: str) -> None:
        """Store a secret to enrol, unless one is already enrolled (``ConcurrentUpdate``)."""
        t = ContactTable
        self._update(contact_id, [t.totp_secret.set(secret), t.totp_last_step.set(0), t.totp_enrolled_at.remove(),
                                  t.recovery_hashes.remove()], t.totp_enrolled_at.does_not_exist())

    def confirm_second_factor(self, contact_id: str, secret: str, step: int, recovery_hashes: set[str],
                              now: datetime) -> None:
        """Enrol ``secret`` with its first code's step: once, and only the secret that was shown."""
        t = ContactTable
        self._update(contact_id, [t.totp_enrolled_at.set(now), t.totp_last_step.set(step),
                                  t.recovery_hashes.set(recovery_hashes)],
                     t.totp_enrolled_at.does_not_exist() & (t.totp_secret == secret))

    def use_totp_step(self, contact_id: str, step: int) -> None:
        """Record an accepted code's step; ``ConcurrentUpdate`` if it (or a later one) was used."""
        t = ContactTable
        self._update(contact_id, [t.totp_last_step.set(step)], t.totp_enrolled_at.exists() & (t.totp_last_step < step))

    def use_recovery_code(self, contact_id: str, code_hash: str) -> None:
        """Spend a recovery code; ``ConcurrentUpdate`` if it is not (or no longer) there."""
        t = ContactTable
        self._update(contact_id, [t.recovery_hashes.delete({code_hash})], t.recovery_hashes.contains(code_hash))

    def remove_second_factor(self, contact_id: str) -> None:
        t = ContactTable
        self._update(contact_id, [t.totp_secret.remove(), t.totp_enrolled_at.remove(), t.totp_last_step.set(0),
                                  t.recovery_hashes.remove()], None)

    @staticmethod
    def _update(contact_id: str, actions: list, condition) -> None:
        """One UpdateItem on an existing contact, ``condition`` added; ``ConcurrentUpdate`` if
        the contact is gone or the condition fails."""
        exists = ContactTable.contact_id.exists()
        try:
            ContactTable(contact_id).update(actions=actions, condition=exists if condition is None else exists & condition,
                                            add_version_condition=False)
        except UpdateError as error:
            if _condition_failed(error):
                raise ConcurrentUpdate() from error
            raise

    @staticmethod
    def _to_domain(item: ContactTable) -> Contact:
        return Contact(
            contact_id=item.contact_id, email=item.email, name=item.name, role=Role(item.role),
            org_id=item.org_id, password_hash=item.password_hash,
            receives_notices=item.receives_notices, active=item.active,
            password_changed_at=item.password_changed_at,
        )


class DynamoMemberships:
    def for_organisation(self, org_id: str) -> list[Membership]:
        items = MembershipTable.query(org_id, scan_index_forward=False)
        return [
            Membership(i.org_id, int(i.year), i.tier_code, i.tier_label, Decimal(i.amount),
                       MembershipStatus(i.status))
            for i in items
        ]

    def save(self, m: Membership) -> None:
        MembershipTable(m.org_id, m.year, tier_code=m.tier_code, tier_label=m.tier_label,
                        amount=str(m.amount), status=m.status.value).save()

    def save_paid(self, m: Membership, *, effects: Sequence[Effect] = ()) -> bool:
        """Save ``m`` (status PAID) unless its year is PAID already, with the ``effects`` of that
        (its audit event) in the same transaction; True if this call wrote it.

        Conditional, so that of two settlements running at once only one extends the membership.
        """
        t = MembershipTable
        item = t(m.org_id, m.year, tier_code=m.tier_code, tier_label=m.tier_label, amount=str(m.amount),
                 status=MembershipStatus.PAID.value)
        not_paid = t.status.does_not_exist() | (t.status != MembershipStatus.PAID.value)
        try:
            with TransactWrite(connection=_connection()) as tx:
                tx.save(item, condition=not_paid)
                add_effects(tx, effects)
        except TransactWriteError as error:
            reasons = list(getattr(error, "cancellation_reasons", None) or [])
            if reasons and getattr(reasons[0], "code", None) == "ConditionalCheckFailed":
                return False
            raise
        return True

    def all(self) -> dict[str, list[Membership]]:
        """Every membership, by organisation, newest first (one scan: exports and imports)."""
        found: dict[str, list[Membership]] = {}
        for i in MembershipTable.scan():
            found.setdefault(i.org_id, []).append(
                Membership(i.org_id, int(i.year), i.tier_code, i.tier_label, Decimal(i.amount),
                           MembershipStatus(i.status)))
        return {org_id: sorted(ms, key=lambda m: -m.year) for org_id, ms in found.items()}


class DynamoTariffs:
    def grid(self, year: int) -> TariffGrid:
        tiers = tuple(
            Tier(i.code, Category(i.category), i.label, Decimal(i.amount), int(i.rank))
            for i in TariffTierTable.query(year)
        )
        return TariffGrid(year, tiers)

    def save_tier(self, year: int, tier: Tier) -> None:
        TariffTierTable(year, tier.code, category=tier.category.value, label=tier.label,
                        amount=str(tier.amount), rank=tier.rank).save()

    def delete_tier(self, year: int, code: str) -> None:
        TariffTierTable(year, code).delete()

    def years(self) -> list[int]:
        """The years that have a grid, oldest first."""
        return sorted({int(i.year) for i in TariffTierTable.scan(attributes_to_get=["year"])})


class DynamoSettings:
    ASSOCIATION = "association"
    DOCUMENT_IDS = "document-ids"

    def association(self) -> AssociationSettings | None:
        return self.association_with_version()[0]

    def association_with_version(self) -> tuple[AssociationSettings | None, int | None]:
        """The settings and their version (for optimistic locking across an edit form)."""
        try:
            item = SettingsTable.get(self.ASSOCIATION, consistent_read=True)
        except DoesNotExist:
            return None, None
        data = json.loads(item.data)
        data["address"] = Address(**data["address"])
        data["payment_methods"] = tuple(data["payment_methods"])
        return AssociationSettings(**data), item.version

    def save_association(self, settings: AssociationSettings, expected_version: int | None = None) -> None:
        """Save the settings; with ``expected_version``, only if nobody saved them since (else ConcurrentUpdate)."""
        item = self._current(self.ASSOCIATION)
        if expected_version is not None and item.version != expected_version:
            raise ConcurrentUpdate()
        item.data = json.dumps(asdict(settings), ensure_ascii=False)
        try:
            item.save()
        except PutError as error:
            if _condition_failed(error):
                raise ConcurrentUpdate() from error
            raise

    def document_id_key(self, new_key: str) -> str:
        """The installation's key for document ids: stored once (``new_key`` if none yet), then
        the same for every function; of two first calls at once, the first write wins."""
        try:
            return json.loads(SettingsTable.get(self.DOCUMENT_IDS, consistent_read=True).data)["key"]
        except DoesNotExist:
            pass
        try:
            SettingsTable(self.DOCUMENT_IDS, data=json.dumps({"key": new_key})).save(
                condition=SettingsTable.key.does_not_exist())
            return new_key
        except PutError as error:
            if not _condition_failed(error):
                raise
        return json.loads(SettingsTable.get(self.DOCUMENT_IDS, consistent_read=True).data)["key"]

    @staticmethod
    def _current(key: str) -> SettingsTable:
        try:
            return SettingsTable.get(key, consistent_read=True)
        except DoesNotExist:
            return SettingsTable(key)


class DynamoSessions:
    def add(self, session: Session, expires_at: datetime) -> None:
        SessionTable(
            session.token_hash, contact_id=session.contact_id, org_id=session.org_id,
            org_name=session.org_name or None,
            role=session.role, created_at=session.created_at, last_seen_at=session.last_seen_at,
            second_factor_done=session.second_factor_done, expires_at=expires_at,
        ).save(condition=SessionTable.token_hash.does_not_exist())

    def get(self, token_hash: str) -> Session | None:
        try:
            i = SessionTable.get(token_hash)
        except DoesNotExist:
            return None
        return Session(i.token_hash, i.contact_id, i.org_id, i.role, i.created_at, i.last_seen_at,
                       org_name=i.org_name or "", second_factor_done=bool(i.second_factor_done))

    def touch(self, token_hash: str, now: datetime, expires_at: datetime) -> None:
        try:
            SessionTable(token_hash).update(
                actions=[SessionTable.last_seen_at.set(now), SessionTable.expires_at.set(expires_at)],
                condition=SessionTable.token_hash.exists(),
            )
        except UpdateError as error:
            if not _condition_failed(error):  # revoked meanwhile: nothing to refresh
                raise

    def delete(self, token_hash: str) -> None:
        SessionTable(token_hash).delete()

    def delete_for_contact(self, contact_id: str) -> int:
        hashes = [i.token_hash for i in SessionTable.by_contact.query(contact_id)]
        with SessionTable.batch_write() as batch:
            for token_hash in hashes:
                batch.delete(SessionTable(token_hash))
        return len(hashes)


def _throttle(email: str, item: LoginThrottleTable) -> LoginThrottle:
    return LoginThrottle(email, tuple(item.failures or ()), item.locked_until, int(item.strikes or 0))


class DynamoLoginThrottle:
    def get(self, email: str) -> LoginThrottle:
        try:
            i = LoginThrottleTable.get(email)
        except DoesNotExist:
            return LoginThrottle(email)
        return _throttle(email, i)

    def update(
        self, email: str, change: Callable[[LoginThrottle], LoginThrottle], expires_at: datetime
    ) -> tuple[LoginThrottle, LoginThrottle]:
        """Apply ``change`` atomically (optimistic locking, retried); return (before, after)."""
        for _ in range(10):
            try:
                item = LoginThrottleTable.get(email, consistent_read=True)
            except DoesNotExist:
                item = LoginThrottleTable(email)
            before = _throttle(email, item)
            after = change(before)
            item.failures = list(after.failures)
            item.locked_until = after.locked_until
            item.strikes = after.strikes
            item.expires_at = expires_at
            try:
                item.save()
                return before, after
            except PutError as error:
                if not _condition_failed(error):
                    raise
        raise ConcurrentUpdate()

    def clear(self, email: str) -> None:
        LoginThrottleTable(email).delete(add_version_condition=False)


class DynamoResetTokens:
    def add(self, token: ResetToken) -> None:
        ResetTokenTable(
            token.token_hash, contact_id=token.contact_id, purpose=token.purpose,
            created_at=token.created_at, valid_until=token.expires_at, expires_at=token.expires_at,
        ).save(condition=ResetTokenTable.token_hash.does_not_exist())

    def get(self, token_hash: str) -> ResetToken | None:
        try:
            i = ResetTokenTable.get(token_hash, consistent_read=True)
        except DoesNotExist:
            return None
        return ResetToken(i.token_hash, i.contact_id, i.created_at, i.valid_until, i.used_at, i.purpose)

    def pending_link(self, contact_id: str) -> tuple[str, str] | None:
        """(token hash, outbox message id) of the newest reset link mailed to the contact."""
        try:
            i = ResetTokenTable.get(f"pending#{contact_id}", consistent_read=True)
        except DoesNotExist:
            return None
        return i.link_hash, i.message_id

    def set_pending_link(self, token: ResetToken, message_id: str) -> None:
        ResetTokenTable(f"pending#{token.contact_id}", contact_id=token.contact_id, purpose="pending",
                        link_hash=token.token_hash, message_id=message_id, created_at=token.created_at,
                        valid_until=token.expires_at, expires_at=token.expires_at).save()

    def mark_used(self, token_hash: str, now: datetime) -> None:
        """Consume the token; a second use, even concurrent, raises ``ConcurrentUpdate``."""
        try:
            ResetTokenTable(token_hash).update(
                actions=[ResetTokenTable.used_at.set(now)],
                condition=ResetTokenTable.token_hash.exists() & ResetTokenTable.used_at.does_not_exist(),
            )
        except UpdateError as error:
            if _condition_failed(error):
                raise ConcurrentUpdate("Ce lien a déjà été utilisé.") from error
            raise

