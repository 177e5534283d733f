"""More of the member's procedure in a real browser against `make run` (issue 17): the recap
before saving, the member's own cancellation, the password-changed messages, and a session that
runs out while the renewal form is being filled in.

Each walk uses an organisation or a contact no other browser walk depends on, since the server
is shared by the whole session: Ville de Montclair renews (the other walks only read its
history), Ville de Grand-Port cancels its request awaiting a purchase order, Isabelle Roux
(Lycée horticole de Beaulieu) changes her password, and Paul Mercier (same school) lets his
session run out without saving anything.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

from playwright.sync_api import expect

from tests.e2e.conftest import E2E_SEASON
from tests.e2e.test_member_journey import login, wait_for_mail

RENEWING = "m.lefevre@montclair.example"
CANCELLING = "l.fabre@grand-port.example"
INVOICED = "c.dubois@valfleuri.example"
PASSWORD_CHANGER = "i.roux@lycee-beaulieu.example"
INTERRUPTED = "p.mercier@lycee-beaulieu.example"
STAFF_INBOX = "equipe@cite-verte.example"


def log_out(page, url: str) -> None:
    page.goto(url + "/")
    page.get_by_role("button", name="Se déconnecter").click()


def renew_offer(page):
    """« Mes adhésions » → « Renouveler l'adhésion » (from « Mon compte », where login lands)."""
    page.get_by_role("link", name="Mes adhésions").first.click()
    page.get_by_role("link", name="Renouveler l'adhésion").click()
    expect(page.get_by_role("heading", name=f"Renouveler l'adhésion {E2E_SEASON}")).to_be_visible()


