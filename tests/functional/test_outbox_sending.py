"""The outbox: an email is stored already taken by its sender, sent, marked; a crash leaves it to the retries."""
from __future__ import annotations

import pytest

from chalicelib.services import mail
from tests.bench.common import DynamoCounter
from tests.conftest import sent_emails


class Crash(BaseException):
    """The worker dies between storing the message and SES (timeout, killed)."""


class DyingMailer:
    def send_raw(self, sender, recipients, raw):
        raise Crash("died before SES")


def _send(rt, message_id="msg-1", contact=None):
    contact = contact or rt.contacts.find_by_email("m.lefevre@montclair.example")
    return mail.send_email(rt, kind="password_changed", template="password_changed",
                           recipients=[contact.email], message_id=message_id, contact=contact,
                           changed_at=rt.clock())


def test_an_email_costs_one_write_to_store_it_and_one_to_mark_it_sent(rt, demo):
    rt.association()  # the settings, read once per process
    contact = rt.contacts.find_by_email("m.lefevre@montclair.example")
    counter = DynamoCounter()
    with counter.installed():
        _send(rt, contact=contact)
    assert dict(counter.calls) == {"PutItem": 1, "UpdateItem": 1}
    stored = rt.outbox.get("msg-1")
    assert (stored.status, stored.attempts) == ("sent", 1)
    assert len(sent_emails()) == 1


def test_sending_again_with_the_same_id_sends_nothing_new(rt, demo):
    _send(rt)
    _send(rt)
    assert len(sent_emails()) == 1


def test_a_crash_before_ses_leaves_the_message_to_the_retries_after_the_lease(rt, demo, clock):
    real = rt.mailer
    rt.mailer = DyingMailer()
    with pytest.raises(Crash):
        _send(rt)
    rt.mailer = real
    assert rt.outbox.get("msg-1").status == "pending"
    assert mail.retry_pending_emails(rt) == 0  # still held by the dead sender
    _send(rt)  # the same caller again, within the lease: nothing sent twice
    assert sent_emails() == []
    clock.advance(seconds=mail.SEND_LEASE.total_seconds() + 1)
    assert mail.retry_pending_emails(rt) == 1
    assert mail.retry_pending_emails(rt) == 0
    assert len(sent_emails()) == 1
    assert rt.outbox.get("msg-1").attempts == 2


def test_a_refused_message_is_retried_after_its_backoff(rt, demo, clock):
    class Refusing:
        def send_raw(self, sender, recipients, raw):
            raise RuntimeError("SES throttled")

    real, rt.mailer = rt.mailer, Refusing()
    _send(rt)
    rt.mailer = real
    assert rt.outbox.get("msg-1").last_error.startswith("RuntimeError")
    assert mail.retry_pending_emails(rt) == 0
    clock.advance(seconds=mail.backoff(1).total_seconds() + 1)
    assert mail.retry_pending_emails(rt) == 1
    assert len(sent_emails()) == 1
