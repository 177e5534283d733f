"""Stored values carrying HTML and script render without effect in pages and emails."""
from __future__ import annotations

from chalicelib.domain.model import Address, Category, Contact, Organisation, Role
from chalicelib.local.demo import DEMO_PASSWORD
from tests.conftest import sent_emails
from tests.functional.conftest import Browser

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)> "\' & 🌳'


def _hostile_member(rt) -> str:
    org = Organisation("org-hostile", PAYLOAD + " Mairie", Category.COLLECTIVITE,
                       Address(PAYLOAD, "75001", PAYLOAD), "a@b.example", siret="1" * 14)
    rt.organisations.add(org)
    email = "hostile@b.example"
    rt.contacts.add(Contact("c-hostile", email, PAYLOAD, Role.CONTACT, org.org_id, rt.hasher.hash(DEMO_PASSWORD)))
    return email


def test_hostile_values_are_escaped_in_pages(client, demo, rt):
    email = _hostile_member(rt)
    browser = Browser(client)
    browser.login(email)
    for path in ("/mon-compte", "/mon-compte/adhesions"):
        html = browser.get(path).body.decode()
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_hostile_values_are_escaped_in_emails(client, demo, rt):
    email = _hostile_member(rt)
    browser = Browser(client)
    browser.get("/mot-de-passe-oublie")
    browser.post("/mot-de-passe-oublie", {"email": email})
    [message] = sent_emails()
    assert "<script>" not in message.html and "<img src=x" not in message.html
    assert PAYLOAD in message.text  # plain text keeps the value as typed
