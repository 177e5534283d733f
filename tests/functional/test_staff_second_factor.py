"""Staff second factor (TOTP, RFC 6238): nothing under /admin without it, enrolment by QR code on
a first login, a code works once, recovery codes, guessing limited, and one staff member resetting
another's. Members keep password-only login."""
from __future__ import annotations

import re

import pyotp
import pytest

from chalicelib.domain.model import Contact, Role
from chalicelib.local.demo import DEMO_RECOVERY_CODES, DEMO_TOTP_SECRET
from tests.functional.conftest import MEMBER, STAFF, next_totp_code

VERIFY = "/connexion/verification"


def factor_of(rt, email):
    return rt.contacts.second_factor(rt.contacts.find_by_email(email).contact_id)


def session_cookie(browser) -> str:
    return next(v for k, v in browser.cookies.items() if k.endswith("session"))


@pytest.fixture
def new_staff(rt, demo):
    """A second staff member with a password and no second factor yet."""
    contact = Contact("staff-2", "alex@cite-verte.example", "Alex Roux", Role.STAFF, None,
                      rt.hasher.hash("Une autre phrase de passe 77"))
    rt.contacts.add(contact)
    return contact


def password_only(browser, email=STAFF, password=None):
    kwargs = {"password": password} if password else {}
    response = browser.login(email, second_factor=False, **kwargs)
    assert response.status_code == 303
    assert response.headers["Location"] == f"{VERIFY}?suite=/admin"
    return response


def test_a_staff_password_alone_reaches_no_staff_page(browser, rt):
    password_only(browser)
    for path in ("/admin", "/admin/structures", "/admin/demandes", "/mon-compte/mot-de-passe"):
        response = browser.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"].startswith(f"{VERIFY}?suite=")
    page = browser.get(VERIFY)
    assert browser.post("/admin/equipe", {"name": "X", "email": "x@y.fr"}).status_code == 303
    assert rt.contacts.find_by_email("x@y.fr") is None
    page = browser.get(VERIFY)
    assert page.status_code == 200 and "Code à 6 chiffres" in browser.text()
    assert "<svg" not in browser.text()  # enrolled already: no key shown again


