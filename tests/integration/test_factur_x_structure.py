"""What makes a PDF a Factur-X invoice beyond its XML (Factur-X 1.0 § 6, PDF/A-3 ISO 19005-3), read
back with pypdf from what the PDF adapter produces, whichever tool writes it: the attachment and
its file specification, the catalog's entries, the XMP packet's PDF/A identification and
Factur-X extension schema, and the trailer's identifier."""
from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest
from lxml import etree
from pypdf import PdfReader

from chalicelib.adapters.pdf import PdfRenderer
from chalicelib.adapters.templates import TemplateRenderer, find_templates_dir
from chalicelib.domain.documents import build_credit_note, build_invoice
from chalicelib.local.demo import demo_association, demo_organisations

ORG = next(demo.org for demo in demo_organisations() if demo.org.org_id == "org-montclair")
FX = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
NS = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
      "pdfaExtension": "http://www.aiim.org/pdfa/ns/extension/", "pdfaSchema": "http://www.aiim.org/pdfa/ns/schema#",
      "pdfaProperty": "http://www.aiim.org/pdfa/ns/property#", "fx": FX}


def _invoice():
    document = build_invoice(settings=demo_association(), org=ORG, today=date(2026, 12, 1), year=2027,
                             tier_code="COL-3", tier_label="Commune", amount=Decimal("742"),
                             po_number="EJ-2026-004512", service_code="ESPACES-VERTS")
    return replace(document, number="FAC-2026-00001", document_id="doc-1")


@pytest.fixture(scope="module")
def renderer():
    return PdfRenderer(TemplateRenderer(find_templates_dir(None)))


@pytest.fixture(scope="module", params=["invoice", "credit note"])
def made(request, renderer):
    invoice = _invoice()
    document = invoice if request.param == "invoice" else replace(
        build_credit_note(invoice, reason="Doublon", today=date(2026, 12, 10)), number="AV-2026-00001",
        document_id="av-1")
    pdf = renderer.render(document)
    return PdfReader(BytesIO(pdf)), renderer.cii_xml(document)


def test_the_xml_is_the_one_associated_file_named_factur_x_xml_with_relationship_data(made):
    reader, xml = made
    catalog = reader.trailer["/Root"]
    names = catalog["/Names"]["/EmbeddedFiles"]["/Names"]
    assert names[0] == "factur-x.xml" and len(names) == 2
    spec = names[1].get_object()
    assert [a.get_object() for a in catalog["/AF"]] == [spec]  # listed once
    assert spec["/Type"] == "/Filespec" and spec["/F"] == spec["/UF"] == "factur-x.xml"
    assert spec["/AFRelationship"] == "/Data"
    embedded = spec["/EF"]["/F"].get_object()
    assert embedded["/Type"] == "/EmbeddedFile" and embedded["/Subtype"] == "/text/xml"
    assert embedded.get_data() == xml
    params = embedded["/Params"]
    assert params["/Size"] == len(xml) and "/ModDate" in params
    checksum = params["/CheckSum"]  # a byte string, or text if its bytes happen to decode
    raw = checksum.get_original_bytes() if hasattr(checksum, "get_original_bytes") else bytes(checksum)
    assert raw == hashlib.md5(xml).digest()


def test_the_catalog_opens_on_the_attachment_in_french_with_an_srgb_output_intent(made):
    reader, _ = made
    catalog = reader.trailer["/Root"]
    assert catalog["/Lang"] == "fr-FR" and catalog["/PageMode"] == "/UseAttachments"
    (intent,) = catalog["/OutputIntents"]
    intent = intent.get_object()
    assert intent["/S"] == "/GTS_PDFA1" and intent["/DestOutputProfile"].get_object().get_data()[36:40] == b"acsp"
    assert len(reader.trailer["/ID"]) == 2  # PDF/A wants the file identifier


def test_the_xmp_declares_pdf_a_3b_and_the_factur_x_extension_schema_and_values(made):
    reader, _ = made
    xmp = etree.fromstring(reader.trailer["/Root"]["/Metadata"].get_object().get_data())

    def one(path):
        return xmp.xpath(f"string({path})", namespaces=NS)

    assert (one("//@pdfaid:part") or one("//pdfaid:part")) == "3"
    assert (one("//@pdfaid:conformance") or one("//pdfaid:conformance")) == "B"
    (schema,) = xmp.xpath("//pdfaExtension:schemas/rdf:Bag/rdf:li", namespaces=NS)
    assert schema.xpath("string(pdfaSchema:namespaceURI)", namespaces=NS) == FX
    assert schema.xpath("string(pdfaSchema:prefix)", namespaces=NS) == "fx"
    properties = schema.xpath("pdfaSchema:property/rdf:Seq/rdf:li", namespaces=NS)
    assert sorted(p.xpath("string(pdfaProperty:name)", namespaces=NS) for p in properties) == [
        "ConformanceLevel", "DocumentFileName", "DocumentType", "Version"]
    assert {p.xpath("string(pdfaProperty:valueType)", namespaces=NS) for p in properties} == {"Text"}
    assert {p.xpath("string(pdfaProperty:category)", namespaces=NS) for p in properties} == {"external"}
    assert one("//fx:DocumentType") == "INVOICE"
    assert one("//fx:DocumentFileName") == "factur-x.xml"
    assert one("//fx:Version") == "1.0"
    assert one("//fx:ConformanceLevel") == "EN 16931"
