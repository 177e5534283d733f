"""French typography in pages and emails, and the error summary that leads to each field."""
from __future__ import annotations

import re

from tests.functional.conftest import MEMBER
from tests.functional.renewal_support import FORM, answers

NB, THIN = "\u00a0", "\u202f"


def test_pages_get_french_no_break_spaces_but_not_in_attributes_or_typed_text(campaign_open, browser):
    browser.get("/connexion")
    page = browser.text(typography=True)
    assert f"Mot de passe oublié{THIN}?" in page
    assert f"Pour toute question{NB}:" in page
    browser.login(MEMBER)
    comment = "Nous sommes 12 000 habitants : vérifiez ?"
    browser.get(FORM)
    response = browser.post(FORM, answers(tier_choice="change", requested_tier="", tier_comment=comment))
    assert response.status_code == 400
    html = response.body.decode()
    # What the member typed comes back exactly as typed (a textarea is never retouched)
    assert "Nous sommes 12 000 habitants : vérifiez ?</textarea>" in html.replace("&#39;", "'")
    assert f"Renouveler l{chr(39)}adhésion" in browser.text()


def test_the_error_summary_links_each_field_and_takes_the_focus(campaign_open, browser):
    browser.login(MEMBER)
    browser.get(FORM)
    response = browser.post(FORM, answers(tier_choice="", payment_method="", postcode=""))
    assert response.status_code == 400
    html = response.body.decode()
    summary = re.search(r'<div class="alert error error-summary"[^>]*>.*?</div>', html, re.S).group(0)
    assert 'tabindex="-1"' in summary and "autofocus" in summary and 'role="alert"' in summary
    links = dict(re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary))
    assert {"f-tier-confirm", "f-payment-1", "f-postcode"} <= set(links)
    for target in links:  # every link leads to a field of the page
        assert f'id="{target}"' in html
    assert html.count("autofocus") == 1


def test_emails_get_french_no_break_spaces_in_text_and_html(browser, rt):
    from tests.conftest import sent_emails

    browser.get("/mot-de-passe-oublie")
    browser.post("/mot-de-passe-oublie", {"email": MEMBER})
    [message] = sent_emails(typography=True)
    assert f"Pour toute question{NB}:" in message.html
    assert "http" in message.text and f"{NB}:" in message.text
    link = re.search(r"https?://\S+", message.text).group(0)
    assert NB not in link and THIN not in link
