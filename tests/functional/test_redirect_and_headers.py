"""Hardening: the page after login is a plain local path, whatever ``suite=`` holds; email
headers are built by the email library (a quote in the association's name keeps a valid From)."""
from __future__ import annotations

from dataclasses import replace
from email.headerregistry import HeaderRegistry

import pytest

from chalicelib.local.demo import DEMO_PASSWORD
from chalicelib.web.http import safe_next
from tests.conftest import sent_emails

MEMBER = "m.lefevre@montclair.example"


@pytest.mark.parametrize("target", ["/mon-compte/adhesions", "/admin/demandes?etat=ouverte&page=2", "/a#b"])
def test_a_local_path_is_followed(target):
    assert safe_next(target) == target


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example", "/\\/evil.example", "\t//evil.example",
                                    "/\t/evil.example", "/\n/evil.example", "/x\r\nSet-Cookie: a=b", " /x",
                                    "https://evil.example", "javascript:alert(1)", "/é", "/x y", "/\x00", ""])
def test_anything_else_goes_to_the_default_page(target):
    assert safe_next(target) == ""


@pytest.mark.parametrize("suite", ["\t//evil.example", "/\r\n/evil.example", "//evil.example", "/\\evil.example"])
def test_login_with_a_hostile_suite_lands_on_the_default_page(browser, suite):
    browser.get("/connexion")
    response = browser.post("/connexion", {"email": MEMBER, "password": DEMO_PASSWORD, "suite": suite})
    assert response.status_code == 303
    assert response.headers["Location"] == "/mon-compte"


def test_a_quote_in_the_association_name_keeps_a_valid_from_header(rt, demo):
    from chalicelib.services.mail import send_email

    rt.settings.save_association(replace(rt.association(), name='Cité "Verte", Angers'))
    rt.forget_cached_settings()
    send_email(rt, kind="test", template="password_changed", recipients=["x@example.org"],
               contact=rt.contacts.find_by_email(MEMBER), changed_at=rt.clock())
    [sent] = [m for m in sent_emails() if m.recipients == ("x@example.org",)]
    [address] = HeaderRegistry()("From", sent.sender).addresses  # one address, not split at the comma
    assert address.display_name == 'Cité "Verte", Angers' and address.addr_spec == rt.config.sender_email


def test_a_deactivated_organisation_gets_a_french_403_for_quote_and_renewal(browser, rt):
    org = rt.organisations.get("org-durand")
    rt.organisations.update(replace(org, active=False))
    browser.login("n.durand@paysages-durand.example")
    browser.get("/mon-compte/adhesions")
    quote = browser.post("/mon-compte/devis", {})
    assert quote.status_code == 403 and "n'est plus active" in browser.text()
    assert browser.get("/mon-compte/adhesions/renouveler").status_code == 403
    browser.get("/mon-compte/adhesions")
    response = browser.post("/mon-compte/adhesions/renouveler", {"tier_choice": "confirm", "payment_method": "virement",
                                                                 "wait_for_purchase_order": "no"})
    assert response.status_code == 403 and "Contactez l'association" in browser.text()
    assert rt.renewals.for_organisation("org-durand") == [] and rt.documents.for_organisation("org-durand") == []
