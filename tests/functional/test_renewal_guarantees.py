"""What must hold whatever happens: one open request per season, no email lost or doubled,
no membership extended by a pending request."""
from __future__ import annotations

import sys

import pytest

from chalicelib.domain.errors import ConcurrentUpdate
from chalicelib.domain.model import MembershipStatus
from chalicelib.domain.renewal import InvalidTransition, RequestState
from chalicelib.services import mail, renewal
from tests.conftest import at_once, sent_emails
from tests.functional.conftest import MEMBER, STAFF
from tests.functional.renewal_support import FORM, MEMBER_2, MEMBERSHIPS, answers

MONTCLAIR = "org-montclair"



def contact_id(rt, email: str) -> str:
    return rt.contacts.find_by_email(email).contact_id


def test_contacts_submitting_at_once_make_exactly_one_request(rt, demo, campaign_open):
    contacts = [contact_id(rt, e) for e in (MEMBER, MEMBER_2, "a.benali@montclair.example")]
    outcomes = at_once(*[lambda i=i: renewal.submit_renewal_request(
        rt, MONTCLAIR, contacts[i % 3], answers(payment_method=("virement", "cheque")[i % 2])) for i in range(8)])
    results = [o for o in outcomes if not isinstance(o, Exception)]
    assert results == outcomes  # no error
    [stored] = rt.renewals.for_organisation(MONTCLAIR)
    assert sum(r.created for r in results) == 1
    assert {(r.request.year, r.request.attempt, r.request.submitted_by) for r in results} == {
        (2027, 1, stored.submitted_by)}
    assert len([m for m in sent_emails() if m.recipients == (STAFF,)]) == 1


def test_submitting_at_once_stays_one_request_with_thread_switches_at_every_step(rt, demo, campaign_open):
    """The same race, rerun with the interpreter switching threads as often as it can: between
    the read of the season and the conditional write, and inside the stand-in's own write.
    Exactly one submitter creates the request each time; the others get it back."""
    contacts = [contact_id(rt, e) for e in (MEMBER, MEMBER_2, "a.benali@montclair.example")]
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for round_no in range(4):
            results = at_once(*[lambda i=i: renewal.submit_renewal_request(rt, MONTCLAIR, contacts[i % 3], answers())
                                for i in range(6)])
            assert not [r for r in results if isinstance(r, Exception)]
            assert sum(r.created for r in results) == 1, f"round {round_no}"
            stored = rt.renewals.latest(MONTCLAIR, 2027)
            assert {(r.request.attempt, r.request.submitted_by) for r in results} == {(stored.attempt, stored.submitted_by)}
            renewal.cancel_request(rt, MONTCLAIR, 2027, cancelled_by="staff", reason="nouvel essai")
    finally:
        sys.setswitchinterval(previous)
    assert len(rt.renewals.for_organisation(MONTCLAIR)) == 4


def test_a_cancelled_request_lets_the_organisation_submit_again(rt, demo, campaign_open, browser):
    first = renewal.submit_renewal_request(rt, MONTCLAIR, contact_id(rt, MEMBER), answers()).request
    renewal.cancel_request(rt, MONTCLAIR, 2027, cancelled_by="staff", reason="Doublon papier")
    browser.login(MEMBER_2)
    browser.get(MEMBERSHIPS)
    assert "a été annulée" in browser.text()
    assert f'href="{FORM}"' in browser.text()
    browser.get(FORM)
    response = browser.post(FORM, answers(wait_for_purchase_order="no", purchase_order_number="EJ-1"))
    assert response.headers["Location"].endswith("?enregistree=1")
    second, again = rt.renewals.latest(MONTCLAIR, 2027), rt.renewals.get(MONTCLAIR, 2027, 1)
    assert (second.attempt, second.state, second.submitted_by_name) == (2, RequestState.INVOICED,
                                                                         "Sophie Garnier")
    assert again.state is RequestState.CANCELLED and again.submitted_at == first.submitted_at
    assert len(rt.renewals.for_organisation(MONTCLAIR)) == 2


