"""CSRF on every POST form, and malformed requests answered in French with a 4xx."""
from __future__ import annotations

import pytest

from chalicelib.local.demo import DEMO_PASSWORD
from tests.functional.conftest import MEMBER

POST_FORMS = ["/connexion", "/mot-de-passe-oublie", "/mot-de-passe/nouveau", "/deconnexion"]


@pytest.mark.parametrize("path", POST_FORMS)
def test_post_without_csrf_token_is_refused(browser, path):
    browser.get("/connexion")
    response = browser.post(path, {"email": MEMBER, "password": DEMO_PASSWORD}, csrf=False)
    assert response.status_code == 403
    assert "Le formulaire a expiré" in browser.text()


@pytest.mark.parametrize("path", POST_FORMS)
def test_post_with_wrong_csrf_token_is_refused(browser, path):
    browser.get("/connexion")
    response = browser.post(path, {"email": MEMBER, "password": DEMO_PASSWORD}, csrf="0" * 64)
    assert response.status_code == 403


def test_csrf_token_of_another_visitor_is_refused(browser, new_browser):
    other = new_browser()
    other.get("/connexion")
    stolen = other.csrf()
    browser.get("/connexion")
    assert browser.post("/connexion", {"email": MEMBER, "password": DEMO_PASSWORD}, csrf=stolen).status_code == 403


def test_anonymous_csrf_token_stops_working_once_logged_in(browser):
    browser.get("/connexion")
    anonymous_token = browser.csrf()
    browser.post("/connexion", {"email": MEMBER, "password": DEMO_PASSWORD}, csrf=anonymous_token)
    assert browser.post("/deconnexion", {}, csrf=anonymous_token).status_code == 403


def test_missing_fields_get_messages_next_to_the_fields(browser):
    browser.get("/connexion")
    response = browser.post("/connexion", {})
    assert response.status_code == 400
    html = browser.text()
    assert 'id="f-email-error">Indiquez votre adresse e-mail.' in html
    assert 'id="f-password-error">Indiquez votre mot de passe.' in html
    assert 'aria-invalid="true"' in html


def test_ten_kilobyte_value_is_refused_in_french(browser):
    browser.get("/connexion")
    response = browser.post("/connexion", {"email": "a" * 10_000 + "@x.fr", "password": "x"})
    assert response.status_code == 400
    assert "Ce champ est trop long" in browser.text()


def test_oversized_body_is_refused(browser):
    browser.get("/connexion")
    response = browser.post("/connexion", {"email": "x" * 70_000, "password": "x"})
    assert response.status_code == 413
    assert "trop volumineuses" in browser.text()


def test_invalid_utf8_is_refused_in_french(browser):
    browser.get("/connexion")
    token = browser.csrf()
    response = browser.post("/connexion", f"csrf_token={token}&email=%FF%FE&password=x")
    assert response.status_code == 400
    assert "UTF-8" in browser.text()


def test_raw_invalid_utf8_bytes_are_refused_in_french(browser):
    browser.get("/connexion")
    response = browser.post("/connexion", b"email=\xff\xfe&password=x")
    assert response.status_code == 400
    assert "UTF-8" in browser.text()


def test_wrong_content_type_is_refused_in_french(browser):
    browser.get("/connexion")
    response = browser.post("/connexion", '{"email": "x"}', headers={"Content-Type": "application/json"})
    assert response.status_code == 415
    assert "Type de contenu non accepté" in browser.text()
    assert response.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/nimporte-quoi", "/a/b", "/mon-compte/x/y/z", "/static/../app.py", "/static/nope.css"])
def test_unknown_routes_get_a_french_404(browser, path):
    response = browser.get(path)
    assert response.status_code == 404
    assert "introuvable" in browser.text() or "n'existe pas" in browser.text()


def test_wrong_method_gets_a_french_405(browser):
    response = browser.client.http.request("DELETE", "/connexion")
    assert response.status_code == 405
    assert "méthode" in response.body.decode()


def test_garbage_cookie_header_is_ignored(browser):
    response = browser.get("/mon-compte", headers={"Cookie": '"\\x00;;==session'})
    assert response.status_code == 303


def test_security_headers_on_every_page(browser):
    browser.login(MEMBER)
    for path in ["/", "/connexion", "/mon-compte", "/mon-compte/adhesions", "/inconnue"]:
        headers = browser.get(path).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "unsafe-inline" not in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store"
