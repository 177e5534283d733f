"""The whole renewal, as the seed procedure describes it, in a real browser against `make run`.

A contact of Paysages Durand SARL (their current year is not renewed in the demo data, whatever
the date) gets a quote, asks for another tier and for the invoice to wait for their purchase
order; staff decide the tier and record the purchase order, which issues the invoice; the
contact is told by email and downloads the Factur-X invoice from « Historique des adhésions »;
staff record the payment and the membership shows as paid.
"""
from __future__ import annotations

import io
import re

from playwright.sync_api import expect

from chalicelib.local.demo import tier_amount
from tests.e2e.conftest import E2E_SEASON
from tests.e2e.test_member_journey import login, wait_for_mail

MEMBER = "n.durand@paysages-durand.example"
STAFF = "equipe@cite-verte.example"


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def download(page, click) -> bytes:
    with page.expect_download() as info:
        click()
    path = info.value.path()
    with open(path, "rb") as f:
        return f.read()


def mailbox_message(page, url: str, recipient: str, subject: str):
    """Open the newest message to ``recipient`` whose subject matches, in the local mailbox."""
    row = page.get_by_role("row").filter(has_text=recipient).filter(has_text=re.compile(subject)).first
    wait_for_mail(page, url, row)
    row.get_by_role("link").click()


_used_codes: set[str] = set()


def demo_code(page, url: str) -> str:
    """The demo staff account's current code, read on the local tasks page as a tester would;
    a code already used waits for the next one (a code works once)."""
    for _ in range(40):
        page.goto(url + "/_dev/taches")
        code = page.locator(".demo-code").inner_text().strip()
        if code not in _used_codes:
            _used_codes.add(code)
            return code
        page.wait_for_timeout(1000)
    raise AssertionError("the demo code did not change in 40 s")


def switch_to(page, url: str, email: str, password: str) -> None:
    """Log out whoever is logged in, then log in as ``email`` through « Espace personnel »
    (staff also give the code of their authenticator app)."""
    page.goto(url + "/")
    logout = page.get_by_role("button", name="Se déconnecter")
    if logout.count():
        logout.click()
    if email == STAFF:
        code = demo_code(page, url)
    login(page, url, email, password)
    if email == STAFF:
        expect(page.get_by_role("heading", name="Code de vérification")).to_be_visible()
        page.get_by_label("Code à 6 chiffres").fill(code)
        page.get_by_role("button", name="Valider").click()
        expect(page).to_have_url(re.compile(r"/admin"))