def test_the_recap_shows_everything_and_only_the_confirmation_saves(page, app_server):
    url, password = app_server.url, app_server.demo_password
    login(page, url, RENEWING, password)
    renew_offer(page)
    page.get_by_label(re.compile(r"^Je confirme la tranche")).check()
    page.get_by_label("Mandat administratif").check()
    page.get_by_label("Non, vous pouvez éditer la facture dès maintenant").check()
    page.get_by_label("Service destinataire de la facture (code service Chorus Pro)").select_option("ESPACES-VERTS")
    number = page.get_by_label(re.compile(r"^Numéro de bon de commande ou d'engagement"))
    number.fill("ENG-2027-0042")

    # Enter in a text field shows the recap: nothing is saved yet
    number.press("Enter")
    expect(page.get_by_role("heading", name=f"Vérifier ma demande de renouvellement {E2E_SEASON}")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text("Votre demande n'est pas encore enregistrée.")
    page.get_by_role("button", name="Modifier ma demande").click()  # back to the form, as typed
    expect(number).to_have_value("ENG-2027-0042")
    page.get_by_label("Commune", exact=True).fill("Montclair-sur-Loire")
    page.get_by_label("Commune", exact=True).press("Enter")

    # the recap: organisation, year, tier and amount, payment method, PO answer, billing details
    recap = page.get_by_role("region", name=f"Ville de Montclair — adhésion {E2E_SEASON}")
    expect(recap).to_contain_text(re.compile(rf"Tranche tarifaire {E2E_SEASON}\s*Commune de 20\s000 à 50\s000 "
                                             r"habitants — 742,00\s€"))
    expect(recap).to_contain_text(re.compile(r"Mode de paiement\s*Mandat administratif"))
    expect(recap).to_contain_text(re.compile(r"Bon de commande\s*pas de bon de commande à attendre"))
    expect(recap).to_contain_text(re.compile(r"N° de bon de commande / d'engagement\s*ENG-2027-0042"))
    for billing in ("Hôtel de ville, 12 rue de la République", "44000 Montclair-sur-Loire",
                    "factures@montclair.example", "SIRET 21440987600019", "Code service ESPACES-VERTS"):
        expect(recap).to_contain_text(billing)

    # still not saved: in another tab, « Mes adhésions » still offers the renewal
    other = page.context.new_page()
    other.goto(url + "/mon-compte/adhesions")
    expect(other.get_by_role("link", name="Renouveler l'adhésion")).to_be_visible()
    expect(other.locator("main")).not_to_contain_text("Demande enregistrée le")
    other.close()

    page.get_by_role("button", name="Enregistrer ma demande").click()
    expect(page.get_by_role("status").first).to_contain_text("enregistrée")
    assert re.search(rf"/demande/{E2E_SEASON}", page.url)
    expect(page.locator("main")).to_contain_text("ENG-2027-0042")


def test_the_member_cancels_a_request_not_yet_invoiced(page, app_server):
    url, password = app_server.url, app_server.demo_password
    login(page, url, CANCELLING, password)
    page.get_by_role("link", name="Mes adhésions").first.click()
    renewal = page.get_by_role("region", name=f"Renouvellement {E2E_SEASON}")
    expect(renewal).to_contain_text("En attente du bon de commande")

    renewal.locator("summary", has_text="Annuler ma demande").click()
    confirm = renewal.get_by_label(f"Je confirme vouloir annuler la demande {E2E_SEASON}")
    expect(confirm).not_to_be_checked()
    renewal.get_by_role("button", name="Annuler ma demande").click()  # without the confirmation: refused
    main = page.locator("main")
    expect(main).to_contain_text("Cochez la case pour confirmer l'annulation de votre demande.")
    expect(main).to_contain_text("En attente du bon de commande")

    main.get_by_label(f"Je confirme vouloir annuler la demande {E2E_SEASON}").check()
    main.get_by_role("button", name="Annuler ma demande").click()
    expect(page.get_by_role("status").first).to_contain_text("Votre demande a été annulée.")
    renewal = page.get_by_role("region", name=f"Renouvellement {E2E_SEASON}")
    expect(renewal).to_contain_text("a été annulée. Vous pouvez en enregistrer une nouvelle.")
    expect(renewal.get_by_role("link", name="Renouveler l'adhésion")).to_be_visible()

    # staff are told, by email
    told = (page.get_by_role("row").filter(has_text=STAFF_INBOX)
            .filter(has_text=f"Demande de renouvellement {E2E_SEASON} annulée par le membre"))
    wait_for_mail(page, url, told)


def test_an_invoiced_request_says_how_to_get_a_credit_note(page, app_server):
    login(page, app_server.url, INVOICED, app_server.demo_password)
    page.get_by_role("link", name="Mes adhésions").first.click()
    renewal = page.get_by_role("region", name=f"Renouvellement {E2E_SEASON}")
    expect(renewal).to_contain_text("Facturée")
    expect(renewal).to_contain_text(re.compile(
        r"Pour annuler cette demande maintenant que la facture est émise, écrivez-nous à "
        r"adherents@cite-verte\.example\s*:\s*nous émettrons un avoir\."))
    expect(renewal.get_by_role("button", name="Annuler ma demande")).to_have_count(0)


def test_password_changed_from_mon_compte_then_reset_says_so_on_the_login_page(page, app_server):
    url, old = app_server.url, app_server.demo_password
    changed = "Le merle chante sous les tilleuls du lycée"
    reset = "Les serres du lycée ouvrent au printemps prochain"

    # « Mon compte » → « Changer mon mot de passe »
    login(page, url, PASSWORD_CHANGER, old)
    page.get_by_role("link", name="Mon compte").click()
    page.get_by_role("link", name="Changer mon mot de passe").click()
    expect(page).to_have_url(re.compile(r"/mon-compte/mot-de-passe$"))
    page.get_by_label("Mot de passe actuel").fill(old)
    page.get_by_label("Nouveau mot de passe", exact=True).fill(changed)
    page.get_by_label("Confirmez le nouveau mot de passe").fill(changed)
    page.get_by_role("button", name="Enregistrer le nouveau mot de passe").click()
    expect(page).to_have_url(re.compile(r"/mon-compte\?"))
    expect(page.get_by_role("status").first).to_contain_text("Votre mot de passe a été changé.")
    log_out(page, url)
    login(page, url, PASSWORD_CHANGER, old)
    expect(page.get_by_role("alert")).to_contain_text("Adresse e-mail ou mot de passe incorrect")
    login(page, url, PASSWORD_CHANGER, changed)
    expect(page).to_have_url(re.compile(r"/mon-compte$"))
    log_out(page, url)

    # « Mot de passe oublié ? » → the link in the local mailbox → the login page says it worked
    page.goto(url + "/connexion")
    page.get_by_role("link", name="Mot de passe oublié ?").click()
    page.get_by_label("Adresse e-mail").fill(PASSWORD_CHANGER)
    page.get_by_role("button", name="Recevoir le lien").click()
    expect(page.get_by_role("status")).to_contain_text("Si un compte existe")
    mail = page.get_by_role("row").filter(has_text=PASSWORD_CHANGER).filter(has_text="Choisir un nouveau mot de passe")
    wait_for_mail(page, url, mail)
    mail.first.get_by_role("link").click()
    page.locator(".mail-html").get_by_role("link", name="Choisir un nouveau mot de passe").click()
    page.get_by_label("Nouveau mot de passe").fill(reset)
    page.get_by_label("Confirmez le mot de passe").fill(reset)
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    expect(page).to_have_url(re.compile(r"/connexion\?"))
    message = page.get_by_role("status").first
    expect(message).to_contain_text("Votre mot de passe a été changé.")
    expect(message).to_contain_text("Connectez-vous avec votre nouveau mot de passe")
    page.get_by_label("Adresse e-mail").fill(PASSWORD_CHANGER)
    page.get_by_label("Mot de passe", exact=True).fill(reset)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(re.compile(r"/mon-compte$"))


def let_the_session_idle(app_server, page, minutes: int) -> None:
    """The member walks away: their session's last activity moves ``minutes`` back, in the
    server's (simulated) DynamoDB, as if that long had passed without a request. The browser
    cannot wait 30 minutes, and `make run`'s clock runs at the real pace."""
    import boto3

    endpoint = re.search(r"AWS simulé \(moto\) : (\S+)", app_server.output).group(1)
    token = next(c["value"] for c in page.context.cookies() if c["name"] in ("session", "__Host-session"))
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="eu-west-3",
                            aws_access_key_id="local", aws_secret_access_key="local")
    key = {"token_hash": {"S": hashlib.sha256(token.encode()).hexdigest()}}
    item = dynamodb.get_item(TableName="adhesions-local-sessions", Key=key)["Item"]
    stored = item["last_seen_at"]["S"]  # pynamodb's UTCDateTimeAttribute: 2026-12-07T09:00:00.000000+0000
    earlier = datetime.strptime(stored, "%Y-%m-%dT%H:%M:%S.%f%z") - timedelta(minutes=minutes)
    dynamodb.update_item(TableName="adhesions-local-sessions", Key=key,
                         UpdateExpression="SET last_seen_at = :t",
                         ExpressionAttributeValues={":t": {"S": earlier.strftime("%Y-%m-%dT%H:%M:%S.%f%z")}})