def test_ses_down_then_back_the_request_exists_and_each_email_is_sent_once(rt, demo, campaign_open,
                                                                          browser, monkeypatch):
    real_send = rt.mailer.send_raw

    def ses_down(*args, **kwargs):
        raise ConnectionError("SES unreachable")

    monkeypatch.setattr(rt.mailer, "send_raw", ses_down)
    browser.login(MEMBER)
    browser.get(FORM)
    response = browser.post(FORM, answers())
    assert response.status_code == 303 and response.headers["Location"].endswith("?enregistree=1")
    assert rt.renewals.latest(MONTCLAIR, 2027) is not None
    assert sent_emails() == []

    monkeypatch.setattr(rt.mailer, "send_raw", real_send)
    assert mail.retry_pending_emails(rt) == 0  # not due yet: backoff
    rt.clock.advance(minutes=2)
    assert mail.retry_pending_emails(rt) == 4  # confirmation, two copies, staff
    rt.clock.advance(minutes=30)
    assert mail.retry_pending_emails(rt) == 0
    recipients = sorted(m.recipients[0] for m in sent_emails())
    assert recipients == sorted([MEMBER, MEMBER_2, "a.benali@montclair.example", STAFF])


def test_the_membership_is_never_extended_by_the_request(rt, demo, campaign_open):
    before = rt.memberships.for_organisation(MONTCLAIR)
    renewal.submit_renewal_request(rt, MONTCLAIR, contact_id(rt, MEMBER), answers(
        tier_choice="change", requested_tier="COL-4", tier_comment="52 000 habitants"))
    renewal.decide_tier(rt, MONTCLAIR, 2027, "COL-4", decided_by="staff")
    invoiced = renewal.record_purchase_order(rt, MONTCLAIR, 2027, actor_id=contact_id(rt, MEMBER), number="EJ-5")
    assert invoiced.state is RequestState.INVOICED
    assert rt.memberships.for_organisation(MONTCLAIR) == before
    assert all(m.year != 2027 for m in before)
    assert {m.status for m in before} <= set(MembershipStatus)


def test_staff_decisions_and_invoicing_follow_the_state_machine(rt, demo, campaign_open):
    renewal.submit_renewal_request(rt, MONTCLAIR, contact_id(rt, MEMBER), answers(
        tier_choice="change", requested_tier="COL-4", tier_comment="52 000 habitants"))
    with pytest.raises(InvalidTransition):
        renewal.mark_invoiced(rt, MONTCLAIR, 2027, "FAC-2027-00001")  # the tier is not settled
    refused = renewal.decide_tier(rt, MONTCLAIR, 2027, "COL-3", decided_by="staff", note="Population 2026 : 48 000")
    assert refused.state is RequestState.AWAITING_PURCHASE_ORDER  # the member asked us to wait
    assert (refused.tier_code, refused.amount) == ("COL-3", 742)
    decision_mail = next(m for m in sent_emails() if "Votre tranche tarifaire 2027" in m.subject)
    assert "non retenue" in decision_mail.subject and "Population 2026 : 48 000" in decision_mail.text
    # the PO was the last thing missing: the invoice is issued at once (dated 1 December 2026)
    invoiced = renewal.record_purchase_order(rt, MONTCLAIR, 2027, actor_id="staff", number="EJ-8", by_staff=True)
    assert invoiced.state is RequestState.INVOICED and invoiced.invoice_number == "FAC-2026-00001"
    invoice = rt.documents.by_number("FAC-2026-00001")
    assert (invoice.org_id, invoice.year, invoice.total) == (MONTCLAIR, 2027, 742)
    assert invoice.content.po_number == "EJ-8"
    assert renewal.mark_invoiced(rt, MONTCLAIR, 2027, "FAC-2026-00001") == invoiced  # idempotent
    with pytest.raises(InvalidTransition):
        renewal.mark_invoiced(rt, MONTCLAIR, 2027, "FAC-2026-00002")
    assert renewal.requests_ready_to_invoice(rt, 2027) == []
    assert [e.action for e in invoiced.history] == ["submitted", "tier_refused", "purchase_order_received",
                                                    "invoice_issued"]