def test_the_right_code_opens_staff_pages_with_a_new_session_id(browser, rt):
    password_only(browser)
    before = session_cookie(browser)
    browser.get(f"{VERIFY}?suite=/admin/structures")
    response = browser.post(VERIFY, {"code": pyotp.TOTP(DEMO_TOTP_SECRET).at(rt.clock()),
                                     "suite": "/admin/structures"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/structures"
    assert session_cookie(browser) != before
    assert browser.get("/admin").status_code == 200
    assert rt.sessions.get(__import__("hashlib").sha256(before.encode()).hexdigest()) is None


def test_a_code_works_once(browser, new_browser, rt):
    code = pyotp.TOTP(DEMO_TOTP_SECRET).at(rt.clock())
    password_only(browser)
    browser.get(VERIFY)
    assert browser.post(VERIFY, {"code": code}).status_code == 303
    other = new_browser()
    password_only(other)
    other.get(VERIFY)
    replay = other.post(VERIFY, {"code": code})
    assert replay.status_code == 400 and "Code incorrect ou déjà utilisé" in other.text()
    assert other.get("/admin").status_code == 303


def test_wrong_codes_are_counted_before_any_check(browser, rt):
    password_only(browser)
    browser.get(VERIFY)
    for wrong in ("000000", "123456", "999999", "abcdef", "111111"):
        if wrong == pyotp.TOTP(DEMO_TOTP_SECRET).at(rt.clock()):
            continue
        assert browser.post(VERIFY, {"code": wrong}).status_code == 400
    right = next_totp_code(rt, factor_of(rt, STAFF))
    assert browser.post(VERIFY, {"code": right}).status_code == 400  # delayed: not even checked
    rt.clock.advance(minutes=1, seconds=1)
    assert browser.post(VERIFY, {"code": next_totp_code(rt, factor_of(rt, STAFF))}).status_code == 303
    events = [e.action for e in rt.audit.in_month(rt.audit.month_of(rt.clock()))]
    assert events.count("second_factor.failure") >= 5 and "second_factor.success" in events


def test_first_login_enrols_by_qr_code_and_shows_ten_recovery_codes_once(browser, rt, new_staff):
    password_only(browser, new_staff.email, "Une autre phrase de passe 77")
    page = browser.get(VERIFY).body.decode()
    assert "Activer le second facteur" in page and "<svg" in page
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page).group(1)
    assert factor_of(rt, new_staff.email).secret == secret and not factor_of(rt, new_staff.email).enrolled
    assert browser.get(VERIFY).body.decode().count(secret[:4]) >= 1  # a reload keeps the same key
    assert re.search(r'data-secret="([A-Z2-7]+)"', browser.last.body.decode()).group(1) == secret
    assert browser.post(VERIFY, {"code": "000000"}).status_code == 400
    assert "Activer le second facteur" in browser.text()
    done = browser.post(VERIFY, {"code": pyotp.TOTP(secret).at(rt.clock())})
    assert done.status_code == 200 and "Vos codes de secours" in browser.text()
    codes = re.findall(r"<code>([A-Z0-9]{5}-[A-Z0-9]{5})</code>", browser.text())
    assert len(codes) == len(set(codes)) == 10
    assert done.headers["Cache-Control"] == "no-store"
    assert "Se déconnecter" in browser.text()  # the page already belongs to the new session,
    codes_page_token = browser.csrf()  # and so do its forms' CSRF tokens
    assert factor_of(rt, new_staff.email).enrolled
    assert browser.get("/admin").status_code == 200
    stored = factor_of(rt, new_staff.email).recovery_hashes
    assert all(code not in str(stored) for code in codes)  # only hashes are stored
    logout = browser.post("/deconnexion", {}, csrf=codes_page_token)
    assert logout.status_code == 303 and logout.headers["Location"] == "/connexion?deconnecte=1"


def test_a_recovery_code_works_once(browser, new_browser, rt):
    password_only(browser)
    browser.get(VERIFY)
    response = browser.post(VERIFY, {"code": DEMO_RECOVERY_CODES[0].lower().replace("-", " ")})
    assert response.status_code == 303 and "code-de-secours" in response.headers["Location"]
    assert "code de secours" in browser.get(response.headers["Location"]).body.decode()
    again = new_browser()
    password_only(again)
    again.get(VERIFY)
    assert again.post(VERIFY, {"code": DEMO_RECOVERY_CODES[0]}).status_code == 400
    assert len(factor_of(rt, STAFF).recovery_hashes) == len(DEMO_RECOVERY_CODES) - 1


def test_a_staff_member_resets_another_ones_second_factor(browser, new_browser, rt, new_staff):
    colleague = new_browser()
    colleague.login(new_staff.email, "Une autre phrase de passe 77")
    assert colleague.get("/admin").status_code == 200 and factor_of(rt, new_staff.email).enrolled
    browser.login(STAFF)
    team = browser.get("/admin/equipe").body.decode()
    assert "Réinitialiser le second facteur" in team
    response = browser.post(f"/admin/contacts/{new_staff.contact_id}/second-facteur", {})
    assert response.status_code == 303 and "fait=second-facteur" in response.headers["Location"]
    assert factor_of(rt, new_staff.email) is None
    assert colleague.get("/admin").status_code == 303  # their sessions ended
    password_only(colleague, new_staff.email, "Une autre phrase de passe 77")
    assert "Activer le second facteur" in colleague.get(VERIFY).body.decode()
    event = next(e for e in rt.audit.in_month(rt.audit.month_of(rt.clock())) if e.action == "second_factor.reset")
    assert event.target == new_staff.email


def test_nobody_resets_their_own_second_factor(browser, rt):
    browser.login(STAFF)
    me = rt.contacts.find_by_email(STAFF).contact_id
    assert browser.post(f"/admin/contacts/{me}/second-facteur", {}).status_code == 403
    assert factor_of(rt, STAFF).enrolled


def test_a_member_cannot_reset_anything_and_logs_in_with_a_password_only(browser, rt):
    response = browser.login(MEMBER)
    assert response.status_code == 303 and response.headers["Location"] == "/mon-compte"
    staff_id = rt.contacts.find_by_email(STAFF).contact_id
    assert browser.post(f"/admin/contacts/{staff_id}/second-facteur", {}).status_code == 403
    assert browser.get(VERIFY).headers["Location"] == "/mon-compte"