def test_an_expired_session_gives_the_typed_form_back_after_logging_in(page, app_server):
    url, password = app_server.url, app_server.demo_password
    comment = "Le lycée accueille désormais un laboratoire de recherche sur les sols."
    login(page, url, INTERRUPTED, password)
    renew_offer(page)
    page.get_by_label("Je demande une autre tranche").check()
    page.get_by_label("Tranche demandée").select_option(label="Organisme de recherche — 464,00 €")
    page.get_by_label("Commentaire").fill(comment)
    page.get_by_label("Virement").check()
    page.get_by_label("Oui, attendez notre bon de commande").check()
    page.get_by_label("Service destinataire de la facture (code service Chorus Pro)").select_option("INTENDANCE")

    let_the_session_idle(app_server, page, minutes=31)
    page.get_by_role("button", name="Vérifier ma demande").click()
    expect(page).to_have_url(re.compile(r"/connexion\?expiree=1"))
    expect(page.get_by_role("status").first).to_contain_text("Votre session a expiré")
    expect(page.get_by_role("status").first).to_contain_text("Ce que vous aviez saisi est conservé")
    page.get_by_label("Adresse e-mail").fill(INTERRUPTED)
    page.get_by_label("Mot de passe", exact=True).fill(password)
    page.get_by_role("button", name="Se connecter").click()

    expect(page).to_have_url(re.compile(r"/mon-compte/adhesions/renouveler\?reprise="))
    expect(page.get_by_role("status").first).to_contain_text(
        "Votre session avait expiré : voici ce que vous aviez saisi.")
    expect(page.get_by_label("Je demande une autre tranche")).to_be_checked()
    expect(page.get_by_label("Tranche demandée").locator("option:checked")).to_have_text(re.compile("Organisme de recherche"))
    expect(page.get_by_label("Commentaire")).to_have_value(comment)
    expect(page.get_by_label("Virement")).to_be_checked()
    expect(page.get_by_label("Oui, attendez notre bon de commande")).to_be_checked()

    # nothing was saved behind the member's back: the recap still comes first
    page.get_by_role("button", name="Vérifier ma demande").click()
    expect(page.get_by_role("status").first).to_contain_text("Votre demande n'est pas encore enregistrée.")
    expect(page.locator("main")).to_contain_text("Organisme de recherche")
    page.goto(url + "/mon-compte/adhesions")
    expect(page.get_by_role("link", name="Renouveler l'adhésion")).to_be_visible()