def test_a_tier_decision_outside_the_category_is_refused(rt, demo, campaign_open):
    renewal.submit_renewal_request(rt, MONTCLAIR, contact_id(rt, MEMBER), answers(
        tier_choice="change", requested_tier="COL-4", tier_comment="52 000 habitants"))
    for code in ("ENT-2", "NOPE"):
        with pytest.raises(Exception) as raised:
            renewal.decide_tier(rt, MONTCLAIR, 2027, code, decided_by="staff")
        assert "tier_code" in raised.value.errors
    assert rt.renewals.latest(MONTCLAIR, 2027).state is RequestState.TIER_DECISION_PENDING


def test_a_change_on_stale_data_is_retried_not_lost(rt, demo, campaign_open, monkeypatch):
    renewal.submit_renewal_request(rt, MONTCLAIR, contact_id(rt, MEMBER), answers())
    real_update, calls = rt.renewals.update, {"n": 0}

    def first_update_loses_the_race(request, **effects):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConcurrentUpdate()
        return real_update(request, **effects)

    monkeypatch.setattr(rt.renewals, "update", first_update_loses_the_race)
    after = renewal.record_purchase_order(rt, MONTCLAIR, 2027, actor_id="x", number="EJ-1")
    # the PO update is retried once, then the automatic invoice moves the request on
    assert calls["n"] == 3 and after.state is RequestState.INVOICED


def test_an_invoice_that_could_not_be_issued_is_caught_up_by_the_scheduled_function(rt, demo, campaign_open,
                                                                                   monkeypatch):
    from chalice.test import Client

    import app as application

    real_put = rt.storage.put

    def s3_down(*args, **kwargs):
        raise ConnectionError("S3 unreachable")

    monkeypatch.setattr(rt.storage, "put", s3_down)
    result = renewal.submit_renewal_request(rt, MONTCLAIR, contact_id(rt, MEMBER), answers(
        wait_for_purchase_order="no", purchase_order_number="EJ-1"))
    assert result.created and result.request.state is RequestState.READY_TO_INVOICE  # saved all the same
    assert rt.documents.for_organisation(MONTCLAIR) == []  # no record without its PDF, no number taken
    monkeypatch.setattr(rt.storage, "put", real_put)

    with Client(application.app) as client:
        event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                                resources=["arn:aws:events:eu-west-3:123456789012:rule/x"])
        assert client.lambda_.invoke("issue_pending_invoices", event).payload["invoiced"] == 1
        assert client.lambda_.invoke("issue_pending_invoices", event).payload["invoiced"] == 0
    request = rt.renewals.latest(MONTCLAIR, 2027)
    assert request.state is RequestState.INVOICED and request.invoice_number == "FAC-2026-00001"
    notices = [m for m in sent_emails() if "facture" in m.subject.lower() and "disponible" in m.subject.lower()]
    assert sorted(m.recipients[0] for m in notices) == sorted(
        c.email for c in rt.contacts.for_organisation(MONTCLAIR) if c.active)


def test_a_crash_after_the_invoice_is_issued_gives_the_same_invoice_and_one_email(rt, demo, campaign_open,
                                                                                  monkeypatch):
    real = renewal.mark_invoiced
    crashes = {"n": 0}

    def crash_once(*args, **kwargs):
        if crashes["n"] == 0:
            crashes["n"] += 1
            raise RuntimeError("Lambda timed out")
        return real(*args, **kwargs)

    monkeypatch.setattr(renewal, "mark_invoiced", crash_once)
    renewal.submit_renewal_request(rt, MONTCLAIR, contact_id(rt, MEMBER), answers(
        wait_for_purchase_order="no", purchase_order_number="EJ-1"))
    assert rt.renewals.latest(MONTCLAIR, 2027).state is RequestState.READY_TO_INVOICE
    assert renewal.issue_pending_invoices(rt) == 1
    [invoice] = [d for d in rt.documents.for_organisation(MONTCLAIR) if d.kind.value == "invoice"]
    assert rt.renewals.latest(MONTCLAIR, 2027).invoice_number == invoice.number
    notices = [m for m in sent_emails() if "disponible" in m.subject.lower()]
    assert len(notices) == len({m.recipients for m in notices})  # one per contact, none twice
