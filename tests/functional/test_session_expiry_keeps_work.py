"""A member whose session runs out while filling in the renewal form loses nothing: after
logging in again, the form comes back as they typed it (theirs only, once, for a day)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from chalicelib.local.demo import DEMO_PASSWORD
from tests.functional.conftest import MEMBER
from tests.functional.renewal_support import FORM, MEMBER_2, answers, plain

TYPED = answers(tier_choice="change", requested_tier="COL-4", tier_comment="Nous sommes 31 000 habitants.",
                payment_method="virement", wait_for_purchase_order="yes")


def expire_while_typing(browser, clock):
    browser.login(MEMBER)
    browser.get(FORM)
    csrf = browser.csrf()
    clock.advance(minutes=31)  # the member was interrupted
    return browser.post(FORM, {**TYPED, "etape": "recapitulatif"}, csrf=csrf)


def test_the_typed_form_comes_back_after_logging_in_again(browser, campaign_open, rt):
    response = expire_while_typing(browser, campaign_open)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/connexion?expiree=1&suite=")
    browser.get(location)
    assert "Votre session a expiré" in plain(browser.text())
    suite = parse_qs(urlsplit(location).query)["suite"][0]
    logged_in = browser.post("/connexion", {"email": MEMBER, "password": DEMO_PASSWORD, "suite": suite})
    assert logged_in.headers["Location"] == suite and "reprise=" in suite
    browser.get(suite)
    page = browser.text()
    assert "Votre session avait expiré : voici ce que vous aviez saisi." in plain(page)
    assert "Nous sommes 31 000 habitants." in page and 'value="virement" checked' in page
    assert rt.renewals.for_organisation("org-montclair") == []  # nothing saved behind their back
    browser.get(suite)  # read once
    assert "Nous sommes 31 000 habitants." not in browser.text()


def test_another_contact_cannot_take_the_draft(browser, new_browser, campaign_open):
    location = expire_while_typing(browser, campaign_open).headers["Location"]
    suite = parse_qs(urlsplit(location).query)["suite"][0]
    colleague = new_browser()
    colleague.login(MEMBER_2)  # same organisation, another person
    colleague.get(suite)
    assert "Nous sommes 31 000 habitants." not in colleague.text()
    assert "Votre session avait expiré" not in colleague.text()


def test_a_post_without_the_expired_sessions_token_keeps_nothing(browser, campaign_open, rt):
    browser.login(MEMBER)
    browser.get(FORM)
    campaign_open.advance(minutes=31)
    response = browser.post(FORM, {**TYPED, "etape": "recapitulatif"}, csrf="0" * 64)
    assert response.status_code in (303, 403)
    assert "reprise=" not in response.headers.get("Location", "")
    from chalicelib.adapters.dynamo.drafts import FormDraftTable
    assert list(FormDraftTable.scan()) == []
