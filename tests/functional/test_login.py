"""« Espace personnel »: login, lockout, sessions and logout through the app."""
from __future__ import annotations

import re
import threading

import pytest

from tests.functional.conftest import MEMBER, STAFF

GENERIC = "Adresse e-mail ou mot de passe incorrect, ou compte temporairement bloqué."


def test_every_page_offers_espace_personnel_top_right(browser):
    page = browser.get("/")
    assert page.status_code == 200
    assert 'href="/connexion">Espace personnel</a>' in browser.text()


def test_login_form_has_csrf_token_and_forgot_password_link(browser):
    browser.get("/connexion")
    html = browser.text()
    assert 'name="csrf_token"' in html
    assert "Mot de passe oublié ?" in html
    assert '<label for="f-email">Adresse e-mail</label>' in html


def test_member_logs_in_and_lands_on_mon_compte(browser):
    response = browser.login(MEMBER)
    assert response.status_code == 303
    assert response.headers["Location"] == "/mon-compte"
    page = browser.get("/mon-compte")
    assert page.status_code == 200
    assert "Ville de Montclair" in browser.text()
    assert "Mes adhésions" in browser.text()


def test_session_cookie_is_httponly_and_samesite_lax(browser):
    response = browser.login(MEMBER)
    cookie = response.headers["Set-Cookie"]
    cookie = cookie if isinstance(cookie, str) else ",".join(cookie)
    assert re.search(r"session=[^;]+; Path=/; HttpOnly; SameSite=Lax", cookie)


def test_login_issues_a_new_session_id_each_time(browser):
    browser.login(MEMBER)
    first = browser.cookies["session"]
    browser.login(MEMBER)
    second = browser.cookies["session"]
    assert first != second
    browser.cookies["session"] = first
    assert browser.get("/mon-compte").status_code == 303  # the earlier session is gone


def test_wrong_password_gets_the_generic_message(browser):
    response = browser.login(MEMBER, "not the password at all")
    assert response.status_code == 400
    assert GENERIC in browser.text()
    assert "session" not in browser.cookies


def test_unknown_email_is_answered_like_a_known_one(browser, new_browser):
    known = browser.login(MEMBER, "wrong password 123")
    other = new_browser()
    unknown = other.login("nobody@nowhere.example", "wrong password 123")
    assert known.status_code == unknown.status_code == 400
    strip = lambda html: re.sub(r'value="[^"]*"', "", html)  # noqa: E731
    assert strip(browser.text()).replace(MEMBER, "") == strip(other.text()).replace("nobody@nowhere.example", "")


def test_five_failures_delay_the_email_one_minute_then_twice_as_long_each_time(browser, clock):
    for _ in range(5):
        assert browser.login(MEMBER, "wrong password 123").status_code == 400
    locked = browser.login(MEMBER)  # right password, but delayed
    assert locked.status_code == 400
    assert GENERIC in browser.text()
    clock.advance(seconds=59)
    assert browser.login(MEMBER).status_code == 400
    clock.advance(seconds=2)
    for _ in range(5):  # five more failures in a row: two minutes this time
        assert browser.login(MEMBER, "wrong password 123").status_code == 400
    clock.advance(minutes=1, seconds=59)
    assert browser.login(MEMBER).status_code == 400
    clock.advance(seconds=2)
    assert browser.login(MEMBER).status_code == 303


def test_a_reset_link_lets_the_holder_in_whoever_delays_the_account(browser, new_browser, clock):
    """Anyone can make an account wait by failing on purpose; « Mot de passe oublié » clears it."""
    attacker = new_browser()
    for _ in range(25):
        attacker.login(MEMBER, "wrong password 123")
    assert browser.login(MEMBER).status_code == 400
    from chalicelib.services.auth import request_password_reset, reset_password
    from tests.conftest import sent_emails
    request_password_reset(browser._rt, MEMBER)
    link = [m for m in sent_emails() if MEMBER in m.recipients][-1].text
    token = re.search(r"jeton=([\w-]+)", link).group(1)
    reset_password(browser._rt, token, "Une phrase de passe toute neuve 42", "Une phrase de passe toute neuve 42")
    assert browser.login(MEMBER, "Une phrase de passe toute neuve 42").status_code == 303


def test_failures_older_than_fifteen_minutes_do_not_count(browser, clock):
    for _ in range(4):
        browser.login(MEMBER, "wrong password 123")
    clock.advance(minutes=16)
    browser.login(MEMBER, "wrong password 123")
    assert browser.login(MEMBER).status_code == 303


