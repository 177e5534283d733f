"""« Mot de passe oublié ? »: a single-use link by email, never a password."""
from __future__ import annotations

import re
import time

import pytest

from chalicelib.local.demo import DEMO_PASSWORD
from chalicelib.services import auth
from tests.conftest import sent_emails
from tests.functional.conftest import MEMBER

NEW_PASSWORD = "Quatre chevaux blancs dans la prairie"


def _request_link(browser, email=MEMBER):
    browser.get("/mot-de-passe-oublie")
    return browser.post("/mot-de-passe-oublie", {"email": email})


def _link_in_last_email() -> str:
    message = sent_emails()[0]
    match = re.search(r"https://adhesions\.test/mot-de-passe/nouveau\?jeton=[\w-]+", message.text)
    assert match, message.text
    assert match.group(0) in message.html
    return match.group(0).removeprefix("https://adhesions.test")


def test_reset_link_is_mailed_with_text_and_html_parts(browser):
    response = _request_link(browser)
    assert response.status_code == 200
    assert "Si un compte existe pour cette adresse" in browser.text()
    [message] = sent_emails()
    assert message.recipients == (MEMBER,)
    assert "mot de passe" in message.subject.lower()
    assert "valable 30 minutes" in message.text
    assert "adherents@cite-verte.example" in message.text  # the association's contact ends every email
    assert "Tilleul" not in message.text  # never a password


def test_unknown_address_gets_the_same_answer_and_no_email(browser):
    _request_link(browser, "personne@inconnu.example")
    unknown_page = browser.text()
    assert "Si un compte existe pour cette adresse" in unknown_page
    assert sent_emails() == []


def test_link_uses_the_configured_base_url_not_the_host_header(browser):
    browser.get("/mot-de-passe-oublie")
    browser.post("/mot-de-passe-oublie", {"email": MEMBER}, headers={"Host": "evil.example"})
    assert "evil.example" not in sent_emails()[0].text


def test_only_a_hash_of_the_token_is_stored(browser, rt):
    from chalicelib.adapters.dynamo.tables import ResetTokenTable

    _request_link(browser)
    token = _link_in_last_email().split("jeton=")[1]
    items = list(ResetTokenTable.scan())
    stored = [item.token_hash for item in items if not item.token_hash.startswith("pending#")]
    assert token not in str([item.attribute_values for item in items])
    assert len(stored) == 1 and len(stored[0]) == 64


