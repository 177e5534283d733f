"""Email through the outbox: stored first, sent next, retried with backoff on failure."""
from __future__ import annotations

import logging
from datetime import timedelta

from ..domain.errors import AlreadyExists, ConcurrentUpdate
from ..domain.outbox import OutboxMessage, compose_message
from ..runtime import Runtime

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
SEND_LEASE = timedelta(minutes=2)
# SES took the email: marking it sent is tried again at once, since a mark that never lands
# means the same email again once the lease is over.
MARK_TRIES = 3
# The outbox keeps the whole MIME message in one DynamoDB item (400 KB at most): a message
# with attachments must stay under this, or it is refused before anything is stored.
MAX_RAW_BYTES = 350_000


class MessageTooLarge(ValueError):
    """A message (with its attachments) too large for the outbox."""


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after each failed attempt, at most 4 hours."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), timedelta(hours=4))


def email_context(rt: Runtime) -> dict:
    """What every email template may use: the association and the site's address."""
    return {"association": rt.association(), "base_url": rt.config.base_url}


def render_email(rt: Runtime, template: str, **context) -> tuple[str, str, str]:
    """(subject, text, HTML) of ``email/<template>`` as ``send_email`` sends it (previews use it)."""
    return rt.templates.email(template, **email_context(rt), **context)


def compose(rt: Runtime, *, kind: str, template: str, recipients: list[str], message_id: str | None = None,
            attachments: tuple[tuple[str, bytes], ...] = (), **context) -> OutboxMessage:
    """An email rendered and ready for the outbox, taken by the caller for ``SEND_LEASE``: store
    it (``rt.outbox.add``, or in the transaction of the change that causes it), then ``dispatch``
    it. A crash in between leaves it to the retries once the lease is over."""
    association = rt.association()
    subject, text, html = render_email(rt, template, **context)
    now = rt.clock()
    raw = compose_message(
        sender=rt.config.sender_email, sender_name=association.name, recipients=recipients,
        subject=subject, text=text, html=html, sent_at=now, reply_to=association.contact_email,
        attachments=attachments,
    )
    if len(raw) > MAX_RAW_BYTES:
        raise MessageTooLarge(f"{kind}: {len(raw)} bytes, over the outbox's {MAX_RAW_BYTES}")
    return OutboxMessage(
        message_id=message_id or rt.id_factory(), kind=kind, recipients=tuple(recipients), subject=subject,
        raw=raw, status="pending", attempts=1, created_at=now, next_attempt_at=now + SEND_LEASE,
    )


def send_email(rt: Runtime, *, kind: str, template: str, recipients: list[str],
               message_id: str | None = None, attachments: tuple[tuple[str, bytes], ...] = (), **context) -> str:
    """Queue an email in the outbox and try to send it now; return the outbox id.

    The message is stored before any attempt, so an SES failure never loses it:
    ``retry_pending_emails`` sends it later. It is stored already taken by this call for
    ``SEND_LEASE`` (one write, where storing then claiming took two); a crash before SES
    leaves it to the retries once the lease is over. A caller that may repeat itself passes
    a ``message_id`` of its own: a second call with it sends nothing new, it only delivers
    the stored message if that one is still pending and due.
    """
    message = compose(rt, kind=kind, template=template, recipients=recipients, message_id=message_id,
                      attachments=attachments, **context)
    try:
        rt.outbox.add(message)
    except AlreadyExists:  # stored by an earlier attempt: deliver that one, if still pending
        deliver(rt, message.message_id)
        return message.message_id
    _send(rt, message, message.created_at)
    return message.message_id


def dispatch(rt: Runtime, messages) -> None:
    """Send messages stored (with the change that caused them) and taken by this caller; never
    raises: what fails here is sent by ``retry_pending_emails``."""
    for message in messages:
        try:
            _send(rt, message, message.created_at)
        except Exception:
            log.exception("email %s stored, not sent now: the retries send it", message.message_id)


def send_again(rt: Runtime, message_id: str, recipients: list[str]) -> str | None:
    """Send a stored message once more as a new one (new outbox id, ``Message-ID`` and date, so
    that mail clients do not hide it as a duplicate); None when the message is gone or was for
    other recipients (an address changed since)."""
    from email import message_from_bytes, policy
    from email.utils import format_datetime, make_msgid

    stored = rt.outbox.get(message_id)
    if stored is None or list(stored.recipients) != recipients:
        return None
    now = rt.clock()
    mime = message_from_bytes(stored.raw, policy=policy.SMTP)
    del mime["Message-ID"], mime["Date"]
    mime["Date"] = format_datetime(now)
    mime["Message-ID"] = make_msgid(domain=rt.config.sender_email.rsplit("@", 1)[-1])
    again = OutboxMessage(
        message_id=rt.id_factory(), kind=stored.kind, recipients=stored.recipients, subject=stored.subject,
        raw=mime.as_bytes(), status="pending", attempts=1, created_at=now, next_attempt_at=now + SEND_LEASE,
    )
    rt.outbox.add(again)
    _send(rt, again, now)
    return again.message_id


def deliver(rt: Runtime, message_id: str) -> bool:
    """Send one pending message if no other worker holds it; True once sent."""
    now = rt.clock()
    try:
        msg = rt.outbox.claim(message_id, now, SEND_LEASE)
    except ConcurrentUpdate:
        return False
    return _send(rt, msg, now)


def _send(rt: Runtime, msg: OutboxMessage, now) -> bool:
    """Hand a message this worker holds to SES, then mark it sent (or failed, for a retry)."""
    try:
        rt.mailer.send_raw(rt.config.sender_email, list(msg.recipients), msg.raw)
    except Exception as error:  # any SES or network failure: keep it for later
        retry_at = None if msg.attempts >= MAX_ATTEMPTS else now + backoff(msg.attempts)
        log.warning("email %s not sent (attempt %s): %s", msg.message_id, msg.attempts, error)
        rt.outbox.mark_failed(msg.message_id, f"{type(error).__name__}: {error}", retry_at)
        return False
    for attempt in range(MARK_TRIES):
        try:
            rt.outbox.mark_sent(msg.message_id, rt.clock())
            break
        except Exception:
            if attempt + 1 == MARK_TRIES:  # SES has it: after the lease, the retries send it again
                log.exception("email %s sent but not marked sent", msg.message_id)
    return True


def retry_pending_emails(rt: Runtime, limit: int = 100) -> int:
    """Send the outbox messages whose retry time has come; return how many were sent."""
    return sum(deliver(rt, message_id) for message_id in rt.outbox.due(rt.clock(), limit))
