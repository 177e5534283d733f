"""The campaign's adapters against moto: the ledger's conditional writes, the SQS queue, the outbox id."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.campaign import CampaignRun, LedgerState, MessageKind
from chalicelib.services.campaign import CLAIM_LEASE
from tests.conftest import sent_emails

NOW = datetime(2026, 12, 1, 5, tzinfo=timezone.utc)
NOTICE = MessageKind.NOTICE


def claim(rt, email="a@x.example", now=NOW, org="org-1", kind=NOTICE, attempt=1):
    return rt.campaign_ledger.claim(2027, org, kind, email, outbox_id="id", now=now, lease=CLAIM_LEASE,
                                    attempt=attempt)


def test_only_one_claim_wins_while_it_is_fresh(rt):
    assert claim(rt) is True
    assert claim(rt) is False
    assert claim(rt, now=NOW + CLAIM_LEASE - timedelta(seconds=1)) is False


def test_a_stale_claim_is_taken_over(rt):
    assert claim(rt)
    assert claim(rt, now=NOW + CLAIM_LEASE + timedelta(seconds=1), attempt=2) is True
    [entry] = rt.campaign_ledger.for_organisation(2027, "org-1")
    assert entry.state is LedgerState.CLAIMED and entry.attempts == 2


def test_a_message_marked_sent_is_never_claimed_again(rt):
    assert claim(rt)
    rt.campaign_ledger.mark_sent(2027, "org-1", NOTICE, "a@x.example", NOW)
    assert claim(rt, now=NOW + timedelta(days=365)) is False
    [entry] = rt.campaign_ledger.for_organisation(2027, "org-1")
    assert entry.state is LedgerState.SENT and entry.sent_at == NOW


def test_each_kind_and_address_has_its_own_entry(rt):
    assert claim(rt) and claim(rt, kind=MessageKind.NO_REQUEST) and claim(rt, email="b@x.example")
    assert claim(rt, org="org-2")
    assert len(rt.campaign_ledger.for_organisation(2027, "org-1")) == 3
    assert {(e.org_id, e.kind) for e in rt.campaign_ledger.for_season(2027)} == {
        ("org-1", NOTICE), ("org-1", MessageKind.NO_REQUEST), ("org-2", NOTICE)}
    assert rt.campaign_ledger.for_season(2028) == []


def test_runs_are_listed_newest_first_and_stay_out_of_the_message_index(rt):
    for hours in (0, 24):
        rt.campaign_ledger.add_run(CampaignRun(f"r{hours}", 2027, NOW + timedelta(hours=hours), "planification",
                                               (NOTICE, MessageKind.NO_REQUEST), 30, 1))
    runs = rt.campaign_ledger.runs(2027)
    assert [r.run_id for r in runs] == ["r24", "r0"]
    assert runs[0].kinds == (NOTICE, MessageKind.NO_REQUEST) and runs[0].organisations == 30
    assert rt.campaign_ledger.for_season(2027) == []


def test_the_queue_takes_many_messages_and_gives_back_a_released_one(rt):
    queue = rt.campaign_queue
    queue.send_many([f"m{n}" for n in range(23)])
    bodies = []
    while received := queue.receive(max_messages=10):
        for message in received:
            bodies.append(message.body)
            queue.delete(message.receipt)
    assert sorted(bodies) == sorted(f"m{n}" for n in range(23))
    queue.send_many(["again"])
    [message] = queue.receive()
    assert queue.receive() == []
    queue.release(message.receipt)
    assert [m.body for m in queue.receive()] == ["again"]


@pytest.fixture
def association(rt):
    from chalicelib.local.demo import demo_association

    rt.settings.save_association(demo_association())
    rt.forget_cached_settings()


def test_an_email_sent_twice_with_its_own_id_is_stored_and_sent_once(rt, association):
    from chalicelib.domain.model import Contact, Role
    from chalicelib.services import mail

    contact = Contact("c1", "a@x.example", "Anne", Role.CONTACT, "org-1")
    for _ in range(2):
        mail.send_email(rt, kind="test", template="password_changed", recipients=[contact.email],
                        message_id="campagne-fixed", contact=contact, changed_at=NOW)
    assert len(sent_emails()) == 1
    assert rt.outbox.get("campagne-fixed").status == "sent"
