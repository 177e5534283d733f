"""A small browser over ``chalice.test.Client``: keeps cookies, reads CSRF tokens, posts forms."""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from chalicelib.local.demo import DEMO_PASSWORD
from chalicelib.runtime import get_runtime

MEMBER = "m.lefevre@montclair.example"       # Ville de Montclair
MEMBER_B = "j.moreau@saint-aubin.example"    # Commune de Saint-Aubin-des-Prés
STAFF = "equipe@cite-verte.example"
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


class Browser:
    def __init__(self, client, rt=None):
        self.client = client
        self._rt = rt
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

    def login(self, email: str, password: str = DEMO_PASSWORD, second_factor: bool = True):
        """Log in; a staff account also gives its second factor (enrolling it on a first login)
        unless ``second_factor`` is False."""
        self.get("/connexion")
        response = self.post("/connexion", {"email": email, "password": password})
        if second_factor and response.headers.get("Location", "").startswith("/connexion/verification"):
            return self.give_second_factor(email)
        return response

    def give_second_factor(self, email: str):
        """Post a valid, unused TOTP code for ``email`` (the test clock moves on 30 s if the codes
        valid at this instant were used already: a code works once)."""
        rt = self._rt or get_runtime()
        contact = rt.contacts.find_by_email(email)
        factor = rt.contacts.second_factor(contact.contact_id)
        if factor is None or not factor.enrolled:
            self.get("/connexion/verification")  # shows the key to enrol
            factor = rt.contacts.second_factor(contact.contact_id)
        code = next_totp_code(rt, factor)
        self.get("/connexion/verification")
        return self.post("/connexion/verification", {"code": code})

    def text(self, typography: bool = False) -> str:
        """The page, unescaped. The French no-break spaces (U+00A0, U+202F) read as spaces, so
        that tests assert on words; ``typography=True`` keeps them (to check the spacing)."""
        text = unescape(self.last.body.decode())
        return text if typography else plain_spaces(text)


def plain_spaces(text: str) -> str:
    """The French no-break spaces as ordinary ones."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def next_totp_code(rt, factor) -> str:
    """A code for the earliest step valid now and after the factor's last used one."""
    import pyotp

    while True:
        current = int(rt.clock().timestamp()) // 30
        steps = [s for s in (current - 1, current, current + 1) if s > factor.last_step]
        if steps:
            return pyotp.TOTP(factor.secret).at(steps[0] * 30)
        rt.clock.advance(seconds=30)


@pytest.fixture
def campaign_open(clock):
    """1 December 2026, 10:30 in Paris: the 2027 campaign is open."""
    clock.advance(days=3)
    return clock


@pytest.fixture
def client(rt):
    from app import app

    with Client(app, stage_name="local") as c:
        yield c


@pytest.fixture
def browser(client, demo, rt):
    return Browser(client, rt)


@pytest.fixture
def new_browser(client, demo, rt):
    return lambda: Browser(client, rt)
