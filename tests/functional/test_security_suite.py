"""The security suite, driven by the app's own route table so that every new route is covered.

- authorization matrix: anonymous, contact of organisation A, contact of organisation B, staff;
- CSRF on every POST route;
- response headers on every page;
- property-based fuzzing of every POST route: never a 500.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import app
from tests.functional.conftest import MEMBER, MEMBER_B, STAFF, Browser

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
CATCH_ALL = re.compile(r"^(/\{p\d\})+$")
PUBLIC = {"/", "/connexion", "/mot-de-passe-oublie", "/mot-de-passe/nouveau", "/static/{name}",
          "/deconnexion", "/_dev/courriels", "/_dev/courriels/{message_id}", "/_dev/courriels/{message_id}/pj/{index}",
          "/_dev/taches", "/_dev/chorus", "/connexion/verification"}


ANY_ACCOUNT = {"/mon-compte/mot-de-passe"}  # any logged-in account, member or staff


def kind_of(path: str) -> str:
    if CATCH_ALL.match(path):
        return "catch_all"
    if path.startswith("/admin"):
        return "staff"
    if path in ANY_ACCOUNT:
        return "account"
    if path.startswith("/mon-compte"):
        return "member"
    if path in PUBLIC:
        return "public"
    raise AssertionError(f"classify the new route {path} in the security suite")


ROUTES = sorted((path, method) for path, methods in app.routes.items() for method in methods
                if not CATCH_ALL.match(path))
GET_ROUTES = [p for p, m in ROUTES if m == "GET"]
POST_ROUTES = [p for p, m in ROUTES if m == "POST"]
FIELD_NAMES = sorted({n for f in TEMPLATES.rglob("*.html") for n in re.findall(r'name="([a-z_]+)"', f.read_text())})


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "inconnu", path)


def test_every_route_is_classified():
    for path, _ in ROUTES:
        kind_of(path)


@pytest.fixture
def users(client, demo):
    made = {}
    for name, email in (("anonymous", None), ("member_a", MEMBER), ("member_b", MEMBER_B), ("staff", STAFF),
                        ("staff_password_only", STAFF)):
        browser = Browser(client)
        if email:
            assert browser.login(email, second_factor=name != "staff_password_only").status_code == 303
        else:
            browser.get("/connexion")
        made[name] = browser
    return made


@pytest.mark.parametrize("path", GET_ROUTES)
def test_authorization_matrix_for_every_get_route(users, path):
    kind = kind_of(path)
    url = concrete(path) if "{" in path else path
    for who, browser in users.items():
        status = browser.get(url).status_code
        assert status < 500, (who, path, status)
        if who == "staff_password_only" and kind != "public":  # staff without their second factor
            expected = {303}
        elif kind == "staff":
            expected = {"anonymous": {303}, "member_a": {403}, "member_b": {403}, "staff": {200, 404}}[who]
        elif kind == "account":
            expected = {"anonymous": {303}, "member_a": {200}, "member_b": {200}, "staff": {200}}[who]
        elif kind == "member":
            expected = {"anonymous": {303}, "member_a": {200, 303, 404}, "member_b": {200, 303, 404},
                        "staff": {403}}[who]
        else:
            expected = {200, 303, 400, 404}
        assert status in expected, (who, path, status)
        if status == 303 and who == "anonymous":
            assert browser.last.headers["Location"].startswith("/connexion")
        if who == "staff_password_only" and kind != "public":
            assert browser.last.headers["Location"].startswith("/connexion/verification?suite=")


@pytest.mark.parametrize("path", POST_ROUTES)
def test_every_post_route_refuses_a_missing_or_wrong_csrf_token(users, path):
    for who, browser in users.items():
        for token in (False, "0" * 64):
            status = browser.post(concrete(path), {"email": MEMBER}, csrf=token).status_code
            assert status in (303, 403), (who, path, token, status)
            if status == 303:  # only an anonymous visitor may be sent to log in first (or staff to
                # give their second factor)
                assert who in ("anonymous", "staff_password_only"), (who, path)
                assert browser.last.headers["Location"].startswith("/connexion")


@pytest.mark.parametrize("path", GET_ROUTES)
def test_security_headers_on_every_page(users, path):
    for browser in users.values():
        headers = browser.get(concrete(path)).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] in ("same-origin", "no-referrer")
        if not path.startswith("/static"):
            assert headers["Cache-Control"] == "no-store"


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
form_strategy = st.dictionaries(st.sampled_from(FIELD_NAMES + ["x", ""]), text, max_size=12)
body_strategy = st.one_of(form_strategy, st.binary(max_size=2000))


@pytest.mark.parametrize("who", ["anonymous", "member_a", "staff"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(POST_ROUTES), body=body_strategy, with_token=st.booleans())
def test_fuzzed_forms_never_get_a_500(users, who, route, body, with_token):
    browser = users[who]
    if isinstance(body, dict):
        response = browser.post(concrete(route), body, csrf=True if with_token else False)
    else:
        response = browser.post(concrete(route), body)
    assert response.status_code < 500, (route, body, response.body[:500])
    if users[who].logged_in is False and who != "anonymous":  # a fuzzed logout: log in again
        users[who].login({"member_a": MEMBER, "staff": STAFF}[who])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80))
def test_fuzzed_paths_never_get_a_500(users, path):
    from urllib.parse import quote

    response = users["member_a"].get("/" + quote(path, safe="/"))
    assert response.status_code < 500, path
