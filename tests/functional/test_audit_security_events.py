"""Security events reach the audit trail, and secrets never do."""
from __future__ import annotations

import json

from chalicelib.adapters.dynamo.audit import AuditTable
from chalicelib.domain.audit import MASK, redact
from tests.conftest import sent_emails
from tests.functional.conftest import MEMBER


def _events():
    return sorted(AuditTable.scan(), key=lambda i: i.sort_key)


def test_login_failure_lockout_success_and_logout_are_recorded(browser):
    for _ in range(5):
        browser.login(MEMBER, "wrong password 123")
    actions = [e.action for e in _events()]
    assert actions.count("login.failure") == 5
    assert "login.locked" in actions


def test_success_and_logout_are_recorded_with_the_contact(browser):
    browser.login(MEMBER)
    browser.get("/mon-compte")
    browser.post("/deconnexion", {})
    events = {e.action: e for e in _events()}
    assert events["login.success"].target == MEMBER
    assert events["logout"].actor == events["login.success"].actor
    assert events["login.success"].org_id == "org-montclair"


def test_denial_is_recorded(browser):
    browser.login(MEMBER)
    browser.get("/admin")
    [denied] = [e for e in _events() if e.action == "access.denied"]
    assert denied.target == "GET /admin"


def test_reset_events_never_store_the_token_or_the_password(browser):
    browser.get("/mot-de-passe-oublie")
    browser.post("/mot-de-passe-oublie", {"email": MEMBER})
    link = next(line for line in sent_emails()[0].text.splitlines() if "jeton=" in line).strip()
    token = link.split("jeton=")[1]
    browser.get(link.replace("https://adhesions.test", ""))
    password = "Quatre chevaux blancs dans la prairie"
    browser.post("/mot-de-passe/nouveau", {"jeton": token, "password": password, "confirmation": password})
    browser.login(MEMBER, password)
    everything = json.dumps([e.attribute_values for e in _events()], default=str)
    assert "password.reset_done" in everything
    assert token not in everything and password not in everything


def test_redact_masks_secret_fields_and_presigned_urls():
    data = {"password": "x", "csrf_token": "y", "url": "https://s3/x?X-Amz-Signature=abc",
            "nested": {"reset_link": "z", "ok": "kept"}, "note": "https://b/x?X-Amz-Signature=1"}
    assert redact(data) == {"password": MASK, "csrf_token": MASK, "url": MASK,
                            "nested": {"reset_link": MASK, "ok": "kept"}, "note": MASK}


def test_anonymous_refusals_are_journaled_up_to_a_limit_per_source(new_browser):
    """Forged forms from one source (the test client's 127.0.0.1) fill no journal: 30 entries per
    15 minutes, then a log line only."""
    from chalicelib.services.auth import DENIALS_JOURNALED_PER_SOURCE

    anonymous = new_browser()
    anonymous.get("/connexion")
    for _ in range(DENIALS_JOURNALED_PER_SOURCE + 15):
        assert anonymous.post("/connexion", {"email": "x@y.fr", "password": "p"}, csrf="0" * 64).status_code == 403
    denied = [e for e in _events() if e.action == "access.denied"]
    assert len(denied) == DENIALS_JOURNALED_PER_SOURCE


def test_one_source_gets_sixty_login_attempts_per_quarter_hour_whatever_the_accounts(new_browser, clock):
    """Password spraying: many accounts, one source. Past the limit even a right password is
    refused, with the same message, and nothing more is journaled."""
    from chalicelib.services.auth import LOGIN_ATTEMPTS_PER_SOURCE

    sprayer = new_browser()
    for n in range(LOGIN_ATTEMPTS_PER_SOURCE):
        assert sprayer.login(f"user{n}@nowhere.example", "Printemps2026!").status_code == 400
    journaled = len([e for e in _events() if e.action == "login.failure"])
    assert new_browser().login(MEMBER).status_code == 400
    assert len([e for e in _events() if e.action == "login.failure"]) == journaled
    clock.advance(minutes=15, seconds=1)
    assert new_browser().login(MEMBER).status_code == 303
