"""« Éditer un devis », « Historique des adhésions » and document downloads, through the app."""
from __future__ import annotations

import io
import re
from decimal import Decimal
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pytest
from facturx import get_facturx_xml_from_pdf, xml_check_xsd

from chalicelib.domain.model import Address, Category, Contact, Membership, MembershipStatus, Organisation, Role
from chalicelib.local.demo import DEMO_PASSWORD
from chalicelib.services import documents
from tests.conftest import sent_emails
from tests.functional.conftest import MEMBER, MEMBER_B, STAFF, Browser


@pytest.fixture
def member(browser):
    browser.login(MEMBER)
    return browser


def edit_quote(browser) -> str:
    """Click « Éditer un devis »; return the download route it leads to."""
    browser.get("/mon-compte/adhesions")
    response = browser.post("/mon-compte/devis", {})
    assert response.status_code == 303, response.body[:300]
    return response.headers["Location"]


def test_mes_adhesions_offers_editer_un_devis(member):
    page = member.get("/mon-compte/adhesions")
    assert page.status_code == 200
    assert 'action="/mon-compte/devis"' in member.text() and "Éditer un devis" in member.text()


def test_editer_un_devis_downloads_the_quote_through_a_short_lived_link(member):
    location = edit_quote(member)
    assert location.startswith("/mon-compte/documents/")

    response = member.get(location)

    assert response.status_code == 302
    link = urlsplit(response.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert query["response-content-disposition"] == 'attachment; filename="DEV-2026-0001.pdf"'
    assert query["response-content-type"] == "application/pdf" and query["X-Amz-Expires"] == "300"
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Referrer-Policy"] == "no-referrer"


def test_a_download_is_in_the_audit_trail_without_its_link(member, rt):
    response = member.get(edit_quote(member))
    signature = parse_qs(urlsplit(response.headers["Location"]).query)["X-Amz-Signature"][0]
    [event] = [e for e in rt.audit.in_month("2026-11") if e.action == "document.downloaded"]
    member_id = rt.contacts.find_by_email(MEMBER).contact_id
    assert (event.actor, event.target, event.org_id) == (member_id, "DEV-2026-0001", "org-montclair")
    assert event.details == {"kind": "quote", "year": 2027}  # the quote of the year to renew
    assert signature not in repr(event)


def test_the_page_lets_its_quote_form_end_at_the_presigned_link(member):
    """The browser applies form-action to every redirect after a form: the bucket must be allowed."""
    page = member.get("/mon-compte/adhesions")
    form_action = next(d for d in page.headers["Content-Security-Policy"].split(";") if "form-action" in d).split()
    link = urlsplit(member.get(edit_quote(member)).headers["Location"])
    assert f"{link.scheme}://{link.netloc}" in form_action[1:]
    assert form_action[1:] == ["'self'", f"{link.scheme}://{link.netloc}"]  # nothing more


def test_editer_un_devis_again_gives_the_same_quote(member):
    assert edit_quote(member) == edit_quote(member)


def test_the_quote_is_listed_in_the_history(member):
    location = edit_quote(member)
    member.get("/mon-compte/adhesions")
    assert f'href="{location}"' in member.text() and "Devis DEV-2026-0001 du 28 novembre 2026" in member.text()


def test_another_organisations_document_is_a_404(member, new_browser):
    location = edit_quote(member)
    other = new_browser()
    other.login(MEMBER_B)

    response = other.get(location)

    assert response.status_code == 404 and "Document introuvable" in other.text()
    assert "Location" not in response.headers and "X-Amz-" not in str(response.headers)


def test_an_unknown_document_is_a_404(member):
    assert member.get("/mon-compte/documents/0123456789abcdef").status_code == 404


def test_documents_need_a_member_session(member, new_browser):
    location = edit_quote(member)
    anonymous = new_browser()
    assert anonymous.get(location).status_code == 303
    assert anonymous.last.headers["Location"].startswith("/connexion")
    staff = new_browser()
    staff.login(STAFF)
    assert staff.get(location).status_code == 403


def test_editer_un_devis_needs_the_form_token(member):
    member.get("/mon-compte/adhesions")
    assert member.post("/mon-compte/devis", {}, csrf=False).status_code == 403
    assert member.post("/mon-compte/devis", {}, csrf="0" * 64).status_code == 403


def test_an_issued_invoice_is_announced_by_email_and_downloadable_from_the_history(member, rt):
    invoice = documents.issue_invoice(rt, org_id="org-montclair", year=2027, tier_code="COL-3",
                                      tier_label="Commune de 20 000 à 50 000 habitants", amount=Decimal("742"),
                                      po_number="EJ-2026-004512", request_id="req-montclair-2027")

    subjects = {m.subject for m in sent_emails()}
    assert subjects == {"Votre facture est disponible — Cité Verte"}  # the invoice itself goes to Chorus Pro
    assert rt.chorus_deposits.get(invoice.number).flux
    member.get("/mon-compte/adhesions")
    page = member.text()
    assert f"Facture {invoice.number}" in page
    assert f'href="/mon-compte/documents/{invoice.document_id}"' in page
    response = member.get(f"/mon-compte/documents/{invoice.document_id}")
    assert response.status_code == 302
    assert f'filename="{invoice.number}.pdf"' in parse_qs(urlsplit(response.headers["Location"]).query)[
        "response-content-disposition"][0]


def test_a_member_without_a_validated_membership_gets_a_french_explanation(client, demo, rt):
    org = Organisation("org-nouvelle", "Nouvelle commune", Category.COLLECTIVITE,
                       Address("1 place", "01000", "Bourg"), "a@nouvelle.example")
    rt.organisations.add(org)
    rt.contacts.add(Contact("c-new", "new@nouvelle.example", "Nina", Role.CONTACT, org.org_id,
                            rt.hasher.hash(DEMO_PASSWORD)))
    browser = Browser(client)
    browser.login("new@nouvelle.example")
    browser.get("/mon-compte/adhesions")
    assert "Éditer un devis" not in browser.text()

    response = browser.post("/mon-compte/devis", {})

    assert response.status_code == 409 and "contactez-nous" in browser.text()


def test_a_quote_for_a_hostile_name_renders(client, demo, rt):
    payload = '<script>alert("x")</script>"\' & 🌳 ' + "x" * 400
    org = Organisation("org-hostile", payload, Category.ENTREPRISE, Address(payload, "75001", payload),
                       "a@hostile.example", siret="1" * 14)
    rt.organisations.add(org)
    rt.memberships.save(Membership(org.org_id, 2026, "ENT-1", payload, Decimal("150"), MembershipStatus.PAID))
    rt.contacts.add(Contact("c-hostile", "h@hostile.example", payload, Role.CONTACT, org.org_id,
                            rt.hasher.hash(DEMO_PASSWORD)))
    browser = Browser(client)
    browser.login("h@hostile.example")

    location = edit_quote(browser)

    [stored] = rt.documents.for_organisation(org.org_id)
    assert location.endswith(stored.document_id)
    assert rt.storage.get(stored.s3_key).startswith(b"%PDF")
    browser.get("/mon-compte/adhesions")
    assert "<script>alert" not in browser.last.body.decode()


def test_a_quote_then_a_renewal_without_purchase_order_gives_a_factur_x_invoice_to_download(browser, rt):
    """A contact gets a quote, renews without a PO, is told by email, downloads the invoice."""
    browser.login("n.durand@paysages-durand.example")  # Paysages Durand SARL: 2026 not renewed yet
    quote_link = edit_quote(browser)
    assert browser.get(quote_link).status_code == 302
    browser.get("/mon-compte/adhesions/renouveler")
    response = browser.post("/mon-compte/adhesions/renouveler", {
        "tier_choice": "confirm", "payment_method": "virement", "wait_for_purchase_order": "no",
        "address_line1": "ZA des Grands Champs, 8 rue des Artisans", "postcode": "35000", "city": "Rennes",
        "siret": "48312345600027", "invoice_email": "compta@paysages-durand.example"})
    assert response.status_code == 303

    invoice = next(d for d in rt.documents.for_organisation("org-durand") if d.number.startswith("FAC-"))
    email = next(m for m in sent_emails()
                 if m.recipients == ("n.durand@paysages-durand.example",) and "facture" in m.subject.lower())
    assert "/mon-compte/adhesions" in email.text and "X-Amz-Signature" not in email.text + email.html
    browser.get("/mon-compte/adhesions")
    link = re.search(rf'href="(/mon-compte/documents/[^"]+)"[^>]*>[^<]*{invoice.number}', browser.text())
    assert link, "the invoice is listed in « Historique des adhésions »"
    presigned = browser.get(link.group(1)).headers["Location"]
    url = urlsplit(presigned)
    assert parse_qs(url.query)["response-content-disposition"][0].startswith("attachment")
    bucket, key = url.hostname.split(".s3.")[0], unquote(url.path.lstrip("/"))
    pdf = boto3.client("s3", region_name=rt.config.region).get_object(Bucket=bucket, Key=key)["Body"].read()
    flavor, xml = get_facturx_xml_from_pdf(io.BytesIO(pdf), check_xsd=False)
    xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert invoice.number in xml.decode() and "48312345600027" in xml.decode()
