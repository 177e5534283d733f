"""The PDF adapter with the real WeasyPrint and factur-x: Factur-X EN 16931 invoices and credit
notes (XML extracted from the produced PDF and validated against the XSD), French mentions,
hostile values, local resources only, and WeasyPrint imported lazily."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import date
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pytest
from facturx import get_facturx_xml_from_pdf, get_level, xml_check_xsd
from lxml import etree
from pypdf import PdfReader

from chalicelib.adapters.pdf import NS, PdfRenderer
from chalicelib.adapters.templates import TemplateRenderer, find_templates_dir
from chalicelib.domain.documents import build_certificate, build_credit_note, build_invoice, build_quote
from chalicelib.domain.model import Address
from chalicelib.local.demo import demo_association, demo_organisations

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 28)
SETTINGS = demo_association()
ORGS = {demo.org.org_id: demo.org for demo in demo_organisations()}
COMMUNE = ORGS["org-montclair"]
COMPANY = ORGS["org-durand"]
HOSTILE = '<script>alert("x")</script><img src="http://example.com/x.png"> "\' & 🌳\x07'
LONG = "Établissement" + "x" * 487  # 500 characters, no space to break at


def _invoice(org=COMMUNE, settings=SETTINGS, number="FAC-2026-00001", **extra):
    values = {"year": 2027, "tier_code": "COL-3", "tier_label": "Commune de 20 000 à 50 000 habitants",
              "amount": Decimal("720"), "po_number": "EJ-2026-004512", "service_code": "ESPACES-VERTS", **extra}
    document = build_invoice(settings=settings, org=org, today=TODAY, **values)
    return replace(document, number=number, document_id="doc-" + number)


@pytest.fixture(scope="module")
def renderer():
    return PdfRenderer(TemplateRenderer(find_templates_dir(None)))


@pytest.fixture(scope="module")
def invoice():
    return _invoice()


@pytest.fixture(scope="module")
def invoice_pdf(renderer, invoice):
    return renderer.render(invoice)


@pytest.fixture(scope="module")
def credit_note(invoice):
    note = build_credit_note(invoice, reason="Adhésion saisie en double", today=date(2026, 12, 10))
    return replace(note, number="AV-2026-00001", document_id="doc-av")


@pytest.fixture(scope="module")
def credit_note_pdf(renderer, credit_note):
    return renderer.render(credit_note)


@pytest.fixture(scope="module")
def hostile_invoice():
    org = replace(COMPANY, name=HOSTILE + " Mairie " + LONG, siret="48312345600027",
                  billing_address=Address(HOSTILE + LONG, "75001", HOSTILE, line2=LONG))
    return _invoice(org=org, number="FAC-2026-00002", po_number=HOSTILE + "x" * 40, service_code="<b>SERVICE</b>&")


@pytest.fixture(scope="module")
def hostile_pdf(renderer, hostile_invoice):
    return renderer.render(hostile_invoice)


def xml_of(pdf: bytes) -> etree._Element:
    filename, xml = get_facturx_xml_from_pdf(pdf, check_xsd=True)
    assert filename == "factur-x.xml", "no valid Factur-X XML embedded"
    return etree.fromstring(xml)


def value(root, path: str) -> str:
    found = root.xpath(path, namespaces=NS)
    assert found, path
    return found[0] if isinstance(found[0], str) else found[0].text


def text_of(pdf: bytes) -> str:
    """The PDF's text with runs of white space as one space (lines may wrap anywhere).

    pypdf decodes a font whose glyphs include an emoji as UTF-16: its NUL bytes are dropped.
    """
    text = " ".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)
    return re.sub(r"\s+", " ", text.replace("\x00", ""))


def xmp_of(pdf: bytes) -> bytes:
    return PdfReader(BytesIO(pdf)).trailer["/Root"]["/Metadata"].get_object().get_data()


# --- Factur-X --------------------------------------------------------------------------


def test_an_invoice_is_pdf_a3_with_factur_x_xml_valid_against_the_en16931_xsd(invoice_pdf):
    root = xml_of(invoice_pdf)
    assert xml_check_xsd(root, flavor="factur-x", level="en16931")
    assert get_level(root, "factur-x") == "en16931"
    xmp = xmp_of(invoice_pdf)
    assert re.search(rb"pdfaid:part(>|=\")3", xmp) and re.search(rb"pdfaid:conformance(>|=\")B", xmp)
    assert b"EN 16931" in xmp and b"factur-x.xml" in xmp


XMP_NS = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "dc": "http://purl.org/dc/elements/1.1/",
          "pdf": "http://ns.adobe.com/pdf/1.3/", "xmp": "http://ns.adobe.com/xap/1.0/"}


def _pdf_date_as_xmp(value: str) -> str:
    """``D:20261207193048+00'00'`` → ``2026-12-07T19:30:48+00:00``."""
    d = value.removeprefix("D:")
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}T{d[8:10]}:{d[10:12]}:{d[12:14]}{d[14:17]}:{d[18:20]}"


@pytest.mark.parametrize("which", ["invoice_pdf", "credit_note_pdf"])
def test_the_info_dictionary_and_the_xmp_metadata_agree(which, request):
    """PDF/A-3 (ISO 19005-3, 6.6.2.3): every Info entry has its XMP twin with the same value."""
    pdf = request.getfixturevalue(which)
    info = PdfReader(BytesIO(pdf)).metadata
    xmp = etree.fromstring(xmp_of(pdf))

    def one(path):
        return xmp.xpath(f"string({path})", namespaces=XMP_NS)

    assert info["/Producer"].startswith("WeasyPrint")
    assert one("//pdf:Producer") == info["/Producer"]
    assert one("//pdf:Keywords") == info["/Keywords"] and info["/Keywords"].startswith("Factur-X, ")
    assert one("//dc:title//rdf:li") == info["/Title"]
    assert one("//dc:creator//rdf:li") == info["/Author"]
    assert one("//dc:description//rdf:li") == info["/Subject"]
    assert one("//xmp:CreatorTool") == info["/Creator"]
    assert one("//xmp:CreateDate") == _pdf_date_as_xmp(info["/CreationDate"])
    assert one("//xmp:ModifyDate") == _pdf_date_as_xmp(info["/ModDate"])


def test_the_invoice_xml_carries_the_invoice_amounts_and_identifiers(invoice_pdf, invoice):
    root = xml_of(invoice_pdf)
    deal = "//rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
    settle = "//rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
    assert value(root, "//rsm:ExchangedDocument/ram:ID") == invoice.number
    assert value(root, "//rsm:ExchangedDocument/ram:TypeCode") == "380"
    assert value(root, "//rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString") == "20261128"
    assert value(root, f"{deal}/ram:BuyerReference") == "ESPACES-VERTS"  # BT-10
    assert value(root, f"{deal}/ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID") == "EJ-2026-004512"  # BT-13
    buyer_id = root.xpath(f"{deal}/ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID", namespaces=NS)[0]
    assert (buyer_id.text, buyer_id.get("schemeID")) == (COMMUNE.siret[:9], "0002")  # SIREN (BT-47)
    buyer_siret = root.xpath(f"{deal}/ram:BuyerTradeParty/ram:GlobalID", namespaces=NS)[0]
    assert (buyer_siret.text, buyer_siret.get("schemeID")) == (COMMUNE.siret, "0009")  # SIRET (BT-46)
    assert value(root, f"{deal}/ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID") == SETTINGS.siret[:9]
    assert value(root, "//rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID") == "S1"
    assert value(root, f"{deal}/ram:BuyerTradeParty/ram:Name") == COMMUNE.name
    totals = invoice.totals
    money = f"{settle}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
    assert Decimal(value(root, f"{money}/ram:GrandTotalAmount")) == totals.gross == Decimal("720.00")
    assert Decimal(value(root, f"{money}/ram:DuePayableAmount")) == totals.gross
    assert Decimal(value(root, f"{money}/ram:TaxTotalAmount")) == totals.vat == 0
    assert value(root, f"{settle}/ram:ApplicableTradeTax/ram:CategoryCode") == "O"
    assert value(root, f"{settle}/ram:ApplicableTradeTax/ram:ExemptionReasonCode") == "VATEX-EU-O"
    assert value(root, f"{settle}/ram:ApplicableTradeTax/ram:ExemptionReason") == invoice.vat.wording
    assert not root.xpath(f"{deal}/ram:SellerTradeParty/ram:SpecifiedTaxRegistration", namespaces=NS)
    assert value(root, f"{settle}/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString") == "20261228"
    assert value(root, f"{settle}//ram:IBANID") == SETTINGS.iban.replace(" ", "")
    assert value(root, f"{settle}/ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString") == "20270101"
    assert value(root, f"{settle}/ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString") == "20271231"


def test_a_credit_note_is_factur_x_type_381_quoting_the_invoice_number_and_date(credit_note_pdf, credit_note):
    root = xml_of(credit_note_pdf)
    assert value(root, "//rsm:ExchangedDocument/ram:ID") == "AV-2026-00001"
    assert value(root, "//rsm:ExchangedDocument/ram:TypeCode") == "381"
    referenced = "//ram:ApplicableHeaderTradeSettlement/ram:InvoiceReferencedDocument"
    assert value(root, f"{referenced}/ram:IssuerAssignedID") == "FAC-2026-00001"
    assert value(root, f"{referenced}/ram:FormattedIssueDateTime/qdt:DateTimeString") == "20261128"
    assert Decimal(value(root, "//ram:GrandTotalAmount")) == credit_note.totals.gross
    text = text_of(credit_note_pdf)
    assert "FAC-2026-00001" in text and "Adhésion saisie en double" in text


def test_a_vat_registered_association_invoices_with_category_s_and_its_rate(renderer):
    settings = replace(SETTINGS, vat_regime="registered", vat_rate="20.00", vat_number="FR12441122334")
    document = _invoice(settings=settings, number="FAC-2026-00003")
    pdf = renderer.render(document)
    root = xml_of(pdf)
    assert value(root, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode") == "S"
    assert value(root, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:RateApplicablePercent") == "20.00"
    assert Decimal(value(root, "//ram:TaxTotalAmount")) == Decimal("144.00")
    assert Decimal(value(root, "//ram:GrandTotalAmount")) == Decimal("864.00")
    assert value(root, "//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == "FR12441122334"
    text = text_of(pdf)
    assert "Total HT" in text and "864,00" in text and "FR12441122334" in text


# --- French mentions -------------------------------------------------------------------


def test_an_invoice_shows_the_french_legal_mentions(invoice_pdf):
    text = text_of(invoice_pdf)
    for expected in ("FACTURE", "FAC-2026-00001", "Cité Verte", "SIREN 441 122 334", "SIRET 441 122 334 00027",
                     "Ville de Montclair", "SIRET 214 409 876 00019", "28 novembre 2026",
                     "du 1er janvier au 31 décembre 2027", "Commune de 20 000 à 50 000 habitants", "720,00",
                     "hors du champ d'application de la TVA", "28 décembre 2026", "Pas d'escompte",
                     "FR76 3000 4000 0500 0012 3456 789", SETTINGS.bic, "Par chèque", "EJ-2026-004512", "ESPACES-VERTS",
                     "Code de la commande publique", "40,00"):
        assert expected in text, expected  # a public buyer: late interest and indemnity under the CCP


def test_a_business_client_is_told_of_the_40_euro_recovery_indemnity(renderer):
    text = text_of(renderer.render(_invoice(org=COMPANY, number="FAC-2026-00004", po_number="", service_code="")))
    assert "Indemnité forfaitaire pour frais de recouvrement" in text and "40,00" in text
    assert "Code service" not in text and "bon de commande :" not in text


def test_a_quote_shows_its_validity_and_the_contact_us_note_and_embeds_no_xml(renderer):
    quote = replace(build_quote(settings=SETTINGS, org=COMMUNE, year=2027, tier_code="COL-3",
                                tier_label="Commune de 20 000 à 50 000 habitants", amount=Decimal("742"), today=TODAY),
                    number="DEV-2026-0001", document_id="q")
    pdf = renderer.render(quote)
    text = text_of(pdf)
    for expected in ("DEVIS", "DEV-2026-0001", "28 décembre 2026", "742,00", "tranche tarifaire a changé",
                     "du 1er janvier au 31 décembre 2027", "Bon pour accord"):
        assert expected in text, expected
    assert get_facturx_xml_from_pdf(pdf) == (False, False)


def test_a_certificate_attests_the_paid_membership(renderer):
    certificate = replace(build_certificate(settings=SETTINGS, org=COMMUNE, year=2026, tier_label="Commune moyenne",
                                            amount=Decimal("720"), today=TODAY), number="ATT-2026-00001", document_id="a")
    text = text_of(renderer.render(certificate))
    for expected in ("ATTESTATION", "atteste que", "Ville de Montclair", "2026", "720,00", "intégralement réglée",
                     "Fait à Angers"):
        assert expected in text, expected


# --- hostile values --------------------------------------------------------------------


def test_hostile_values_are_escaped_in_the_html(renderer, hostile_invoice):
    html = renderer.html(hostile_invoice)
    assert "<script>" not in html and "<img" not in html and "<b>SERVICE" not in html
    assert "&lt;script&gt;" in html


def test_hostile_values_keep_the_xml_valid_and_intact(hostile_pdf, hostile_invoice):
    root = xml_of(hostile_pdf)  # extracted only if valid against the XSD
    expected = HOSTILE.replace("\x07", "")  # characters XML cannot carry are dropped
    assert value(root, "//ram:BuyerTradeParty/ram:Name") == expected + " Mairie " + LONG
    assert value(root, "//ram:BuyerTradeParty/ram:PostalTradeAddress/ram:CityName") == expected
    assert value(root, "//ram:BuyerReference") == "<b>SERVICE</b>&"


def test_hostile_values_render_as_text_wrapped_inside_the_page(hostile_pdf):
    reader = PdfReader(BytesIO(hostile_pdf))
    assert len(reader.pages) <= 2
    text = text_of(hostile_pdf)
    assert "<script>alert" in text and "Mairie" in text and "FAC-2026-00002" in text
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftotext) is not installed")
    boxes = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=hostile_pdf, capture_output=True, check=True).stdout
    right_edges = [float(x) for x in re.findall(rb'xMax="([0-9.]+)"', boxes)]
    page_width = float(re.search(rb'<page width="([0-9.]+)"', boxes).group(1))
    margin = 16 / 25.4 * 72
    assert right_edges and max(right_edges) <= page_width - margin + 1  # nothing runs past the right margin


# --- local resources, lazy import ------------------------------------------------------


@pytest.mark.parametrize("url", ["http://example.com/logo.png", "https://example.com/x.css", "ftp://example.com/x",
                                 "file:///etc/passwd", "file:///work/../etc/hosts"])
def test_documents_never_fetch_anything_but_local_template_files(renderer, url):
    with pytest.raises(ValueError):
        renderer.url_fetcher.fetch(url)


def test_documents_may_use_files_beside_their_templates(renderer):
    response = renderer.url_fetcher.fetch((renderer.root / "print.css").as_uri())
    assert b"@page" in response.read()
    response.close()


def test_importing_the_app_does_not_import_weasyprint():
    code = "import sys, app; print('weasyprint' in sys.modules, 'facturx' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_every_category_of_member_can_be_invoiced(renderer):
    for org in ORGS.values():
        pdf = renderer.render(_invoice(org=org, number="FAC-2026-00009", service_code=org.service_code))
        assert value(xml_of(pdf), "//ram:BuyerTradeParty/ram:Name") == org.name


# --- the lean user-agent stylesheet ---------------------------------------------------------


def _raster(pdf: bytes, tmp_path, name: str) -> bytes:
    """Every page at 100 dpi (poppler's pdftoppm), as raw pixels."""
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "100", str(source), str(tmp_path / name)], check=True)
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob(f"{name}-*.ppm")))


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed")
@pytest.mark.parametrize("kind", ["quote", "invoice", "credit_note", "certificate", "hostile"])
def test_the_lean_user_agent_sheet_draws_the_same_pixels_as_weasyprints_own(renderer, kind, request, tmp_path):
    """``templates/pdf/ua.css`` keeps only the user-agent rules of the elements the templates use:
    every kind of document is drawn exactly as with WeasyPrint's full HTML5 sheet."""
    from weasyprint import HTML

    documents = {
        "quote": lambda: replace(build_quote(settings=SETTINGS, org=COMMUNE, year=2027, tier_code="COL-3",
                                             tier_label="Commune", amount=Decimal("742"), today=TODAY),
                                 number="DEV-2026-0001", document_id="q"),
        "invoice": lambda: request.getfixturevalue("invoice"),
        "credit_note": lambda: request.getfixturevalue("credit_note"),
        "certificate": lambda: replace(build_certificate(settings=SETTINGS, org=COMMUNE, year=2026,
                                                         tier_label="Commune moyenne", amount=Decimal("720"),
                                                         today=TODAY), number="ATT-2026-00001", document_id="a"),
        "hostile": lambda: request.getfixturevalue("hostile_invoice"),
    }
    document = documents[kind]()
    fetcher, fonts, css, _ = renderer._weasy
    full = HTML(string=renderer.html(document), base_url=renderer.root.as_uri() + "/",
                url_fetcher=fetcher).write_pdf(stylesheets=[css], font_config=fonts)
    lean = renderer._weasyprint(renderer.html(document))
    assert _raster(lean, tmp_path, "lean") == _raster(full, tmp_path, "full")
