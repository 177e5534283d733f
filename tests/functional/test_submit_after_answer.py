"""« Enregistrer ma demande » answers once the request is saved; the invoice, its PDF and the
emails come after, from a task on the queue (SQS here, as in AWS). Nothing is lost when the task's
consumer crashes or when the queue refuses the task."""
from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.domain.renewal import RequestState
from chalicelib.services import renewal, tasks
from tests.conftest import sent_emails
from tests.functional.conftest import MEMBER, STAFF
from tests.functional.renewal_support import MEMBERSHIPS, answers, plain

MONTCLAIR = "org-montclair"
NO_PO = {"wait_for_purchase_order": "no", "payment_method": "virement", "purchase_order_number": "EJ-2027-0042"}


@pytest.fixture
def queued(rt, clock, monkeypatch):
    """The campaign is open and tasks go through the real queue."""
    clock.advance(days=3)
    monkeypatch.setattr(rt, "config", replace(rt.config, tasks_inline=False))
    return rt


def submit(rt):
    member = rt.contacts.find_by_email(MEMBER).contact_id
    return renewal.submit_renewal_request(rt, MONTCLAIR, member, answers(**NO_PO))


def test_the_answer_comes_before_the_invoice_and_the_emails(queued, demo, browser):
    result = submit(queued)
    assert result.created and result.request.state is RequestState.READY_TO_INVOICE
    assert sent_emails() == []
    assert all(d.kind.value == "quote" for d in queued.documents.for_organisation(MONTCLAIR))  # no invoice yet
    browser.login(MEMBER)
    browser.get(MEMBERSHIPS)
    page = plain(browser.text())
    assert "statut : Facture en cours d'émission" in page and "votre facture est en cours d'émission" in page
    assert tasks.drain(queued) == 2  # the request's task, then its invoice's deposit on Chorus Pro (a commune)
    assert queued.renewals.latest(MONTCLAIR, 2027).state is RequestState.INVOICED
    confirmation = next(m for m in sent_emails() if m.recipients == (MEMBER,) and "demande" in m.subject.lower())
    assert "Facturée" in confirmation.text  # written once the invoice exists, not before
    assert "Télécharger la facture" in browser.get(MEMBERSHIPS).body.decode()


def test_a_task_delivered_twice_sends_nothing_twice(queued, demo):
    submit(queued)
    [message] = queued.task_queue.receive()
    tasks.process(queued, message.body)
    first = sorted((m.recipients, m.subject) for m in sent_emails())
    tasks.process(queued, message.body)  # SQS delivers at least once
    assert sorted((m.recipients, m.subject) for m in sent_emails()) == first
    invoices = [d for d in queued.documents.for_organisation(MONTCLAIR) if d.kind.value == "invoice"]
    assert len(invoices) == 1


def test_a_consumer_crash_loses_no_email_and_issues_one_invoice(queued, demo, monkeypatch):
    submit(queued)
    real_add, calls = queued.outbox.add, []

    def crash_on_the_second_renewal_email(message):
        calls.append(message.message_id)
        if len([c for c in calls if c.startswith("renewal.")]) == 2:
            raise ConnectionError("the consumer died here")
        return real_add(message)

    monkeypatch.setattr(queued.outbox, "add", crash_on_the_second_renewal_email)
    received, real_receive = [], queued.task_queue.receive

    def recording(**kwargs):
        got = real_receive(**kwargs)
        received.extend(got)
        return got

    monkeypatch.setattr(queued.task_queue, "receive", recording)
    # the request's task failed (left on the queue); the invoice it issued was deposited by its own task.
    # Hidden long enough that a slow machine never sees it again within this drain.
    assert tasks.drain(queued, visibility_seconds=60) == 1
    monkeypatch.setattr(queued.outbox, "add", real_add)
    failed = [m for m in received if "after_submit" in m.body]
    for message in failed:  # its visibility timeout ends: SQS delivers it again
        queued.task_queue.release(message.receipt)
    assert tasks.drain(queued) == 1
    sent = sorted((m.recipients, m.subject) for m in sent_emails())
    assert len(sent) == len(set(sent))  # each email once
    recipients = {r for r, _ in sent}
    assert (STAFF,) in recipients and (MEMBER,) in recipients and ("s.garnier@montclair.example",) in recipients
    invoices = [d for d in queued.documents.for_organisation(MONTCLAIR) if d.kind.value == "invoice"]
    assert len(invoices) == 1


def test_when_the_queue_refuses_the_task_it_is_done_in_the_request(queued, demo, monkeypatch):
    def refused(bodies):
        raise ConnectionError("SQS unreachable")

    monkeypatch.setattr(queued.task_queue, "send_many", refused)
    result = submit(queued)
    assert result.created
    assert queued.renewals.latest(MONTCLAIR, 2027).state is RequestState.INVOICED
    assert any(m.recipients == (STAFF,) for m in sent_emails())


def test_an_invoice_notice_lost_in_the_middle_is_sent_by_the_reconciler(queued, demo, monkeypatch):
    from chalicelib import jobs

    submit(queued)
    real_add = queued.outbox.add

    def notices_down(message):
        if message.message_id.startswith("invoice."):
            raise ConnectionError("DynamoDB unreachable for this one")
        return real_add(message)

    monkeypatch.setattr(queued.outbox, "add", notices_down)
    assert tasks.drain(queued) == 2  # the invoice is issued and deposited; its contact notices were not queued
    notices = lambda: [m for m in sent_emails() if "disponible" in m.subject.lower()]  # noqa: E731
    assert notices() == []
    monkeypatch.setattr(queued.outbox, "add", real_add)
    jobs.issue_pending_invoices(queued)
    contacts = {c.email for c in queued.contacts.for_organisation(MONTCLAIR) if c.active}
    assert {m.recipients[0] for m in notices()} == contacts - {"factures@montclair.example"}
    jobs.issue_pending_invoices(queued)
    assert len(notices()) == len(contacts - {"factures@montclair.example"})
