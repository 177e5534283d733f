"""A small browser over ``chalice.test.Client``: keeps cookies, reads CSRF tokens, posts forms."""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from chalicelib.local.demo import DEMO_PASSWORD

MEMBER = "m.lefevre@montclair.example"       # Ville de Montclair
MEMBER_B = "j.moreau@saint-aubin.example"    # Commune de Saint-Aubin-des-Prés
STAFF = "equipe@cite-verte.example"
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


class Browser:
    def __init__(self, client):
        self.client = client
        self.cookies: dict[str, str] = {}
        self.last = None

    def _headers(self, extra=None) -> dict:
        headers = dict(extra or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _remember(self, response):
        raw = response.headers.get("Set-Cookie") or response.headers.get("set-cookie")
        values = raw if isinstance(raw, list) else ([raw] if raw else [])
        for value in values:
            for part in re.split(r",(?=\s*[\w-]+=)", value):
                name, _, rest = part.strip().partition("=")
                cookie_value = rest.split(";", 1)[0]
                if "Max-Age=0" in rest:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = cookie_value
        self.last = response
        return response

    def get(self, path: str, headers=None):
        return self._remember(self.client.http.get(path, headers=self._headers(headers)))

    def post(self, path: str, data: dict | bytes | str, headers=None, csrf: bool | str = True):
        if isinstance(data, dict):
            data = dict(data)
            if csrf is True:
                data.setdefault("csrf_token", self.csrf())
            elif isinstance(csrf, str):
                data["csrf_token"] = csrf
            body = urlencode(data).encode()
        else:
            body = data.encode() if isinstance(data, str) else data
        all_headers = {**FORM_TYPE, **(headers or {})}
        return self._remember(self.client.http.post(path, headers=self._headers(all_headers), body=body))

    def csrf(self) -> str:
        if self.last is None or b"csrf_token" not in self.last.body:
            self.get("/connexion" if not self.logged_in else "/mon-compte")
        match = re.search(rb'name="csrf_token" value="([^"]+)"', self.last.body)
        assert match, "no CSRF token on the page"
        return match.group(1).decode()

    @property
    def logged_in(self) -> bool:
        return any(name.endswith("session") for name in self.cookies)

    def login(self, email: str, password: str = DEMO_PASSWORD):
        self.get("/connexion")
        return self.post("/connexion", {"email": email, "password": password})

    def text(self) -> str:
        return unescape(self.last.body.decode())


@pytest.fixture
def client(rt):
    from app import app

    with Client(app, stage_name="local") as c:
        yield c


@pytest.fixture
def browser(client, demo):
    return Browser(client)


@pytest.fixture
def new_browser(client, demo):
    return lambda: Browser(client)
