"""PDF documents: Jinja2 HTML → WeasyPrint, and Factur-X (EN 16931) for invoices and credit notes.

- Templates are ``templates/pdf/<kind>.html`` with ``templates/pdf/print.css``; every value is
  HTML-escaped by Jinja's autoescape and long words wrap (see the stylesheet).
- Nothing is fetched from the network: the URL fetcher only serves files under
  ``templates/pdf`` and ``data:`` URLs; the font is DejaVu Sans cut down to Latin scripts
  (``templates/pdf/fonts``), the system's DejaVu Sans drawing any other character.
- Streams are deflated once, by ``_compress_once`` (WeasyPrint's finisher), not twice by pydyf.
- Invoices and credit notes are PDF/A-3b with their CII XML embedded as ``factur-x.xml`` by
  WeasyPrint itself (its PDF/A-3 variant and attachments, an XMP packet with the Factur-X
  extension schema), in one pass; the XML is checked against the EN 16931 XSD first (factur-x).
- WeasyPrint is imported on first render only: importing the app does not pay for it.
"""
from __future__ import annotations

import re
import threading
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from ..domain.documents import CreditNote, DocumentKind, Invoice, Party, period_label
from ..domain.formatting import format_date
from .templates import TemplateRenderer

TEMPLATES = {
    DocumentKind.QUOTE: "pdf/quote.html",
    DocumentKind.INVOICE: "pdf/invoice.html",
    DocumentKind.CREDIT_NOTE: "pdf/credit_note.html",
    DocumentKind.CERTIFICATE: "pdf/certificate.html",
}
FACTURX_LEVEL = "en16931"
FACTURX_FILENAME = "factur-x.xml"
# Info /Creator and xmp:CreatorTool of invoices and credit notes (the HTML's generator).
GENERATOR = "Adhésions en ligne (Factur-X EN 16931)"
_FX_NS = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
_FX_PROPERTIES = (
    ("DocumentFileName", "The name of the embedded XML document"),
    ("DocumentType", "The type of the hybrid document in capital letters, e.g. INVOICE or ORDER"),
    ("Version", "The actual version of the standard applying to the embedded XML document"),
    ("ConformanceLevel", "The conformance level of the embedded XML document"),
)
# Characters XML 1.0 cannot carry (control characters, lone surrogates, non-characters).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class PdfRenderer:
    def __init__(self, templates: TemplateRenderer):
        self.templates = templates
        self.root = (templates.dir / "pdf").resolve()
        # WeasyPrint and Pango are not documented as thread-safe: one render at a time.
        self._lock = threading.Lock()

    # --- public API ------------------------------------------------------------------
    def render(self, document) -> bytes:
        """The PDF of ``document``: Factur-X PDF/A-3 for invoices and credit notes."""
        html = self.html(document)
        if isinstance(document, (Invoice, CreditNote)):
            return self._factur_x(html, self.cii_xml(document), document)
        return self._weasyprint(html)

    def html(self, document) -> str:
        """The HTML the PDF is made from (escaped by Jinja's autoescape)."""
        return self.templates.page(
            TEMPLATES[document.kind], doc=document, totals=document.totals,
            period=period_label(document.year), siret=format_siret, siren=format_siren,
        )

    @property
    def url_fetcher(self):
        """The only way WeasyPrint gets resources: local files under ``templates/pdf``."""
        return self._weasy[0]

    # --- WeasyPrint ------------------------------------------------------------------
    @cached_property
    def _weasy(self):
        """WeasyPrint's objects, built once: a local-only fetcher, fonts and the stylesheet."""
        from weasyprint import CSS, HTML
        from weasyprint.text.fonts import FontConfiguration
        from weasyprint.urls import URLFetcher

        root = self.root

        class LocalOnlyFetcher(URLFetcher):
            """Serves files under ``templates/pdf`` and ``data:`` URLs; refuses everything else."""

            def fetch(self, url, headers=None):
                if url.startswith("data:"):
                    return super().fetch(url, headers)
                if url.startswith("file:"):
                    path = Path(unquote(urlsplit(url).path)).resolve()
                    if path.is_relative_to(root) and path.is_file():
                        return super().fetch(url, headers)
                raise ValueError(f"resource refused (documents use local files only): {url[:100]}")

        fetcher = LocalOnlyFetcher(allowed_protocols={"file", "data"}, allow_redirects=False)
        fonts = FontConfiguration()
        css = CSS(filename=str(self.root / "print.css"), url_fetcher=fetcher, font_config=fonts)
        # WeasyPrint's HTML5 user-agent sheet has some 250 rules for every HTML element; the
        # documents use 18 elements. ``ua.css`` keeps those elements' rules only: the cascade
        # costs about 9 ms less per render, and the pages are pixel-identical (tested).
        ua = CSS(filename=str(self.root / "ua.css"), url_fetcher=fetcher, font_config=fonts)

        class DocumentHTML(HTML):
            def _ua_stylesheets(self, forms=False):
                return [ua]

        return fetcher, fonts, css, DocumentHTML

    def _weasyprint(self, html: str, metadata=None, finisher=None, **options) -> bytes:
        """The PDF of ``html``; ``metadata`` replaces what WeasyPrint reads from the HTML, and
        ``finisher`` (which must call ``_compress_once``) edits the PDF before it is written."""
        with self._lock:
            fetcher, fonts, css, document_html = self._weasy
            source = document_html(string=html, base_url=self.root.as_uri() + "/", url_fetcher=fetcher)
            rendering = source.render(stylesheets=[css], font_config=fonts, **options)
            if metadata is not None:
                rendering.metadata = metadata
            return rendering.write_pdf(finisher=finisher or _compress_once, **options)

    # --- Factur-X --------------------------------------------------------------------
    def _factur_x(self, html: str, xml: bytes, document) -> bytes:
        """PDF/A-3b with ``factur-x.xml`` embedded, written by WeasyPrint in one pass.

        The XML is checked against the EN 16931 XSD (factur-x), then WeasyPrint writes it as an
        attachment (``/AFRelationship /Data``, listed in the catalog's ``/AF`` by its PDF/A-3
        variant) and an XMP packet with the Factur-X extension schema, made from the values the
        Info dictionary gets. The PDF is never parsed again: the factur-x library's
        ``generate_from_binary`` re-parsed and rewrote it with pypdf (about 11 ms with the
        metadata fix it needed).
        """
        from facturx import xml_check_xsd
        from lxml import etree
        from weasyprint import Attachment

        xml_check_xsd(etree.fromstring(xml), flavor="factur-x", level=FACTURX_LEVEL)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        title = f"{document.kind.label} {document.number}"
        metadata = self._metadata_class(
            title=_xml_text(f"{document.seller.name} : {title}"),
            authors=[_xml_text(document.seller.name)],
            description=_xml_text(f"{title} du {format_date(document.issued_on)} émise par {document.seller.name}"),
            keywords=["Factur-X", document.kind.label],
            generator=GENERATOR,
            created=now.isoformat(),
            modified=now.isoformat(),
            lang="fr-FR",
        )
        attachment = Attachment(string=xml, name=FACTURX_FILENAME, description="Factur-X XML file",
                                relationship="Data", created=now, modified=now)
        return self._weasyprint(html, metadata=metadata, pdf_variant="pdf/a-3b", attachments=[attachment],
                                finisher=_factur_x_catalog)

    @cached_property
    def _metadata_class(self):
        """WeasyPrint's metadata, writing the XMP packet a Factur-X PDF/A-3 needs."""
        from weasyprint.document import DocumentMetadata

        class FacturXMetadata(DocumentMetadata):
            def include_in_pdf(self, pdf, variant, version, conformance, compress):
                import pydyf

                # Left uncompressed (3 KB): readable by tools that look for the packet in the bytes.
                stream = pydyf.Stream([_factur_x_xmp(self, pdf.info, version, conformance)],
                                      {"Type": "/Metadata", "Subtype": "/XML"}, compress=False)
                pdf.add_object(stream)
                pdf.catalog["Metadata"] = stream.reference

        return FacturXMetadata

    def cii_xml(self, document: Invoice | CreditNote) -> bytes:
        """The Cross Industry Invoice XML (Factur-X EN 16931 profile) of an invoice or credit note."""
        return CiiBuilder(document).build()


