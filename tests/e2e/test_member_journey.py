"""The seed procedure followed literally, by its labels, in a real browser."""
from __future__ import annotations

import re

from playwright.sync_api import expect

MEMBER = "s.garnier@montclair.example"
RESET_MEMBER = "h.vidal@frp.example"


def login(page, url, email, password):
    page.goto(url + "/")
    page.get_by_role("link", name="Espace personnel").first.click()
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe", exact=True).fill(password)
    page.get_by_role("button", name="Se connecter").click()


def wait_for_mail(page, url: str, row) -> None:
    """Open the local mailbox until ``row`` shows: emails are sent by tasks, within a second or
    two of the answer, so a person reloads the page as this does."""
    for _ in range(30):
        page.goto(url + "/_dev/courriels")
        if row.count():
            return
        page.wait_for_timeout(500)
    expect(row.first).to_be_visible()


def test_member_logs_in_and_reaches_mes_adhesions(page, app_server):
    login(page, app_server.url, MEMBER, app_server.demo_password)
    expect(page).to_have_url(re.compile(r"/mon-compte$"))
    page.get_by_role("link", name="Mon compte").click()
    page.get_by_role("link", name="Mes adhésions").first.click()
    expect(page.get_by_role("heading", name="Mes adhésions")).to_be_visible()
    expect(page.get_by_role("heading", name="Historique des adhésions")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("2025"))).to_be_visible()


def test_wrong_password_shows_the_generic_message(page, app_server):
    login(page, app_server.url, MEMBER, "pas le bon mot de passe")
    expect(page.get_by_role("alert")).to_contain_text("Adresse e-mail ou mot de passe incorrect")


def test_forgot_password_end_to_end_with_the_local_mailbox(page, app_server):
    url = app_server.url
    page.goto(url + "/connexion")
    page.get_by_role("link", name="Mot de passe oublié ?").click()
    page.get_by_label("Adresse e-mail").fill(RESET_MEMBER)
    page.get_by_role("button", name="Recevoir le lien").click()
    expect(page.get_by_role("status")).to_contain_text("Si un compte existe")

    reset_mail = page.get_by_role("row", name=re.compile(RESET_MEMBER)).filter(has_text="Choisir un nouveau mot de passe")
    wait_for_mail(page, url, reset_mail)
    reset_mail.get_by_role("link").click()
    page.locator(".mail-html").get_by_role("link", name="Choisir un nouveau mot de passe").click()

    new_password = "Une cabane au fond des bois fleuris"
    page.get_by_label("Nouveau mot de passe").fill(new_password)
    page.get_by_label("Confirmez le mot de passe").fill(new_password)
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    expect(page).to_have_url(re.compile(r"/connexion"))

    login(page, url, RESET_MEMBER, new_password)
    expect(page).to_have_url(re.compile(r"/mon-compte$"))
    page.goto(url + "/_dev/courriels")
    expect(page.get_by_role("row", name=re.compile("Votre mot de passe a été modifié"))).to_be_visible()


def test_pages_work_with_the_keyboard_only(page, app_server):
    page.goto(app_server.url + "/connexion")
    page.keyboard.press("Tab")  # skip link
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent || document.activeElement.name")
    assert focused
    page.get_by_label("Adresse e-mail").focus()
    page.keyboard.type(MEMBER)
    page.keyboard.press("Tab")
    page.keyboard.type(app_server.demo_password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/mon-compte$"))


def test_phone_width_has_no_horizontal_scroll(chromium, app_server):
    context = chromium.new_context(viewport={"width": 375, "height": 740}, locale="fr-FR")
    page = context.new_page()
    login(page, app_server.url, MEMBER, app_server.demo_password)
    page.goto(app_server.url + "/mon-compte/adhesions")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    context.close()
    assert overflow <= 0


def test_on_a_phone_the_invoice_is_one_tap_away_in_the_history(chromium, app_server):
    """At 375 px each year of « Historique des adhésions » is a card: its status and its documents
    are on screen (not in a sideways scroller), and the page is no wider than the phone."""
    context = chromium.new_context(viewport={"width": 375, "height": 740}, locale="fr-FR")
    page = context.new_page()
    login(page, app_server.url, "c.dubois@valfleuri.example", app_server.demo_password)  # the demo's invoiced member
    page.goto(app_server.url + "/mon-compte/adhesions")
    history = page.get_by_role("table", name=re.compile("Historique des adhésions"))
    link = history.get_by_role("link", name=re.compile(r"Facture FAC-")).first
    box = link.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    button = page.get_by_role("link", name="Télécharger la facture")
    with page.expect_download() as download:
        button.click()
    assert download.value.suggested_filename.startswith("FAC-")
    context.close()
