"""The development mailbox: local stage only."""
from __future__ import annotations

import dataclasses
import re

from chalicelib.runtime import set_runtime
from tests.functional.conftest import MEMBER


def test_mailbox_lists_sent_emails_and_shows_both_parts(browser):
    browser.get("/mot-de-passe-oublie")
    browser.post("/mot-de-passe-oublie", {"email": MEMBER})
    browser.get("/_dev/courriels")
    html = browser.text()
    assert MEMBER in html
    link = re.search(r'href="(/_dev/courriels/[^"]+)"', html).group(1)
    browser.get(link)
    page = browser.text()
    assert "Version texte" in page and "Version HTML" in page
    assert re.search(r'<a href="https://adhesions\.test/mot-de-passe/nouveau\?jeton=[\w-]+"', page)


def test_unknown_message_is_404(browser):
    assert browser.get("/_dev/courriels/nope").status_code == 404


def test_mailbox_is_404_outside_the_local_stage(browser, rt):
    for stage in ("dev", "prod"):
        set_runtime(dataclasses.replace(rt, config=dataclasses.replace(rt.config, stage=stage)))
        assert browser.get("/_dev/courriels").status_code == 404
        assert browser.get("/_dev/courriels/x").status_code == 404
    set_runtime(rt)


def test_cookies_are_secure_with_host_prefix_outside_local(browser, rt):
    set_runtime(dataclasses.replace(rt, config=dataclasses.replace(rt.config, stage="prod")))
    response = browser.get("/connexion")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-csrf=") and "; Secure" in cookie and "Path=/" in cookie
    assert "Strict-Transport-Security" in response.headers
    set_runtime(rt)