# --- formatting helpers for the templates --------------------------------------------


def format_siret(siret: str) -> str:
    """``'44112233400027'`` → ``'441 122 334 00027'`` (other values as given)."""
    digits = siret.replace(" ", "")
    if len(digits) == 14 and digits.isdigit():
        return f"{digits[:3]} {digits[3:6]} {digits[6:9]} {digits[9:]}"
    return siret


def format_siren(siret: str) -> str:
    digits = siret.replace(" ", "")[:9]
    if len(digits) == 9 and digits.isdigit():
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    return digits


def _compress_once(rendering, pdf) -> None:
    """WeasyPrint's finisher: every stream deflated once, at zlib's default level.

    pydyf deflates a stream each time it serialises it, at level 9, and serialises every object
    twice when the file gets an identifier (PDF/A does): once to write it, once to hash it. Here
    the streams (fonts, page content, colour profile) are deflated once, at level 6: 0.5 % larger,
    1 to 3 ms less per document, the same PDF once inflated. Without pydyf's serialiser (a
    private function) the streams are left to pydyf.
    """
    import zlib

    try:
        from pydyf import Stream, _to_bytes
    except ImportError:  # pragma: no cover - another pydyf
        return
    for pdf_object in pdf.objects:
        if isinstance(pdf_object, Stream) and pdf_object.compress and "Filter" not in pdf_object.extra:
            data = b"\n".join(_to_bytes(item) for item in pdf_object.stream)
            pdf_object.stream = [zlib.compress(data, 6)]
            pdf_object.extra["Filter"] = "/FlateDecode"
            pdf_object.compress = False


