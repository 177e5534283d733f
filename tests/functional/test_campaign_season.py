"""The renewal campaign over a whole season, through the deployed functions (chalice.test.Client).

The daily schedule is invoked as EventBridge would; the queued chunks are handed to the SQS
handler as Lambda's event source mapping would (a failed invocation leaves its message in
the queue). The clock is injected; the SES throttle "sleeps" by moving it.
"""
from __future__ import annotations

import importlib
from collections import Counter
from dataclasses import asdict, replace
from datetime import datetime, timezone

import pytest

from tests import campaign_world
from tests.conftest import sent_emails

NOTICE = "Renouvellement de votre adhésion 2027"
NO_REQUEST = "Rappel : renouvellement de votre adhésion 2027"
PURCHASE_ORDER = "Rappel : bon de commande attendu pour votre adhésion 2027"
UNPAID = "Rappel : facture"


class Crash(BaseException):
    """A worker dying mid-batch (timeout, killed): not an error the code may catch and handle."""


class CrashingMailer:
    """The real mailer, until the chosen send: that one dies before reaching SES."""

    def __init__(self, real, crash_on: int):
        self.real, self.crash_on, self.calls = real, crash_on, 0

    def send_raw(self, sender, recipients, raw):
        self.calls += 1
        if self.calls == self.crash_on:
            raise Crash(f"worker died on send {self.calls}")
        return self.real.send_raw(sender, recipients, raw)


class Lambdas:
    """Invokes the app's functions the way AWS does."""

    def __init__(self, client, rt):
        self.client, self.rt = client, rt

    def _scheduled(self, name: str):
        event = self.client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={},
            resources=[f"arn:aws:events:eu-west-3:123456789012:rule/{name}"])
        return self.client.lambda_.invoke(name, event).payload

    def daily(self):
        return self._scheduled("run_campaign_schedule")

    def retry_emails(self):
        return self._scheduled("retry_pending_emails")

    def deliver_queue(self) -> int:
        """Hand each queued chunk to the SQS handler; a failure makes it visible again and propagates."""
        chunks = 0
        while received := self.rt.campaign_queue.receive(max_messages=1):
            message = received[0]
            event = self.client.events.generate_sqs_event([message.body], queue_name=self.rt.config.campaign_queue)
            try:
                self.client.lambda_.invoke("process_campaign_chunk", event)
            except BaseException:
                self.rt.campaign_queue.release(message.receipt)
                raise
            self.rt.campaign_queue.delete(message.receipt)
            chunks += 1
        return chunks

    def day(self):
        self.daily()
        return self.deliver_queue()


@pytest.fixture
def world(rt, clock):
    rt.sleep = lambda seconds: clock.advance(seconds=seconds)
    return campaign_world.build(rt, 30)


@pytest.fixture
def aws_functions(client, rt, world):
    return Lambdas(client, rt)


def submit_request(rt, world, org_id: str, *, wait_for_po: bool) -> None:
    """The organisation's first contact fills in « Renouveler l'adhésion » and « Enregistrer ma demande »."""
    from chalicelib.services import renewal

    contact = world.contacts[org_id][0]
    offer = renewal.start_renewal(rt, org_id, contact.contact_id)
    answers = {k: str(v) for k, v in asdict(offer.form).items()}
    answers.update(tier_choice="confirm", payment_method="virement",
                   wait_for_purchase_order="yes" if wait_for_po else "no")
    assert renewal.submit_renewal_request(rt, org_id, contact.contact_id, answers).created


def invoice_request(rt, org_id: str):
    """Issue the invoice of the organisation's 2027 request (unless issuing already followed the request)."""
    from chalicelib.domain.renewal import RequestState
    from chalicelib.services import documents, renewal

    request = rt.renewals.latest(org_id, 2027)
    if request.state is RequestState.READY_TO_INVOICE:
        invoice = documents.issue_invoice(rt, org_id=org_id, year=2027, tier_code=request.tier_code,
                                          tier_label=request.tier_label, amount=request.amount,
                                          request_id=request.reference)
        renewal.mark_invoiced(rt, org_id, 2027, invoice.number)
    return rt.renewals.latest(org_id, 2027)