def test_new_password_works_and_revokes_sessions_and_notifies(browser, new_browser):
    other_device = new_browser()
    other_device.login(MEMBER)
    assert other_device.get("/mon-compte").status_code == 200
    _request_link(browser)
    link = _link_in_last_email()
    assert browser.get(link).status_code == 200
    assert browser.last.headers["Referrer-Policy"] == "no-referrer"
    token = link.split("jeton=")[1]
    done = browser.post("/mot-de-passe/nouveau", {"jeton": token, "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD})
    assert done.status_code == 303
    assert "Votre mot de passe a été changé" in browser.get(done.headers["Location"]).body.decode()
    assert "Votre mot de passe a été changé" not in browser.get("/connexion").body.decode()
    assert other_device.get("/mon-compte").status_code == 303  # every session revoked
    assert browser.login(MEMBER, NEW_PASSWORD).status_code == 303
    notification = sent_emails()[0]
    assert "a été modifié" in notification.subject
    assert notification.recipients == (MEMBER,)


def test_link_works_only_once(browser):
    _request_link(browser)
    token = _link_in_last_email().split("jeton=")[1]
    form = {"jeton": token, "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    assert browser.post("/mot-de-passe/nouveau", form).status_code == 303
    browser.get("/connexion")
    again = browser.post("/mot-de-passe/nouveau", form)
    assert again.status_code == 400
    assert "n'est plus valable" in browser.text()
    assert browser.get(f"/mot-de-passe/nouveau?jeton={token}").status_code == 400


def test_link_expires_after_thirty_minutes(browser, clock):
    _request_link(browser)
    link = _link_in_last_email()
    clock.advance(minutes=29)
    assert browser.get(link).status_code == 200
    clock.advance(minutes=1)
    assert browser.get(link).status_code == 400
    assert "n'est plus valable" in browser.text()


def test_older_link_dies_when_a_newer_one_is_used(browser, clock):
    _request_link(browser)
    first = _link_in_last_email().split("jeton=")[1]
    clock.advance(seconds=5)
    _request_link(browser)
    second = _link_in_last_email().split("jeton=")[1]
    clock.advance(seconds=5)
    assert browser.post("/mot-de-passe/nouveau", {"jeton": second, "password": NEW_PASSWORD,
                                                  "confirmation": NEW_PASSWORD}).status_code == 303
    browser.get("/connexion")
    response = browser.post("/mot-de-passe/nouveau", {"jeton": first, "password": NEW_PASSWORD + " bis",
                                                      "confirmation": NEW_PASSWORD + " bis"})
    assert response.status_code == 400


def test_forged_token_is_refused(browser):
    assert browser.get("/mot-de-passe/nouveau?jeton=forged").status_code == 400
    assert browser.get("/mot-de-passe/nouveau").status_code == 400


def test_weak_short_or_mismatched_passwords_are_refused_next_to_the_field(browser):
    _request_link(browser)
    link = _link_in_last_email()
    token = link.split("jeton=")[1]
    cases = [
        ("court", "court", "f-password-error", "au moins 12 caractères"),
        ("x" * 129, "x" * 129, "f-password-error", "au plus 128 caractères"),
        ("motdepasse123", "motdepasse123", "f-password-error", "trop courant"),
        ("azertyuiopqsdf", "azertyuiopqsdf", "f-password-error", "trop courant"),
        (NEW_PASSWORD, NEW_PASSWORD + "!", "f-confirmation-error", "pas identiques"),
    ]
    for password, confirmation, field_id, message in cases:
        browser.get(link)
        response = browser.post("/mot-de-passe/nouveau", {"jeton": token, "password": password, "confirmation": confirmation})
        assert response.status_code == 400, password
        assert re.search(f'id="{field_id}">[^<]*{message}', browser.text()), password
    browser.get(link)  # the refused attempts did not consume the link
    assert browser.last.status_code == 200


def test_email_failure_never_loses_the_reset_email(browser, rt, monkeypatch):
    from chalicelib.services import mail

    calls = {"n": 0}
    real_send = rt.mailer.send_raw

    def ses_down(*args, **kwargs):
        calls["n"] += 1
        raise ConnectionError("SES unreachable")

    monkeypatch.setattr(rt.mailer, "send_raw", ses_down)
    response = _request_link(browser)
    assert response.status_code == 200  # same answer for the member
    assert sent_emails() == []
    monkeypatch.setattr(rt.mailer, "send_raw", real_send)
    assert mail.retry_pending_emails(rt) == 0  # not due yet: backoff
    rt.clock.advance(minutes=2)
    assert mail.retry_pending_emails(rt) == 1
    assert mail.retry_pending_emails(rt) == 0
    assert len(sent_emails()) == 1


def test_a_logged_in_contact_changes_their_password_from_mon_compte(browser, new_browser, rt):
    other_device = new_browser()
    other_device.login(MEMBER)
    browser.login(MEMBER)
    assert 'href="/mon-compte/mot-de-passe"' in browser.get("/mon-compte").body.decode()
    browser.get("/mon-compte/mot-de-passe")
    wrong = browser.post("/mon-compte/mot-de-passe", {"current": "pas le bon", "password": NEW_PASSWORD,
                                                       "confirmation": NEW_PASSWORD})
    assert wrong.status_code == 400 and "Le mot de passe actuel est incorrect" in browser.text()
    weak = browser.post("/mon-compte/mot-de-passe", {"current": DEMO_PASSWORD, "password": "azertyuiop12",
                                                      "confirmation": "azertyuiop12"})
    assert weak.status_code == 400
    done = browser.post("/mon-compte/mot-de-passe", {"current": DEMO_PASSWORD, "password": NEW_PASSWORD,
                                                      "confirmation": NEW_PASSWORD})
    assert done.status_code == 303
    assert "Votre mot de passe a été changé" in browser.get(done.headers["Location"]).body.decode()
    assert browser.get("/mon-compte").status_code == 200  # this browser keeps a fresh session
    assert other_device.get("/mon-compte").status_code == 303  # the other device is logged out
    assert any("a été modifié" in m.subject for m in sent_emails() if m.recipients == (MEMBER,))
    assert auth.login(rt, MEMBER, NEW_PASSWORD).contact.email == MEMBER
    with pytest.raises(auth.LoginFailed):
        auth.login(rt, MEMBER, DEMO_PASSWORD)


def test_the_current_password_cannot_be_guessed_through_the_change_form(browser, rt):
    browser.login(MEMBER)
    for i in range(6):
        browser.get("/mon-compte/mot-de-passe")
        browser.post("/mon-compte/mot-de-passe", {"current": f"essai-{i}", "password": NEW_PASSWORD,
                                                  "confirmation": NEW_PASSWORD})
    browser.get("/mon-compte/mot-de-passe")
    refused = browser.post("/mon-compte/mot-de-passe", {"current": DEMO_PASSWORD, "password": NEW_PASSWORD,
                                                         "confirmation": NEW_PASSWORD})
    assert refused.status_code == 400  # the window is full: even the right password is not checked


def test_at_most_three_links_per_address_per_hour_and_the_same_answer(browser, rt, clock):
    for _ in range(5):
        browser.get("/mot-de-passe-oublie")
        response = browser.post("/mot-de-passe-oublie", {"email": MEMBER})
        assert response.status_code == 200 and "Si un compte existe" in browser.text()
        clock.advance(minutes=1)
    assert len([m for m in sent_emails() if m.recipients == (MEMBER,)]) == 3
    clock.advance(hours=1)
    browser.get("/mot-de-passe-oublie")
    browser.post("/mot-de-passe-oublie", {"email": MEMBER})
    assert len([m for m in sent_emails() if m.recipients == (MEMBER,)]) == 4


def test_one_source_cannot_flood_many_addresses(rt, demo):
    for i in range(25):
        auth.request_password_reset(rt, f"inconnu-{i}@example.org", source_ip="203.0.113.9")
    auth.request_password_reset(rt, MEMBER, source_ip="203.0.113.9")  # over the source's limit: nothing sent
    assert [m for m in sent_emails() if m.recipients == (MEMBER,)] == []
    auth.request_password_reset(rt, MEMBER, source_ip="198.51.100.4")
    assert len([m for m in sent_emails() if m.recipients == (MEMBER,)]) == 1


# --- the same answer in the same time: the work is a task, done after the answer ------------

def _links_mailed() -> list[str]:
    return [re.search(r"jeton=([\w-]+)", m.text).group(1) for m in sent_emails() if "jeton=" in m.text]


def test_a_repeated_request_mails_the_pending_link_again_rather_than_a_new_one(browser, clock):
    _request_link(browser)
    clock.advance(minutes=5)
    _request_link(browser)
    first, second = _links_mailed()
    assert first == second
    ids = {m.message_id for m in sent_emails()}
    assert len(ids) == 2  # a new Message-ID: mail clients show it, not hide it as a duplicate


def test_a_used_or_nearly_expired_link_is_not_mailed_again(browser, clock):
    _request_link(browser)
    browser.get(_link_in_last_email())
    token = _links_mailed()[0]
    browser.post("/mot-de-passe/nouveau", {"jeton": token, "password": NEW_PASSWORD, "confirmation": NEW_PASSWORD})
    _request_link(browser)
    assert len(set(_links_mailed())) == 2  # the used link is not sent again
    clock.advance(minutes=21)  # 9 minutes left on the second link: a fresh one
    _request_link(browser)
    assert len(set(_links_mailed())) == 3


def test_the_request_only_queues_a_task_whatever_the_address(browser, rt, monkeypatch):
    """Known and unknown addresses cost the request the same work: two rate-limit writes and one
    queued task. Nothing looks the address up before the answer; the consumer does it."""
    from dataclasses import replace

    from chalicelib.services import tasks

    monkeypatch.setattr(rt, "config", replace(rt.config, tasks_inline=False))
    looked_up = []
    real_find = rt.contacts.find_by_email
    monkeypatch.setattr(rt.contacts, "find_by_email", lambda email: looked_up.append(email) or real_find(email))
    for email in (MEMBER, "personne@inconnu.example"):
        assert _request_link(browser, email).status_code == 200
    assert looked_up == [] and sent_emails() == []
    bodies = [m.body for m in rt.task_queue.receive(max_messages=10)]
    assert sorted(tasks.Task.loads(b).args["email"] for b in bodies) == sorted([MEMBER, "personne@inconnu.example"])
    for body in bodies:
        tasks.process(rt, body)
    assert [m.recipients for m in sent_emails()] == [(MEMBER,)]


def test_the_task_lambda_mails_the_link(client, rt, monkeypatch, demo):
    from dataclasses import replace

    monkeypatch.setattr(rt, "config", replace(rt.config, tasks_inline=False))
    auth.request_password_reset(rt, MEMBER)
    [received] = rt.task_queue.receive()
    event = client.events.generate_sqs_event([received.body], queue_name=rt.config.tasks_queue)
    assert client.lambda_.invoke("process_task", event).payload == [{"task": "password_reset"}]
    assert [m.recipients for m in sent_emails()] == [(MEMBER,)]


def test_a_failing_task_stays_queued_for_another_delivery(rt, monkeypatch, demo):
    from dataclasses import replace

    from chalicelib.services import tasks

    monkeypatch.setattr(rt, "config", replace(rt.config, tasks_inline=False))
    auth.request_password_reset(rt, MEMBER)
    real_add = rt.reset_tokens.add

    def down(token):
        raise ConnectionError("DynamoDB unreachable")

    monkeypatch.setattr(rt.reset_tokens, "add", down)
    assert tasks.drain(rt, visibility_seconds=1) == 0 and sent_emails() == []
    monkeypatch.setattr(rt.reset_tokens, "add", real_add)
    assert tasks.drain(rt) == 0  # hidden for a second, as SQS hides a message a consumer failed on
    time.sleep(1.2)
    assert tasks.drain(rt) == 1
    assert [m.recipients for m in sent_emails()] == [(MEMBER,)]
