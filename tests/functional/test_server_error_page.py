"""An unexpected failure gets a French 500 page that says nothing already saved is lost, to try
again, how to reach the association, and a reference staff can find in the function's log."""
from __future__ import annotations

import logging


def _fail(*args, **kwargs):
    raise RuntimeError("DynamoDB unreachable (simulated)")


def test_a_failure_inside_a_page_gets_the_french_500_with_a_reference(browser, rt, monkeypatch, caplog):
    browser.login("m.lefevre@montclair.example")
    monkeypatch.setattr(rt.memberships, "for_organisation", _fail)
    with caplog.at_level(logging.ERROR, logger="chalicelib.web.middleware"):
        response = browser.get("/mon-compte/adhesions")
    text = browser.text()
    assert response.status_code == 500
    assert "n'est pas perdu" in text and "réessayez dans un instant" in text
    assert "adherents@cite-verte.example" in text and "RuntimeError" not in text and "Traceback" not in text
    reference = text.split("Référence de l'incident : <strong>", 1)[1].split("<", 1)[0]
    assert len(reference) >= 8
    assert any(reference in r.getMessage() for r in caplog.records)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_when_even_the_page_fails_a_plain_french_text_keeps_the_reference(browser, rt, monkeypatch):
    from chalicelib.web import middleware

    browser.login("m.lefevre@montclair.example")
    monkeypatch.setattr(rt.memberships, "for_organisation", _fail)
    monkeypatch.setattr(middleware, "render", _fail)
    response = browser.get("/mon-compte/adhesions")
    body = response.body.decode()
    assert response.status_code == 500 and "n'est pas perdu" in body and "Référence : " in body