def crashing(*args, **kwargs):
    raise ConnectionError("worker stopped")


def at(clock, year, month, day, hour=5):
    clock.now = datetime(year, month, day, hour, 0, tzinfo=timezone.utc)


def received(subject_start: str) -> Counter:
    """How many times each address received a message whose subject starts so."""
    return Counter(r for m in sent_emails() if m.subject.startswith(subject_start) for r in m.recipients)


def assert_each_once(counts: Counter, expected: set[str]) -> None:
    assert set(counts) == expected
    assert all(n == 1 for n in counts.values()), {a: n for a, n in counts.items() if n != 1}


def test_a_whole_season_sends_each_message_once_and_follows_each_request(aws_functions, rt, clock, world):
    # Given a world of 30 organisations, three days before the 2027 campaign opens
    # When the daily function runs before the opening day
    aws_functions.day()
    # Then nothing is sent
    assert sent_emails() == []

    # When it runs on the opening day
    at(clock, 2026, 12, 1)
    assert aws_functions.day() >= 1
    # Then every contact technique of every organisation due gets the notice, once
    assert_each_once(received(NOTICE), world.recipients())
    # and nobody else gets anything: former, renewed, inactive organisations, contacts turned off
    assert not world.skipped_contacts() & {r for m in sent_emails() for r in m.recipients}

    # Given three members answer on 5 December: two ask us to wait for their purchase order
    at(clock, 2026, 12, 5, hour=10)
    waits, po_sent, ready = [o for o, p in world.profiles.items() if p == "member"][:3]
    submit_request(rt, world, waits, wait_for_po=True)
    submit_request(rt, world, po_sent, wait_for_po=True)
    submit_request(rt, world, ready, wait_for_po=False)
    # and one of them sends it on 15 December
    at(clock, 2026, 12, 15, hour=10)
    from chalicelib.services import renewal
    renewal.record_purchase_order(rt, po_sent, 2027, actor_id=world.contacts[po_sent][0].contact_id,
                                  number="BC-2027-118")

    # When the function runs again the same day, and on the following days
    aws_functions.day()
    for day in (2, 21):
        at(clock, 2026, 12, day)
        aws_functions.day()
    # Then the purchase-order reminder went, 15 days after the request, to the one still awaited
    assert_each_once(received(PURCHASE_ORDER), world.recipients([waits]))
    # and no other reminder yet (« no request yet » is due 21 days after the notice: 22 December)
    assert received(NO_REQUEST) == Counter()

    # When the schedule stalls and next runs three days after that reminder fell due
    at(clock, 2026, 12, 25)
    aws_functions.day()
    # Then the reminder that was due is sent, once, to the organisations still without a request
    without_request = [o for o in world.due_organisations() if o not in (waits, po_sent, ready)]
    assert_each_once(received(NO_REQUEST), world.recipients(without_request))

    # When the following days' runs come
    for day in (26, 27):
        at(clock, 2026, 12, day)
        aws_functions.day()
    # Then nothing is sent twice
    assert_each_once(received(NOTICE), world.recipients())
    assert_each_once(received(PURCHASE_ORDER), world.recipients([waits]))
    assert_each_once(received(NO_REQUEST), world.recipients(without_request))


