"""Login, sessions and password reset."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

from ..domain.errors import ConcurrentUpdate, DomainError, Forbidden, ValidationError
from ..domain.model import Contact
from ..domain.security import (
    GENERIC_LOGIN_ERROR,
    LOCKOUT_WINDOW,
    LoginThrottle,
    ResetToken,
    Session,
    check_new_password,
    hash_token,
    normalise_email,
)
from ..runtime import Runtime
from . import tasks
from .audit import record
from .mail import send_again, send_email

log = logging.getLogger(__name__)


class LoginFailed(DomainError):
    status = 400
    message = GENERIC_LOGIN_ERROR


class InvalidResetLink(DomainError):
    status = 400
    message = "Ce lien n'est plus valable : il a déjà servi ou a expiré. Demandez-en un nouveau."


@dataclass(frozen=True)
class LoginResult:
    token: str
    contact: Contact


def session_limits(rt: Runtime) -> tuple[timedelta, timedelta]:
    c = rt.config
    return timedelta(seconds=c.session_idle_seconds), timedelta(seconds=c.session_absolute_seconds)


LOGIN_ATTEMPTS_PER_SOURCE = 60  # per 15 minutes from one IP address, whatever the accounts
DENIALS_JOURNALED_PER_SOURCE = 30  # anonymous refusals journaled per 15 minutes from one IP address
THROTTLE_KEEP = timedelta(hours=1)  # a throttle record outlives its longest lock and its memory of it


def count_attempt(rt: Runtime, key: str, now) -> tuple[bool, LoginThrottle | None]:
    """Count this attempt *before* any secret is checked; (may it be checked, the lock it set).

    The count is one conditional write (optimistic locking on the throttle item): of any burst,
    however many arrive at once, only the attempts that find the window not yet full are
    checked — at most ``LOCKOUT_THRESHOLD`` per window. An attempt whose write keeps losing
    the race is refused unchecked (fail closed). A success clears the count.
    """
    try:
        before, after = rt.login_throttle.update(
            key, lambda t: t if t.is_locked(now) else t.after_failure(now), now + THROTTLE_KEEP)
    except ConcurrentUpdate:
        return False, None
    return not before.is_locked(now), (after if after.just_locked(before, now) else None)


def within_limit(rt: Runtime, key: str, limit: int, window: timedelta, now) -> bool:
    """Count one more event under ``key`` unless ``limit`` were already counted in ``window``
    (one conditional write; a write that keeps losing the race counts as over the limit)."""
    try:
        before, _ = rt.login_throttle.update(key, lambda t: t.with_event(now, limit, window), now + window)
    except ConcurrentUpdate:
        return False
    return before.has_room(now, limit, window)


def source_key(kind: str, source_ip: str) -> str:
    return f"{kind}-source#{source_ip[:64]}"


def login(rt: Runtime, email: str, password: str, source_ip: str = "") -> LoginResult:
    """Check the credentials and open a new session; every failure looks the same."""
    email = normalise_email(email)
    now = rt.clock()
    source_ok = not source_ip or within_limit(rt, source_key("login", source_ip), LOGIN_ATTEMPTS_PER_SOURCE,
                                              LOCKOUT_WINDOW, now)
    may_check, locked = count_attempt(rt, email, now) if email and source_ok else (False, None)
    contact = rt.contacts.find_by_email(email) if email else None
    if not may_check or contact is None or not contact.active or not contact.password_hash:
        rt.hasher.verify_dummy(password)  # the same work whatever the reason: failures look alike
        ok = False
    else:
        ok = rt.hasher.verify(contact.password_hash, password)
    if not ok:
        if not source_ok:  # past the source's limit nothing more is journaled: the log says it
            log.warning("login attempts over the per-source limit")
            raise LoginFailed()
        reason = "locked" if not may_check else ("bad_password" if contact else "unknown_email")
        record(rt, "login.failure", actor=email[:254], target=email[:254], ip=source_ip, reason=reason)
        if locked is not None:
            log.warning("login delayed after repeated failures")
            record(rt, "login.locked", actor=email[:254], target=email[:254], ip=source_ip,
                   locked_until=locked.locked_until.isoformat())
        raise LoginFailed()
    rt.login_throttle.clear(email)
    if rt.hasher.needs_rehash(contact.password_hash):
        rt.contacts.set_password_hash(contact.contact_id, rt.hasher.hash(password), None)
    token = rt.token_factory()
    org = rt.organisations.get(contact.org_id) if contact.org_id else None
    # A staff session reaches staff pages only after the second factor (services.second_factor).
    session = Session(hash_token(token), contact.contact_id, contact.org_id, contact.role.value, now, now,
                      org_name=org.name if org else "")
    idle, absolute = session_limits(rt)
    rt.sessions.add(session, session.expires_at(idle, absolute))
    record(rt, "login.success", actor=contact.contact_id, target=contact.email, org_id=contact.org_id, ip=source_ip)
    return LoginResult(token, contact)


def resolve_session(rt: Runtime, token: str | None,
                    on_expired: Callable[[Session], None] | None = None) -> Session | None:
    """The live session for a cookie token, refreshed if idle; None when absent or expired
    (``on_expired`` is then told which session ran out: a form it posted can be kept)."""
    if not token or len(token) > 200:
        return None
    token_hash = hash_token(token)
    session = rt.sessions.get(token_hash)
    if session is None:
        return None
    now = rt.clock()
    idle, absolute = session_limits(rt)
    if session.expired(now, idle, absolute):
        rt.sessions.delete(token_hash)
        if on_expired is not None:
            on_expired(session)
        return None
    if session.needs_touch(now):
        touched = replace(session, last_seen_at=now)
        rt.sessions.touch(token_hash, now, touched.expires_at(idle, absolute))
        session = touched
    return session


def logout(rt: Runtime, token: str | None, session: Session | None = None) -> None:
    """Revoke the session on the server (``session`` given when it is known, for the audit)."""
    if token:
        rt.sessions.delete(hash_token(token))
    if session is not None:
        record(rt, "logout", actor=session.contact_id, org_id=session.org_id)


RESET_WINDOW = timedelta(hours=1)
RESET_LINKS_PER_ADDRESS = 3  # links mailed to one address per hour
RESET_REQUESTS_PER_SOURCE = 20  # requests from one address IP per hour, whatever the email


def request_password_reset(rt: Runtime, email: str, source_ip: str = "") -> None:
    """Queue « Mot de passe oublié »'s email; answer the same, in the same time, for any address.

    At most ``RESET_LINKS_PER_ADDRESS`` requests per address per hour, and
    ``RESET_REQUESTS_PER_SOURCE`` per source: « Mot de passe oublié » cannot be used to flood
    a mailbox. Past a limit nothing is sent, and the answer is the same. Whether the address
    has an account is found out after the answer, by the task (``send_reset_link``).
    """
    email = normalise_email(email)
    now = rt.clock()
    if (source_ip and not within_limit(rt, source_key("reset", source_ip), RESET_REQUESTS_PER_SOURCE, RESET_WINDOW, now)) \
            or not within_limit(rt, f"reset#{email[:254]}", RESET_LINKS_PER_ADDRESS, RESET_WINDOW, now):
        record(rt, "password.reset_limited", actor=email[:254], ip=source_ip)
        return
    tasks.enqueue(rt, tasks.Task(tasks.PASSWORD_RESET, {"email": email[:254], "source_ip": source_ip[:64]}),
                  inline_if_queue_fails=True)


# A pending link is mailed again (rather than a new one made) while it has this long left.
RESEND_MARGIN = timedelta(minutes=10)


def send_reset_link(rt: Runtime, email: str, source_ip: str = "") -> None:
    """The task behind « Mot de passe oublié »: mail a single-use link to an active account.

    A request while the last link is still unused and valid for ``RESEND_MARGIN`` or more mails
    that same link again instead of making another one.
    """
    contact = rt.contacts.find_by_email(email)
    if contact is None or not contact.active:
        record(rt, "password.reset_requested", actor=email[:254], ip=source_ip, account_found=False)
        return
    now = rt.clock()
    pending = rt.reset_tokens.pending_link(contact.contact_id)
    if pending is not None:
        token = rt.reset_tokens.get(pending[0])
        if token is not None and token.purpose == "reset" and token.usable(now, contact.password_changed_at) \
                and token.expires_at - now >= RESEND_MARGIN and send_again(rt, pending[1], [contact.email]) is not None:
            record(rt, "password.reset_requested", actor=contact.contact_id, target=contact.email,
                   org_id=contact.org_id, ip=source_ip, account_found=True, link="sent_again")
            return
    issue_password_link(rt, contact, purpose="reset")
    record(rt, "password.reset_requested", actor=contact.contact_id, target=contact.email,
           org_id=contact.org_id, ip=source_ip, account_found=True, link="new")


def issue_password_link(rt: Runtime, contact: Contact, *, purpose: str) -> None:
    """Store a hashed single-use token and mail its link (reset or first invitation)."""
    token = rt.token_factory()
    now = rt.clock()
    stored = ResetToken(hash_token(token), contact.contact_id, now,
                        now + timedelta(seconds=rt.config.reset_token_seconds), purpose=purpose)
    rt.reset_tokens.add(stored)
    link = f"{rt.config.base_url}/mot-de-passe/nouveau?jeton={token}"
    message_id = send_email(
        rt, kind=f"password_{purpose}", template="password_invite" if purpose == "invite" else "password_reset",
        recipients=[contact.email],
        contact=contact, link=link, minutes=rt.config.reset_token_seconds // 60,
    )
    rt.reset_tokens.set_pending_link(stored, message_id)


def check_reset_token(rt: Runtime, token: str) -> tuple[ResetToken, Contact]:
    """The token and its contact, if the link can still be used."""
    found = rt.reset_tokens.get(hash_token(token)) if token and len(token) <= 200 else None
    contact = rt.contacts.get(found.contact_id) if found else None
    if found is None or contact is None or not contact.active:
        raise InvalidResetLink()
    if not found.usable(rt.clock(), contact.password_changed_at):
        raise InvalidResetLink()
    return found, contact


def reset_password(rt: Runtime, token: str, password: str, confirmation: str) -> Contact:
    """Set a new password from a reset link, revoke every session and notify the contact."""
    found, contact = check_reset_token(rt, token)
    check_new_password(password, confirmation, [contact.email, contact.name, rt.association().name])
    now = rt.clock()
    try:
        rt.reset_tokens.mark_used(found.token_hash, now)
    except ConcurrentUpdate as error:
        raise InvalidResetLink() from error
    rt.contacts.set_password_hash(contact.contact_id, rt.hasher.hash(password), now)
    rt.sessions.delete_for_contact(contact.contact_id)
    rt.login_throttle.clear(normalise_email(contact.email))
    send_email(rt, kind="password_changed", template="password_changed",
               recipients=[contact.email], contact=contact, changed_at=now)
    record(rt, "password.reset_done", actor=contact.contact_id, target=contact.email, org_id=contact.org_id,
           sessions_revoked=True)
    return contact


def validate_login_form(email: str, password: str) -> None:
    errors = {}
    if not email.strip():
        errors["email"] = "Indiquez votre adresse e-mail."
    if not password:
        errors["password"] = "Indiquez votre mot de passe."
    if errors:
        raise ValidationError(errors)


def change_password(rt: Runtime, session: Session, current: str, password: str, confirmation: str) -> str:
    """« Changer mon mot de passe » from « Mon compte »: the current password first (counted like
    a login attempt, so this form cannot be used to guess it), then the new one under the same
    rules as a reset. Every session ends — the others and this one — and a new session token is
    returned for this browser; the contact is told by email."""
    contact = rt.contacts.get(session.contact_id)
    if contact is None or not contact.active:
        raise Forbidden()
    email = normalise_email(contact.email)
    now = rt.clock()
    may_check, _ = count_attempt(rt, email, now)
    if not (may_check and contact.password_hash and rt.hasher.verify(contact.password_hash, current)):
        record(rt, "password.change_refused", actor=contact.contact_id, org_id=contact.org_id)
        raise ValidationError({"current": "Le mot de passe actuel est incorrect, ou trop d'essais : réessayez dans "
                                          "quelques minutes ou utilisez « Mot de passe oublié ? »."})
    check_new_password(password, confirmation, [contact.email, contact.name, rt.association().name])
    if password == current:  # ``current`` was just verified: no second argon2 check needed
        raise ValidationError({"password": "Choisissez un mot de passe différent de l'actuel."})
    rt.contacts.set_password_hash(contact.contact_id, rt.hasher.hash(password), now)
    rt.sessions.delete_for_contact(contact.contact_id)
    rt.login_throttle.clear(email)
    token = rt.token_factory()
    fresh = replace(session, token_hash=hash_token(token), created_at=now, last_seen_at=now)
    idle, absolute = session_limits(rt)
    rt.sessions.add(fresh, fresh.expires_at(idle, absolute))
    send_email(rt, kind="password_changed", template="password_changed", recipients=[contact.email],
               contact=contact, changed_at=now)
    record(rt, "password.changed", actor=contact.contact_id, target=contact.email, org_id=contact.org_id,
           sessions_revoked=True)
    return token