def test_lockout_is_per_email(browser, new_browser):
    for _ in range(5):
        browser.login(MEMBER, "wrong password 123")
    other = new_browser()
    assert other.login(STAFF).status_code == 303


def test_session_expires_after_thirty_idle_minutes(browser, clock):
    browser.login(MEMBER)
    clock.advance(minutes=29)
    assert browser.get("/mon-compte").status_code == 200
    clock.advance(minutes=29)  # activity refreshed the idle timer
    assert browser.get("/mon-compte").status_code == 200
    clock.advance(minutes=30)
    response = browser.get("/mon-compte")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/connexion")


def test_session_ends_after_twelve_hours_even_when_active(browser, clock):
    browser.login(MEMBER)
    for _ in range(24):
        clock.advance(minutes=29)
        browser.get("/mon-compte/adhesions")
    clock.advance(minutes=25)  # 12 h 01 after login
    assert browser.get("/mon-compte").status_code == 303


def test_logout_revokes_the_session_on_the_server(browser):
    browser.login(MEMBER)
    token = browser.cookies["session"]
    browser.get("/mon-compte")
    response = browser.post("/deconnexion", {})
    assert response.status_code == 303
    browser.cookies["session"] = token  # replaying the old cookie does not work
    assert browser.get("/mon-compte").status_code == 303


def test_login_redirects_back_to_the_page_asked_for(browser):
    response = browser.get("/mon-compte/adhesions")
    assert response.headers["Location"] == "/connexion?suite=/mon-compte/adhesions"
    browser.get(response.headers["Location"])
    assert 'name="suite" value="/mon-compte/adhesions"' in browser.text()
    done = browser.post("/connexion", {"email": MEMBER, "password": __import__("chalicelib.local.demo", fromlist=["x"]).DEMO_PASSWORD,
                                       "suite": "/mon-compte/adhesions"})
    assert done.headers["Location"] == "/mon-compte/adhesions"


def test_login_never_redirects_off_site(browser):
    from chalicelib.local.demo import DEMO_PASSWORD

    browser.get("/connexion")
    done = browser.post("/connexion", {"email": MEMBER, "password": DEMO_PASSWORD, "suite": "//evil.example/x"})
    assert done.headers["Location"] == "/mon-compte"


def test_staff_lands_on_admin_and_members_get_403_there(browser, new_browser):
    assert browser.login(STAFF).headers["Location"] == "/admin"
    assert browser.get("/admin").status_code == 200
    member = new_browser()
    member.login(MEMBER)
    assert member.get("/admin").status_code == 403
    assert "réservée à l'équipe" in member.text()


def test_anonymous_visitor_is_sent_to_login_from_admin(browser):
    response = browser.get("/admin")
    assert response.status_code == 303
    assert response.headers["Location"] == "/connexion?suite=/admin"


def test_staff_has_no_member_pages(browser):
    browser.login(STAFF)
    assert browser.get("/mon-compte").status_code == 403


def test_a_burst_of_twenty_logins_checks_at_most_five_passwords(rt, demo):
    """The attempt is counted atomically before the password is checked: of 20 guesses arriving
    at once, at most 5 are evaluated, and a right one beyond them does not log in."""
    from chalicelib.services import auth

    real_verify, checked = rt.hasher.verify, []
    account_hash = rt.contacts.find_by_email("m.lefevre@montclair.example").password_hash

    def counting_verify(password_hash, password):
        if password_hash == account_hash:  # a guess evaluated against the account (not the dummy check)
            checked.append(password)
        return real_verify(password_hash, password)

    rt.hasher.verify = counting_verify
    guesses = [f"mauvais-mot-de-passe-{i}" for i in range(20)]
    barrier, outcomes = threading.Barrier(len(guesses)), []

    def attempt(password):
        barrier.wait()
        try:
            auth.login(rt, "m.lefevre@montclair.example", password)
            outcomes.append(("ok", password))
        except auth.LoginFailed:
            outcomes.append(("refused", password))

    threads = [threading.Thread(target=attempt, args=(g,)) for g in guesses]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 20 and {result for result, _ in outcomes} == {"refused"}
    assert 1 <= len(checked) <= 5
    # the window is full: the right password, guessed next, is not even checked
    with pytest.raises(auth.LoginFailed):
        auth.login(rt, "m.lefevre@montclair.example", "Tilleul-Platane-Erable-2026")
    assert "Tilleul-Platane-Erable-2026" not in checked