def test_quote_renewal_staff_decisions_invoice_and_payment(page, app_server):
    from facturx import get_facturx_xml_from_pdf, xml_check_xsd

    url, password = app_server.url, app_server.demo_password

    # --- the member: « Espace personnel » → « Mon compte » → « Mes adhésions » → « Éditer un devis »
    login(page, url, MEMBER, password)
    page.get_by_role("link", name="Mon compte").click()
    page.get_by_role("link", name="Mes adhésions").first.click()
    quote = download(page, lambda: page.get_by_role("button", name="Éditer un devis").click())
    assert quote.startswith(b"%PDF")
    text = pdf_text(quote)
    assert "DEVIS" in text.upper() and "DEV-" in text and "Paysages Durand SARL" in text

    # « Renouveler l'adhésion » with a tier change, a payment method and a purchase-order wait
    page.get_by_role("link", name="Renouveler l'adhésion").click()
    page.get_by_label("Je demande une autre tranche").check()
    page.get_by_label("Tranche demandée").select_option("ENT-3")
    page.get_by_label("Commentaire").fill("Nous sommes 52 salariés depuis septembre.")
    page.get_by_label("Virement").check()
    page.get_by_label("Oui, attendez notre bon de commande").check()
    page.get_by_label("Commune", exact=True).press("Enter")  # Enter in a text field never saves: it shows the recap
    expect(page.get_by_role("status").first).to_contain_text("pas encore enregistrée")
    expect(page.locator("main")).to_contain_text("Entreprise de 50 salariés et plus")
    page.get_by_role("button", name="Enregistrer ma demande").click()
    expect(page.get_by_role("status").first).to_contain_text("enregistrée")
    year = re.search(r"/demande/(\d{4})", page.url).group(1)
    assert year == str(E2E_SEASON)
    mailbox_message(page, url, MEMBER, f"demande de renouvellement {year}")
    expect(page.locator("body")).to_contain_text("Entreprise de 50 salariés et plus")

    # --- staff: decide the tier, record the purchase order (the invoice follows), then the payment
    switch_to(page, url, STAFF, password)
    page.get_by_role("link", name="Administration").click()
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Demandes").click()
    page.get_by_role("link", name=re.compile("Paysages Durand SARL")).first.click()
    page.get_by_label(re.compile(r"^ENT-3 ")).check()
    page.get_by_label("Message à la structure").fill("Accordé : merci de nous avoir prévenus.")
    page.get_by_role("button", name="Enregistrer la décision").click()
    expect(page.locator(".request-state")).to_contain_text("En attente du bon de commande")
    page.get_by_label("Numéro de bon de commande ou d'engagement").fill("BC-2026-118")
    page.get_by_role("button", name="Enregistrer le bon de commande").click()
    expect(page.locator(".request-state")).to_contain_text("Facturée")
    invoice_number = re.search(r"FAC-\d{4}-\d{5}", page.locator("main").inner_text()).group(0)

    # --- the member: the « facture disponible » email, then the invoice from « Historique des adhésions »
    mailbox_message(page, url, MEMBER, "Votre facture est disponible")
    expect(page.locator("body")).to_contain_text(invoice_number)
    switch_to(page, url, MEMBER, password)
    page.get_by_role("link", name="Mes adhésions").first.click()
    expect(page.locator("main")).to_contain_text("Facturée")
    history = page.get_by_role("table", name=re.compile("Historique des adhésions"))
    invoice = download(page, lambda: history.get_by_role("link", name=re.compile(invoice_number)).click())
    flavor, xml = get_facturx_xml_from_pdf(io.BytesIO(invoice), check_xsd=False)
    xml_check_xsd(xml, flavor="factur-x", level="en16931")
    xml_text = xml.decode()
    ent3 = tier_amount("ENT-3", 1)  # `make run` builds the open season's grid one year after the base
    assert invoice_number in xml_text and "BC-2026-118" in xml_text and f"{ent3:.2f}" in xml_text

    # --- staff record the payment; the member's membership is paid
    switch_to(page, url, STAFF, password)
    page.goto(url + "/admin/demandes")
    page.get_by_role("link", name=re.compile("Paysages Durand SARL")).first.click()
    page.get_by_label("Référence").fill("VIR DURAND 118")
    page.get_by_role("button", name="Enregistrer le paiement").click()
    expect(page.locator(".request-state")).to_contain_text("Payée")

    # the dashboard, the exports and the journal tell the same story
    nav = page.get_by_role("navigation", name="Administration")
    nav.get_by_role("link", name="Tableau de bord").click()
    not_renewed = page.get_by_role("region", name=re.compile("Pas encore renouvelées"))
    expect(not_renewed).to_be_visible()
    expect(not_renewed).not_to_contain_text("Paysages Durand SARL")
    nav.get_by_role("link", name="Exports").click()
    payments = download(page, lambda: page.get_by_role("link", name="Paiements reçus").click()).decode("utf-8-sig")
    assert "VIR DURAND 118" in payments and invoice_number in payments
    invoices = download(page, lambda: page.get_by_role("link", name="Factures émises").click()).decode("utf-8-sig")
    assert invoice_number in invoices and "BC-2026-118" in invoices
    nav.get_by_role("link", name="Journal").click()
    journal = page.locator("main")
    for step in ("Demande d'adhésion enregistrée", "Changement de tranche décidé", "Bon de commande enregistré",
                 "Facture émise", "Document téléchargé", "Paiement enregistré", "Demande entièrement payée"):
        expect(journal).to_contain_text(step)
    switch_to(page, url, MEMBER, password)
    page.get_by_role("link", name="Mes adhésions").first.click()
    expect(page.get_by_role("row", name=re.compile(f"^{year}"))).to_contain_text("Payée")