def _xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _factur_x_catalog(rendering, pdf) -> None:
    """WeasyPrint's finisher: what the Factur-X specification adds to a PDF/A-3 catalog."""
    from pydyf import Array

    _compress_once(rendering, pdf)
    pdf.catalog["PageMode"] = "/UseAttachments"  # readers open on the attached XML
    # WeasyPrint 70's PDF/A-3 step lists the file specification twice in /AF: once is enough.
    pdf.catalog["AF"] = Array(list(dict.fromkeys(pdf.catalog["AF"])))
    for pdf_object in pdf.objects:
        # The MIME type Factur-X names (text/xml), whatever the system's MIME table guesses.
        if getattr(pdf_object, "extra", {}).get("Type") == "/EmbeddedFile":
            pdf_object.extra["Subtype"] = "/text#2Fxml"


_XMP_LEVEL = {"en16931": "EN 16931"}


def _factur_x_xmp(metadata, info, version: int, conformance: str) -> bytes:
    """The XMP packet of a Factur-X invoice: PDF/A identification, the Info dictionary's values
    (ISO 19005-3 6.6.2.3 wants them equal), and the Factur-X PDF/A extension schema with its
    four properties (Factur-X 1.0, § 6.2.2)."""
    def text(value) -> str:
        return escape(_xml_text(str(value)))

    props = "".join(
        f"""<rdf:li rdf:parseType="Resource"><pdfaProperty:name>{name}</pdfaProperty:name>"""
        f"""<pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external"""
        f"""</pdfaProperty:category><pdfaProperty:description>{description}</pdfaProperty:description></rdf:li>"""
        for name, description in _FX_PROPERTIES)
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
<pdfaid:part>{version}</pdfaid:part><pdfaid:conformance>{conformance}</pdfaid:conformance></rdf:Description>
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{text(metadata.title)}</rdf:li></rdf:Alt></dc:title>
<dc:creator><rdf:Seq><rdf:li>{text(", ".join(metadata.authors))}</rdf:li></rdf:Seq></dc:creator>
<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{text(metadata.description)}</rdf:li></rdf:Alt></dc:description>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
<pdf:Producer>{text(info["Producer"].string)}</pdf:Producer><pdf:Keywords>{text(", ".join(metadata.keywords))}</pdf:Keywords>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
<xmp:CreatorTool>{text(metadata.generator)}</xmp:CreatorTool>
<xmp:CreateDate>{text(metadata.created)}</xmp:CreateDate><xmp:ModifyDate>{text(metadata.modified)}</xmp:ModifyDate>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/"
 xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">
<pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType="Resource">
<pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>
<pdfaSchema:namespaceURI>{_FX_NS}</pdfaSchema:namespaceURI><pdfaSchema:prefix>fx</pdfaSchema:prefix>
<pdfaSchema:property><rdf:Seq>{props}</rdf:Seq></pdfaSchema:property>
</rdf:li></rdf:Bag></pdfaExtension:schemas>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:fx="{_FX_NS}">
<fx:DocumentType>INVOICE</fx:DocumentType><fx:DocumentFileName>{FACTURX_FILENAME}</fx:DocumentFileName>
<fx:Version>1.0</fx:Version><fx:ConformanceLevel>{_XMP_LEVEL[FACTURX_LEVEL]}</fx:ConformanceLevel>
</rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


# --- CII XML ---------------------------------------------------------------------------

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
INVOICE_TYPE = "380"  # UNTDID 1001: commercial invoice
CREDIT_NOTE_TYPE = "381"
SEPA_CREDIT_TRANSFER = "58"  # UNTDID 4461
SIREN_SCHEME = "0002"  # ISO 6523 ICD 0002: SIRENE, the 9-digit SIREN (legal registration, BT-30 / BT-47)
SIRET_SCHEME = "0009"  # ISO 6523 ICD 0009: the 14-digit SIRET of the establishment (BT-29 / BT-46)
# BT-23, the business process: under the French e-invoicing rules (BR-FR-08) "S1" is an
# invoice for services (membership dues), neither goods (B1) nor mixed (M1).
BUSINESS_PROCESS = "S1"


