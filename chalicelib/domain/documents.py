"""Quotes, invoices, credit notes and membership certificates: their content and rules.

Pure: the documents are built from plain values (settings, organisation, amounts, dates);
storing, numbering transactions and rendering happen in adapters.

Numbering — one series per kind and per *year of issue*: ``DEV-2026-0001`` (quotes),
``FAC-2026-00001`` (invoices), ``AV-2026-00001`` (credit notes), ``ATT-2026-00001``
(certificates). French law asks for invoice numbers in a continuous, chronological series;
a series may restart each year when the year is part of the number. The year is the year
the document is *issued* (Paris date), not the membership year: in December invoices for
next year's memberships are issued while late payers still get this year's, and one series
per membership year would then run two series side by side, out of chronological order.
So an invoice for membership 2027 issued on 5 December 2026 is ``FAC-2026-000NN``.

Amounts: the tariff grid gives the membership fee excluding VAT; when the association is
VAT-registered the VAT is added on top. Money is ``Decimal`` rounded to the cent.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum

from .association import AssociationSettings
from .errors import ConcurrentUpdate
from .formatting import format_date, format_eur, to_money
from .model import Address, Category, Organisation

ZERO = Decimal("0.00")
RECOVERY_INDEMNITY = Decimal("40.00")  # article D441-5 du Code de commerce
QUOTE_NOTE = (
    "Ce devis est établi sur la base des informations de votre dernière adhésion validée. "
    "Si votre tranche tarifaire a changé, contactez-nous pour la mise à jour du devis."
)
MAX_REASON = 500
MAX_REFERENCE = 100


class SeriesBusy(ConcurrentUpdate):
    """Another issuer holds the numbering series: wait and try again."""

    message = "Un autre document est en cours d'émission. Réessayez dans un instant."


class DocumentKind(str, Enum):
    QUOTE = "quote"
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    CERTIFICATE = "certificate"

    @property
    def label(self) -> str:
        """The French name of the document, e.g. « Facture »."""
        return _KINDS[self][0]

    @property
    def prefix(self) -> str:
        return _KINDS[self][1]

    @property
    def digits(self) -> int:
        return _KINDS[self][2]


_KINDS = {
    DocumentKind.QUOTE: ("Devis", "DEV", 4),
    DocumentKind.INVOICE: ("Facture", "FAC", 5),
    DocumentKind.CREDIT_NOTE: ("Avoir", "AV", 5),
    DocumentKind.CERTIFICATE: ("Attestation d'adhésion", "ATT", 5),
}

_NUMBER = re.compile(r"(?P<prefix>[A-Z]{2,3})-(?P<year>[0-9]{4})-(?P<seq>[0-9]{4,})")


def series_for(kind: DocumentKind, issued_on: date) -> str:
    """The numbering series a document issued on ``issued_on`` belongs to, e.g. ``FAC-2026``."""
    return f"{kind.prefix}-{issued_on.year}"


def format_number(kind: DocumentKind, issued_on: date, sequence: int) -> str:
    """``(INVOICE, 2026-12-05, 7)`` → ``'FAC-2026-00007'``."""
    if sequence < 1:
        raise ValueError("document sequence numbers start at 1")
    return f"{series_for(kind, issued_on)}-{sequence:0{kind.digits}d}"


def parse_number(number: str) -> tuple[DocumentKind, int, int] | None:
    """``'FAC-2026-00007'`` → ``(INVOICE, 2026, 7)``; None when it is no document number."""
    match = _NUMBER.fullmatch(number.strip())
    if match is None:
        return None
    kind = next((k for k in DocumentKind if k.prefix == match["prefix"]), None)
    if kind is None or len(match["seq"]) != kind.digits:
        return None
    return kind, int(match["year"]), int(match["seq"])


def membership_period(year: int) -> tuple[date, date]:
    """Memberships run per calendar year."""
    return date(year, 1, 1), date(year, 12, 31)


def period_label(year: int) -> str:
    """``2027`` → ``'du 1er janvier au 31 décembre 2027'``."""
    start, end = membership_period(year)
    return f"du {format_date(start).removesuffix(f' {year}')} au {format_date(end)}"


# --- VAT -------------------------------------------------------------------------------


class VatRegime(str, Enum):
    OUTSIDE_SCOPE = "outside_scope"  # membership fee without individual counterpart
    EXEMPT = "exempt"
    REGISTERED = "registered"


@dataclass(frozen=True)
class VatTreatment:
    """How VAT applies to a document: EN 16931 category, rate in percent, French wording."""

    regime: VatRegime
    rate: Decimal
    wording: str

    @property
    def category_code(self) -> str:
        """UNCL 5305: O (outside the scope), E (exempt), S (standard rate)."""
        return {VatRegime.OUTSIDE_SCOPE: "O", VatRegime.EXEMPT: "E", VatRegime.REGISTERED: "S"}[self.regime]

    @property
    def charged(self) -> bool:
        return self.regime is VatRegime.REGISTERED

    @property
    def exemption_reason_code(self) -> str:
        """VATEX code for category O; exempt documents give the reason as text only."""
        return "VATEX-EU-O" if self.regime is VatRegime.OUTSIDE_SCOPE else ""

    @property
    def rate_label(self) -> str:
        """``Decimal('20.00')`` → ``'20 %'``, ``Decimal('5.50')`` → ``'5,5 %'``."""
        text = f"{self.rate.normalize():f}".replace(".", ",")
        return f"{text}\u00a0%"


# The printed VAT mention follows the EN 16931 category, never free text that could contradict it.
VAT_WORDING = {
    # Category O: membership dues without an individual counterpart are not supplies for
    # consideration, hence outside the scope of VAT (the usual case, and the default).
    VatRegime.OUTSIDE_SCOPE: "TVA non applicable : cotisation hors du champ d'application de la TVA.",
    # Category E: services a non-profit body renders to its members, exempt by the CGI.
    VatRegime.EXEMPT: "Exonération de TVA : article 261-7-1° a du Code général des impôts.",
}


def vat_treatment(settings: AssociationSettings) -> VatTreatment:
    """The VAT treatment the association's settings give; unknown regimes are refused.

    The wording is the category's (``VAT_WORDING``): the stored ``vat_wording`` setting is no
    longer read, since an exemption's article printed beside category O contradicted the XML.
    """
    try:
        regime = VatRegime(settings.vat_regime)
    except ValueError:
        raise ValueError(f"régime de TVA inconnu : {settings.vat_regime!r}") from None
    if regime is VatRegime.REGISTERED:
        rate = Decimal(settings.vat_rate).quantize(Decimal("0.01"))
        if not Decimal("0") < rate < Decimal("100"):
            raise ValueError(f"taux de TVA invalide : {settings.vat_rate!r}")
        wording = f"TVA au taux de {VatTreatment(regime, rate, '').rate_label}."
        return VatTreatment(regime, rate, wording)
    return VatTreatment(regime, ZERO, VAT_WORDING[regime])


# --- parties, lines, totals ------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """The seller (the association) or the buyer (the member organisation) as printed."""

    name: str
    address: Address
    siret: str = ""
    email: str = ""
    phone: str = ""
    vat_number: str = ""
    website: str = ""
    contact_person: str = ""
    category: str = ""  # buyer's Category value; "" for the seller
    public_buyer: bool = False  # the buyer is a public body (late payment under the Code de la commande publique)

    @property
    def siren(self) -> str:
        return self.siret[:9]

    @property
    def is_business(self) -> bool:
        return self.category == Category.ENTREPRISE.value


def seller_from(settings: AssociationSettings) -> Party:
    return Party(
        name=settings.name, address=settings.address, siret=settings.siret,
        email=settings.contact_email, phone=settings.contact_phone,
        vat_number=settings.vat_number if settings.vat_regime != VatRegime.OUTSIDE_SCOPE.value else "",
        website=settings.website, contact_person=settings.contact_person,
    )


def buyer_from(org: Organisation) -> Party:
    return Party(name=org.name, address=org.billing_address, siret=org.siret,
                 email=org.invoice_email, category=org.category.value, public_buyer=org.public_buyer)


@dataclass(frozen=True)
class Line:
    description: str
    unit_price: Decimal  # excluding VAT
    quantity: Decimal = Decimal("1")
    period_start: date | None = None
    period_end: date | None = None

    @property
    def net(self) -> Decimal:
        return to_money(self.quantity * self.unit_price)

    @property
    def quantity_label(self) -> str:
        return f"{self.quantity.normalize():f}".replace(".", ",")


@dataclass(frozen=True)
class Totals:
    net: Decimal
    vat: Decimal
    gross: Decimal


def compute_totals(lines: tuple[Line, ...], vat: VatTreatment) -> Totals:
    """Net, VAT and gross totals; VAT is computed on the total, rounded half up to the cent."""
    net = to_money(sum((line.net for line in lines), ZERO))
    tax = to_money(net * vat.rate / 100) if vat.charged else ZERO
    return Totals(net, tax, net + tax)


def membership_line(year: int, tier_label: str, amount: Decimal) -> Line:
    start, end = membership_period(year)
    return Line(f"Adhésion {year} — {tier_label}", to_money(amount), Decimal("1"), start, end)


@dataclass(frozen=True)
class PaymentTerms:
    due_on: date
    late_penalty: str
    early_payment: str
    recovery_indemnity: Decimal | None  # 40 € for business clients, None otherwise
    iban: str = ""
    bic: str = ""
    cheque_payee: str = ""
    cheque_address: Address | None = None
    public_buyer: bool = False

    @property
    def indemnity_wording(self) -> str:
        if self.recovery_indemnity is None:
            return ""
        basis = ("articles L2192-13 et D2192-35 du Code de la commande publique" if self.public_buyer
                 else "articles L441-10 et D441-5 du Code de commerce")
        return (f"Indemnité forfaitaire pour frais de recouvrement due en cas de retard de paiement : "
                f"{format_eur(self.recovery_indemnity)} ({basis}).")


# Late payment by a public buyer: moratorium interest at the ECB rate plus 8 points and the
# 40 € indemnity, by law (Code de la commande publique, L2192-12 to L2192-14, R2192-31, D2192-35).
PUBLIC_LATE_PENALTY = ("En cas de retard de paiement, des intérêts moratoires sont dus de plein droit au taux "
                       "de la Banque centrale européenne majoré de huit points (articles L2192-12 et R2192-31 du "
                       "Code de la commande publique).")


def payment_terms(settings: AssociationSettings, buyer: Party, issued_on: date) -> PaymentTerms:
    """Every buyer owes the 40 € indemnity on late payment: professionals under the Code de
    commerce (L441-10, D441-5), public buyers under the Code de la commande publique (L2192-13,
    D2192-35), whose late-payment interest also follows that code rather than the settings."""
    return PaymentTerms(
        due_on=issued_on + timedelta(days=settings.invoice_due_days),
        late_penalty=PUBLIC_LATE_PENALTY if buyer.public_buyer else settings.late_penalty_wording,
        early_payment=settings.early_payment_wording,
        recovery_indemnity=RECOVERY_INDEMNITY,
        iban=settings.iban, bic=settings.bic,
        cheque_payee=settings.name, cheque_address=settings.address,
        public_buyer=buyer.public_buyer,
    )


# --- the documents ---------------------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    document_id: str
    number: str
    org_id: str
    year: int
    issued_on: date
    valid_until: date
    seller: Party
    buyer: Party
    lines: tuple[Line, ...]
    vat: VatTreatment
    tier_code: str
    fingerprint: str
    due_days: int = 30  # payment delay the invoice will give
    note: str = QUOTE_NOTE
    kind = DocumentKind.QUOTE

    @property
    def totals(self) -> Totals:
        return compute_totals(self.lines, self.vat)

    def valid_on(self, day: date) -> bool:
        return day <= self.valid_until


@dataclass(frozen=True)
class Invoice:
    document_id: str
    number: str
    org_id: str
    year: int
    issued_on: date
    seller: Party
    buyer: Party
    lines: tuple[Line, ...]
    vat: VatTreatment
    terms: PaymentTerms
    tier_code: str
    po_number: str = ""  # purchase order / engagement number (BT-13)
    service_code: str = ""  # Chorus Pro service code (BT-10)
    request_id: str = ""
    kind = DocumentKind.INVOICE

    @property
    def totals(self) -> Totals:
        return compute_totals(self.lines, self.vat)


@dataclass(frozen=True)
class CreditNote:
    document_id: str
    number: str
    org_id: str
    year: int
    issued_on: date
    seller: Party
    buyer: Party
    lines: tuple[Line, ...]
    vat: VatTreatment
    invoice_number: str
    invoice_issued_on: date
    reason: str
    po_number: str = ""
    service_code: str = ""
    terms: PaymentTerms | None = None  # the cancelled invoice's (its legal mentions are repeated)
    kind = DocumentKind.CREDIT_NOTE

    @property
    def totals(self) -> Totals:
        return compute_totals(self.lines, self.vat)


@dataclass(frozen=True)
class Certificate:
    document_id: str
    number: str
    org_id: str
    year: int
    issued_on: date
    seller: Party
    buyer: Party
    tier_label: str
    amount: Decimal
    kind = DocumentKind.CERTIFICATE

    @property
    def totals(self) -> Totals:
        return Totals(self.amount, ZERO, self.amount)


Document = Quote | Invoice | CreditNote | Certificate


@dataclass(frozen=True)
class StoredDocument:
    """An issued document as recorded: the PDF bytes in S3 are the document itself."""

    document_id: str
    kind: DocumentKind
    number: str
    org_id: str
    year: int  # membership year
    issued_at: datetime
    total: Decimal
    sha256: str
    s3_key: str
    content: Document
    fingerprint: str = ""
    related_number: str = ""  # a credit note's invoice
    request_id: str = ""

    @property
    def label(self) -> str:
        """What « Historique des adhésions » shows, e.g. « Facture FAC-2026-00001 »."""
        if self.kind is DocumentKind.CERTIFICATE:
            return f"Attestation d'adhésion {self.year}"
        if self.kind is DocumentKind.QUOTE:
            return f"Devis {self.number} du {format_date(self.content.issued_on)}"
        return f"{self.kind.label} {self.number}"

    @property
    def filename(self) -> str:
        if self.kind is DocumentKind.CERTIFICATE:
            return f"attestation-adhesion-{self.year}-{self.number}.pdf"
        return f"{self.number}.pdf"


# --- builders --------------------------------------------------------------------------


def quote_fingerprint(*, org: Organisation, settings: AssociationSettings, year: int, tier_code: str,
                      tier_label: str, amount: Decimal) -> str:
    """Same inputs give the same fingerprint: then the existing quote is given again."""
    vat = vat_treatment(settings)
    payload = {
        "org": [org.org_id, org.name, org.billing_address.lines(), org.billing_address.country, org.siret,
                org.category.value],
        "seller": [settings.name, settings.address.lines(), settings.siret, settings.contact_email,
                   settings.contact_phone, settings.vat_number],
        "vat": [vat.regime.value, str(vat.rate), vat.wording],
        "line": [year, tier_code, tier_label, str(to_money(amount))],
        "terms": [settings.quote_validity_days, settings.invoice_due_days],
    }
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def build_quote(*, settings: AssociationSettings, org: Organisation, year: int, tier_code: str,
                tier_label: str, amount: Decimal, today: date) -> Quote:
    """A quote for ``year`` (number and id are given when it is issued)."""
    return Quote(
        document_id="", number="", org_id=org.org_id, year=year, issued_on=today,
        valid_until=today + timedelta(days=settings.quote_validity_days),
        seller=seller_from(settings), buyer=buyer_from(org),
        lines=(membership_line(year, tier_label, amount),), vat=vat_treatment(settings),
        tier_code=tier_code, due_days=settings.invoice_due_days,
        fingerprint=quote_fingerprint(org=org, settings=settings, year=year, tier_code=tier_code,
                                      tier_label=tier_label, amount=amount),
    )


def build_invoice(*, settings: AssociationSettings, org: Organisation, year: int, tier_code: str,
                  tier_label: str, amount: Decimal, today: date, po_number: str = "",
                  service_code: str = "", request_id: str = "") -> Invoice:
    """An invoice for ``year`` (number and id are given when it is issued)."""
    buyer = buyer_from(org)
    return Invoice(
        document_id="", number="", org_id=org.org_id, year=year, issued_on=today,
        seller=seller_from(settings), buyer=buyer,
        lines=(membership_line(year, tier_label, amount),), vat=vat_treatment(settings),
        terms=payment_terms(settings, buyer, today), tier_code=tier_code,
        po_number=po_number.strip(), service_code=service_code.strip(), request_id=request_id or "",
    )


def build_credit_note(invoice: Invoice, *, reason: str, today: date) -> CreditNote:
    """A credit note cancelling the whole invoice: same parties, lines and VAT."""
    return CreditNote(
        document_id="", number="", org_id=invoice.org_id, year=invoice.year, issued_on=today,
        seller=invoice.seller, buyer=invoice.buyer, lines=invoice.lines, vat=invoice.vat,
        invoice_number=invoice.number, invoice_issued_on=invoice.issued_on, reason=reason.strip(),
        po_number=invoice.po_number, service_code=invoice.service_code, terms=invoice.terms,
    )


def build_certificate(*, settings: AssociationSettings, org: Organisation, year: int, tier_label: str,
                      amount: Decimal, today: date) -> Certificate:
    return Certificate(
        document_id="", number="", org_id=org.org_id, year=year, issued_on=today,
        seller=seller_from(settings), buyer=buyer_from(org), tier_label=tier_label,
        amount=to_money(amount),
    )


def check_invoice_input(*, amount: Decimal, year: int, tier_label: str, po_number: str,
                        service_code: str) -> dict[str, str]:
    """French messages for the invoice fields that cannot be issued as given."""
    errors = {}
    if isinstance(amount, float) or not isinstance(amount, (Decimal, int, str)):
        errors["amount"] = "Le montant doit être un nombre décimal."
    else:
        try:
            if to_money(amount) <= 0:
                errors["amount"] = "Le montant doit être positif."
        except ArithmeticError:
            errors["amount"] = "Le montant est illisible."
    if not 2000 <= year <= 2200:
        errors["year"] = "L'année d'adhésion est invalide."
    if not tier_label.strip():
        errors["tier_label"] = "Indiquez la tranche tarifaire."
    if len(po_number) > MAX_REFERENCE:
        errors["po_number"] = f"Le numéro d'engagement doit faire au plus {MAX_REFERENCE} caractères."
    if len(service_code) > MAX_REFERENCE:
        errors["service_code"] = f"Le code service doit faire au plus {MAX_REFERENCE} caractères."
    return errors


def check_reason(reason: str) -> dict[str, str]:
    if not reason.strip():
        return {"reason": "Indiquez le motif de l'avoir."}
    if len(reason) > MAX_REASON:
        return {"reason": f"Le motif doit faire au plus {MAX_REASON} caractères."}
    return {}


@dataclass(frozen=True)
class DocumentLink:
    """One line of « Historique des adhésions »: what to show and where it downloads."""

    label: str
    url: str
    kind: DocumentKind = DocumentKind.INVOICE


def history_documents(records: list[StoredDocument], url_for) -> dict[int, list[DocumentLink]]:
    """Group documents by membership year, newest year first; only the latest quote per year."""
    by_year: dict[int, list[StoredDocument]] = {}
    for record in sorted(records, key=lambda r: (r.issued_at, r.number)):
        by_year.setdefault(record.year, []).append(record)
    order = {DocumentKind.QUOTE: 0, DocumentKind.INVOICE: 1, DocumentKind.CREDIT_NOTE: 2,
             DocumentKind.CERTIFICATE: 3}
    result: dict[int, list[DocumentLink]] = {}
    for year in sorted(by_year, reverse=True):
        records_of_year = by_year[year]
        quotes = [r for r in records_of_year if r.kind is DocumentKind.QUOTE]
        kept = [r for r in records_of_year if r.kind is not DocumentKind.QUOTE] + quotes[-1:]
        kept.sort(key=lambda r: (order[r.kind], r.issued_at, r.number))
        result[year] = [DocumentLink(r.label, url_for(r), r.kind) for r in kept]
    return result