def test_the_unpaid_invoice_reminder_goes_after_the_due_date_and_stops_once_paid(aws_functions, rt, clock, world):
    from chalicelib.domain.model import Membership, MembershipStatus

    # Given two members who renewed on 5 December and were invoiced that day (due 4 January)
    at(clock, 2026, 12, 1)
    aws_functions.day()
    at(clock, 2026, 12, 5, hour=10)
    unpaid, paid, interrupted = [o for o, p in world.profiles.items() if p == "member"][:3]
    for org_id in (unpaid, paid, interrupted):
        submit_request(rt, world, org_id, wait_for_po=False)
        invoice_request(rt, org_id)
    # and one of them pays on 8 January
    at(clock, 2027, 1, 8, hour=10)
    request = rt.renewals.latest(paid, 2027)
    rt.memberships.save(Membership(paid, 2027, request.tier_code, request.tier_label, request.amount,
                                   MembershipStatus.PAID))
    # and a third pays in full, but the settlement stops before the request is marked paid
    from chalicelib.services import payments
    pay_all = {"amount": str(rt.renewals.latest(interrupted, 2027).amount), "paid_on": "08/01/2027",
               "method": "virement", "reference": "VIR-0"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(importlib.import_module("chalicelib.services.renewal"), "mark_paid", crashing)
        with pytest.raises(ConnectionError):
            payments.record_payment(rt, interrupted, 2027, recorded_by="staff", fields=pay_all)
    # and the last one pays 50 € of it on 9 January
    at(clock, 2027, 1, 9, hour=10)
    payments.record_payment(rt, unpaid, 2027, recorded_by="staff", fields={
        "amount": "50,00", "paid_on": "09/01/2027", "method": "virement", "reference": "VIR-1"})
    # When the daily function runs up to the day before the reminder is due (7 days after)
    at(clock, 2027, 1, 10)
    aws_functions.day()
    assert received(UNPAID) == Counter()
    # Then on 12 January (one day late) the reminder goes to the one that has not paid, once
    for day in (12, 13):
        at(clock, 2027, 1, day)
        aws_functions.day()
    assert_each_once(received(UNPAID), world.recipients([unpaid]))
    reminder = next(m for m in sent_emails() if m.subject.startswith(UNPAID))
    assert "à régler au plus tard le 4 janvier 2027" in reminder.text
    from chalicelib.domain.formatting import format_eur
    left = rt.renewals.latest(unpaid, 2027).amount - 50
    from tests.functional.conftest import plain_spaces  # sent_emails() reads no-break spaces as spaces
    assert plain_spaces(f"déjà réglé : {format_eur(50)}, reste à payer : {format_eur(left)}") in reminder.text
    assert "reste à payer" in reminder.html
    assert "« Historique des adhésions »" in reminder.text


def test_the_email_says_what_is_due_and_how_to_renew(aws_functions, clock, world):
    at(clock, 2026, 12, 1)
    aws_functions.day()
    member = next(o for o, p in world.profiles.items() if p == "member")
    address = world.contacts[member][0].email
    message = next(m for m in sent_emails() if address in m.recipients)
    assert message.subject == "Renouvellement de votre adhésion 2027 — Cité Verte"
    for text in ("Commune de moins de 5 000 habitants", "185,00", "« Éditer un devis »", "« Mes adhésions »",
                 "« Renouveler l'adhésion »", "« Enregistrer ma demande »", "adherents@cite-verte.example",
                 "https://adhesions.test/mon-compte/adhesions"):
        assert text in message.text, text
        assert text.replace("'", "&#39;") in message.html or text in message.html, text


def test_a_run_three_days_late_still_sends_the_notice(aws_functions, clock, world):
    at(clock, 2026, 12, 4)
    aws_functions.day()
    assert_each_once(received(NOTICE), world.recipients())


def test_a_first_run_months_after_the_opening_sends_no_stale_notice(aws_functions, clock, world):
    at(clock, 2027, 3, 1)
    aws_functions.day()
    assert received(NOTICE) == Counter()


@pytest.mark.parametrize("crash_on", [1, 8, 17])
def test_a_worker_dying_mid_batch_resumes_without_sending_anything_twice(aws_functions, rt, clock, world, crash_on):
    # Given the opening day and a worker that dies on its n-th send (before SES got it)
    at(clock, 2026, 12, 1)
    real = rt.mailer
    rt.mailer = CrashingMailer(real, crash_on)
    aws_functions.daily()
    with pytest.raises(Crash):
        aws_functions.deliver_queue()
    assert len(sent_emails()) == crash_on - 1
    # When SQS delivers the chunk again after the claim has gone stale
    rt.mailer = real
    clock.advance(minutes=10)
    aws_functions.deliver_queue()
    # Then every contact has the notice exactly once
    assert_each_once(received(NOTICE), world.recipients())
    # and a later run sends nothing more
    aws_functions.day()
    assert_each_once(received(NOTICE), world.recipients())


def test_a_crash_before_the_ledger_is_marked_does_not_resend(aws_functions, rt, clock, world):
    # Given a worker that dies right after the outbox sent its 5th message, before the ledger says so
    at(clock, 2026, 12, 1)
    ledger = rt.campaign_ledger
    original, calls = ledger.mark_sent, []

    def dying_mark_sent(*args, **kwargs):
        calls.append(args)
        if len(calls) == 5:
            raise Crash("died after sending")
        return original(*args, **kwargs)

    ledger.mark_sent = dying_mark_sent
    aws_functions.daily()
    with pytest.raises(Crash):
        aws_functions.deliver_queue()
    assert len(sent_emails()) == 5
    ledger.mark_sent = original
    # When the outbox retries run meanwhile, and the chunk comes back later
    aws_functions.retry_emails()
    clock.advance(minutes=10)
    aws_functions.deliver_queue()
    # Then the 5th contact did not get it twice, and everyone got it
    assert_each_once(received(NOTICE), world.recipients())


def test_the_outbox_retry_and_the_resumed_chunk_never_both_send(aws_functions, rt, clock, world):
    at(clock, 2026, 12, 1)
    real = rt.mailer
    rt.mailer = CrashingMailer(real, 3)
    aws_functions.daily()
    with pytest.raises(Crash):
        aws_functions.deliver_queue()
    rt.mailer = real
    clock.advance(minutes=10)
    # The outbox retry delivers the message the dead worker had stored, then the chunk resumes
    assert aws_functions.retry_emails() == {"sent": 1}
    aws_functions.deliver_queue()
    assert_each_once(received(NOTICE), world.recipients())


def test_one_organisation_failing_does_not_hold_back_the_others_and_its_chunk_is_retried(
        aws_functions, rt, clock, world):
    from chalicelib.services.campaign import ChunkFailed

    # Given the opening day and one due organisation whose contacts cannot be read for now
    at(clock, 2026, 12, 1)
    broken = world.due_organisations()[2]
    read_contacts = rt.contacts.for_organisation

    def failing(org_id):
        if org_id == broken:
            raise RuntimeError("DynamoDB throttled")
        return read_contacts(org_id)

    rt.contacts.for_organisation = failing
    aws_functions.daily()
    # When the chunk is processed, it fails — after sending to every other organisation
    with pytest.raises(ChunkFailed):
        aws_functions.deliver_queue()
    others = [o for o in world.due_organisations() if o != broken]
    assert_each_once(received(NOTICE), world.recipients(others))
    # and once the cause is gone, SQS's next delivery completes it without repeating anything
    rt.contacts.for_organisation = read_contacts
    aws_functions.deliver_queue()
    assert_each_once(received(NOTICE), world.recipients())


def test_a_chunk_out_of_time_queues_the_rest_and_everything_is_sent_once(aws_functions, rt, clock, world):
    # Given chunks that may only work two (fake) seconds: 10 messages at 5 a second per worker
    at(clock, 2026, 12, 1)
    rt.config = replace(rt.config, campaign_work_seconds=2)
    aws_functions.daily()
    chunks = aws_functions.deliver_queue()
    assert chunks > 1  # the remainders were queued and delivered
    assert_each_once(received(NOTICE), world.recipients())


def test_sending_keeps_the_ses_rate(aws_functions, rt, clock, world):
    at(clock, 2026, 12, 1)
    real, times = rt.mailer, []

    class TimedMailer:
        def send_raw(self, sender, recipients, raw):
            times.append(clock())
            return real.send_raw(sender, recipients, raw)

    rt.mailer = TimedMailer()
    aws_functions.day()
    settings = rt.association()
    per_worker = settings.ses_max_per_second / 2
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert len(times) == len(world.recipients())
    assert min(gaps) >= 1 / per_worker - 1e-6


def test_staff_preview_lists_recipients_and_sends_nothing(aws_functions, rt, world):
    from chalicelib.services.campaign import preview_campaign

    preview = preview_campaign(rt, 2027)
    assert preview.organisations_due == len(world.due_organisations())
    assert preview.recipients == len(world.recipients()) and preview.already_sent == 0
    assert {line.email for line in preview.lines} == world.recipients()
    assert preview.inactive == 3 and preview.opted_out > 0 and len(preview.without_recipient) == 3
    assert sent_emails() == [] and rt.campaign_queue.receive() == []