class CiiBuilder:
    """Builds the CII XML with lxml (values escaped by the serializer, never by hand)."""

    def __init__(self, document: Invoice | CreditNote):
        self.doc = document

    def _el(self, parent, tag: str, text: str | None = None, **attributes):
        from lxml import etree

        prefix, name = tag.split(":")
        element = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}", **attributes)
        if text is not None:
            element.text = _xml_text(str(text))
        return element

    def _date(self, parent, tag: str, value: date, qualified: bool = False):
        holder = self._el(parent, tag)
        self._el(holder, "qdt:DateTimeString" if qualified else "udt:DateTimeString",
                 value.strftime("%Y%m%d"), format="102")

    @staticmethod
    def _amount(value: Decimal) -> str:
        return f"{value:.2f}"

    def build(self) -> bytes:
        from lxml import etree

        doc = self.doc
        root = etree.Element(f"{{{NS['rsm']}}}CrossIndustryInvoice", nsmap=NS)
        context = self._el(root, "rsm:ExchangedDocumentContext")
        self._el(self._el(context, "ram:BusinessProcessSpecifiedDocumentContextParameter"), "ram:ID",
                 BUSINESS_PROCESS)
        self._el(self._el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID",
                 "urn:cen.eu:en16931:2017")

        header = self._el(root, "rsm:ExchangedDocument")
        self._el(header, "ram:ID", doc.number)
        self._el(header, "ram:TypeCode", CREDIT_NOTE_TYPE if isinstance(doc, CreditNote) else INVOICE_TYPE)
        self._date(header, "ram:IssueDateTime", doc.issued_on)
        for subject, content in self._notes():
            note = self._el(header, "ram:IncludedNote")
            self._el(note, "ram:Content", content)
            self._el(note, "ram:SubjectCode", subject)

        transaction = self._el(root, "rsm:SupplyChainTradeTransaction")
        for index, line in enumerate(doc.lines, start=1):
            self._line(transaction, index, line)
        self._agreement(transaction)
        # Required; for a service its only content is the date the service starts (BT-72),
        # the first day of the membership period (an empty element is refused by the rules).
        delivery = self._el(transaction, "ram:ApplicableHeaderTradeDelivery")
        event = self._el(delivery, "ram:ActualDeliverySupplyChainEvent")
        self._date(event, "ram:OccurrenceDateTime", doc.lines[0].period_start or doc.issued_on)
        self._settlement(transaction)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    def _notes(self) -> list[tuple[str, str]]:
        doc = self.doc
        notes = []
        if isinstance(doc, CreditNote):
            notes.append(("AAI", f"Avoir sur la facture {doc.invoice_number} du "
                                 f"{format_date(doc.invoice_issued_on)}. Motif : {doc.reason}"))
        terms = doc.terms  # a credit note repeats its invoice's mentions (BR-FR-05)
        if terms is not None:
            notes.append(("PMD", terms.late_penalty))
            notes.append(("AAB", terms.early_payment))
            if terms.recovery_indemnity is not None:
                notes.append(("PMT", terms.indemnity_wording))
        return [(s, c) for s, c in notes if c.strip()]

    def _tax(self, parent, basis: Decimal | None = None, amount: Decimal | None = None):
        vat = self.doc.vat
        tax = self._el(parent, "ram:ApplicableTradeTax")
        if amount is not None:
            self._el(tax, "ram:CalculatedAmount", self._amount(amount))
        self._el(tax, "ram:TypeCode", "VAT")
        if basis is not None and not vat.charged:
            self._el(tax, "ram:ExemptionReason", vat.wording or "Non soumis à la TVA")
        if basis is not None:
            self._el(tax, "ram:BasisAmount", self._amount(basis))
        self._el(tax, "ram:CategoryCode", vat.category_code)
        if basis is not None and vat.exemption_reason_code:
            self._el(tax, "ram:ExemptionReasonCode", vat.exemption_reason_code)
        if vat.category_code != "O":  # category O carries no rate (BR-O-5)
            self._el(tax, "ram:RateApplicablePercent", self._amount(vat.rate))

    def _line(self, transaction, index: int, line) -> None:
        item = self._el(transaction, "ram:IncludedSupplyChainTradeLineItem")
        self._el(self._el(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(index))
        self._el(self._el(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.description)
        agreement = self._el(item, "ram:SpecifiedLineTradeAgreement")
        price = self._el(agreement, "ram:NetPriceProductTradePrice")
        self._el(price, "ram:ChargeAmount", self._amount(line.unit_price))
        self._el(self._el(item, "ram:SpecifiedLineTradeDelivery"), "ram:BilledQuantity",
                 f"{line.quantity:f}", unitCode="C62")
        settlement = self._el(item, "ram:SpecifiedLineTradeSettlement")
        self._tax(settlement)
        if line.period_start and line.period_end:
            period = self._el(settlement, "ram:BillingSpecifiedPeriod")
            self._date(period, "ram:StartDateTime", line.period_start)
            self._date(period, "ram:EndDateTime", line.period_end)
        summation = self._el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        self._el(summation, "ram:LineTotalAmount", self._amount(line.net))

    def _party(self, parent, tag: str, party: Party, seller: bool) -> None:
        element = self._el(parent, tag)
        siret = party.siret.replace(" ", "")
        if len(siret) == 14:
            self._el(element, "ram:GlobalID", siret, schemeID=SIRET_SCHEME)  # the establishment
        self._el(element, "ram:Name", party.name)
        if siret:
            legal = self._el(element, "ram:SpecifiedLegalOrganization")
            self._el(legal, "ram:ID", siret[:9], schemeID=SIREN_SCHEME)  # the legal entity
        if seller and (party.contact_person or party.phone or party.email):
            contact = self._el(element, "ram:DefinedTradeContact")
            if party.contact_person:
                self._el(contact, "ram:PersonName", party.contact_person)
            if party.phone:
                self._el(self._el(contact, "ram:TelephoneUniversalCommunication"), "ram:CompleteNumber", party.phone)
            if party.email:
                self._el(self._el(contact, "ram:EmailURIUniversalCommunication"), "ram:URIID", party.email)
        address = self._el(element, "ram:PostalTradeAddress")
        if party.address.postcode:
            self._el(address, "ram:PostcodeCode", party.address.postcode)
        if party.address.line1:
            self._el(address, "ram:LineOne", party.address.line1)
        if party.address.line2:
            self._el(address, "ram:LineTwo", party.address.line2)
        if party.address.city:
            self._el(address, "ram:CityName", party.address.city)
        self._el(address, "ram:CountryID", party.address.country or "FR")
        if party.email:
            self._el(self._el(element, "ram:URIUniversalCommunication"), "ram:URIID", party.email, schemeID="EM")
        if seller and party.vat_number and self.doc.vat.category_code != "O":
            self._el(self._el(element, "ram:SpecifiedTaxRegistration"), "ram:ID", party.vat_number, schemeID="VA")

    def _agreement(self, transaction) -> None:
        doc = self.doc
        agreement = self._el(transaction, "ram:ApplicableHeaderTradeAgreement")
        if doc.service_code:
            self._el(agreement, "ram:BuyerReference", doc.service_code)  # BT-10
        self._party(agreement, "ram:SellerTradeParty", doc.seller, seller=True)
        self._party(agreement, "ram:BuyerTradeParty", doc.buyer, seller=False)
        if doc.po_number:
            order = self._el(agreement, "ram:BuyerOrderReferencedDocument")
            self._el(order, "ram:IssuerAssignedID", doc.po_number)  # BT-13

    def _settlement(self, transaction) -> None:
        doc = self.doc
        totals = doc.totals
        settlement = self._el(transaction, "ram:ApplicableHeaderTradeSettlement")
        if isinstance(doc, Invoice):
            self._el(settlement, "ram:PaymentReference", doc.number)
        self._el(settlement, "ram:InvoiceCurrencyCode", "EUR")
        if isinstance(doc, Invoice) and doc.terms.iban:
            means = self._el(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
            self._el(means, "ram:TypeCode", SEPA_CREDIT_TRANSFER)
            account = self._el(means, "ram:PayeePartyCreditorFinancialAccount")
            self._el(account, "ram:IBANID", doc.terms.iban.replace(" ", ""))
            if doc.terms.bic:
                institution = self._el(means, "ram:PayeeSpecifiedCreditorFinancialInstitution")
                self._el(institution, "ram:BICID", doc.terms.bic.replace(" ", ""))
        self._tax(settlement, basis=totals.net, amount=totals.vat)
        first = doc.lines[0]
        if first.period_start and first.period_end:
            period = self._el(settlement, "ram:BillingSpecifiedPeriod")
            self._date(period, "ram:StartDateTime", first.period_start)
            self._date(period, "ram:EndDateTime", first.period_end)
        if isinstance(doc, Invoice):
            terms = self._el(settlement, "ram:SpecifiedTradePaymentTerms")
            self._el(terms, "ram:Description", f"À régler au plus tard le {format_date(doc.terms.due_on)}.")
            self._date(terms, "ram:DueDateDateTime", doc.terms.due_on)
        summation = self._el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
        self._el(summation, "ram:LineTotalAmount", self._amount(totals.net))
        self._el(summation, "ram:TaxBasisTotalAmount", self._amount(totals.net))
        self._el(summation, "ram:TaxTotalAmount", self._amount(totals.vat), currencyID="EUR")
        self._el(summation, "ram:GrandTotalAmount", self._amount(totals.gross))
        self._el(summation, "ram:DuePayableAmount", self._amount(totals.gross))
        if isinstance(doc, CreditNote):
            referenced = self._el(settlement, "ram:InvoiceReferencedDocument")  # BT-25, BT-26
            self._el(referenced, "ram:IssuerAssignedID", doc.invoice_number)
            self._date(referenced, "ram:FormattedIssueDateTime", doc.invoice_issued_on, qualified=True)
