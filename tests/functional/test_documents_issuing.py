"""Issuing documents with the real service on moto: numbering without gaps, immutability, quotes,
credit notes, certificates, the invoice email and downloads."""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from facturx import get_facturx_xml_from_pdf

from chalicelib.adapters.dynamo.documents import DocumentCounterTable
from chalicelib.domain.documents import DocumentKind, parse_number
from chalicelib.domain.errors import AlreadyExists, ConcurrentUpdate, NotFound, ValidationError
from chalicelib.domain.model import Membership, MembershipStatus
from chalicelib.domain.security import Session
from chalicelib.services import documents
from tests.conftest import sent_emails

MONTCLAIR = "org-montclair"  # 3 contacts, 2026 validated (not paid), public buyer
SAINT_AUBIN = "org-saint-aubin"  # 1 contact, 2026 paid


def invoice_for(rt, org_id=MONTCLAIR, **extra):
    values = {"org_id": org_id, "year": 2027, "tier_code": "COL-3", "tier_label": "Commune de 20 000 à 50 000 habitants",
              "amount": Decimal("742.00"), "po_number": "EJ-2026-004512", "service_code": "", **extra}
    return documents.issue_invoice(rt, **values)


def stored_keys(rt, prefix="documents/") -> list[str]:
    s3 = boto3.client("s3", region_name=rt.config.region)
    return [o["Key"] for o in s3.list_objects_v2(Bucket=rt.config.documents_bucket, Prefix=prefix).get("Contents", [])]


def counter(series: str):
    try:
        return DocumentCounterTable.get(series, consistent_read=True)
    except DocumentCounterTable.DoesNotExist:
        return None


def member(org_id: str) -> Session:
    return Session("hash", "contact", org_id, "contact", None, None)


class FailingOnce:
    """The real repository, except that one chosen call fails once with ``error``."""

    def __init__(self, real, method: str, error: BaseException):
        self.real, self.method, self.error = real, method, error

    def __getattr__(self, name):
        attribute = getattr(self.real, name)
        if name == self.method and self.error is not None:
            def fail(*args, **kwargs):
                error, self.error = self.error, None
                raise error
            return fail
        return attribute


class MissesTheFirstLookUp:
    """The real repository, but its first ``get`` misses (what a concurrent issuer may see)."""

    def __init__(self, real):
        self.real, self.missed = real, False

    def __getattr__(self, name):
        return getattr(self.real, name)

    def get(self, document_id):
        if not self.missed:
            self.missed = True
            return None
        return self.real.get(document_id)


# --- numbering: no gap, no duplicate, no orphan ----------------------------------------


def test_fifty_concurrent_invoices_get_fifty_distinct_contiguous_numbers(rt, demo):
    with ThreadPoolExecutor(max_workers=50) as pool:
        issued = list(pool.map(lambda i: invoice_for(rt, SAINT_AUBIN, request_id=f"req-{i}"), range(50)))

    numbers = sorted(invoice.number for invoice in issued)
    assert numbers == [f"FAC-2026-{n:05d}" for n in range(1, 51)]
    assert counter("FAC-2026").last_number == 50 and counter("FAC-2026").holder is None
    assert len(rt.documents.for_organisation(SAINT_AUBIN)) == 50
    assert len(stored_keys(rt, "documents/invoice/")) == 50  # every upload belongs to a record


def test_a_failure_between_upload_and_transaction_leaves_no_gap_and_no_orphan(rt, demo):
    real = rt.documents
    rt.documents = FailingOnce(real, "add_numbered", RuntimeError("DynamoDB unavailable"))

    with pytest.raises(RuntimeError):
        invoice_for(rt)

    assert stored_keys(rt) == [] and real.for_organisation(MONTCLAIR) == []
    assert counter("FAC-2026").last_number is None and counter("FAC-2026").holder is None
    assert sent_emails() == []
    assert invoice_for(rt).number == "FAC-2026-00001"  # the next invoice takes the number
    assert len(stored_keys(rt)) == 1


def test_a_transaction_cancelled_half_way_writes_nothing(rt, demo):
    first = invoice_for(rt, request_id="req-1")
    # A second issuer for the same request slips past the existence check: its transaction
    # would move the counter, but the record's condition cancels the whole transaction.
    rt.documents = MissesTheFirstLookUp(rt.documents)

    again = invoice_for(rt, request_id="req-1")

    assert again == first
    assert counter("FAC-2026").last_number == 1 and counter("FAC-2026").holder is None
    # the 3 contacts' notices, nothing twice (a commune's invoice goes to Chorus Pro, deposited once)
    assert len(stored_keys(rt)) == 1 and len(sent_emails()) == 3
    assert len(rt.chorus_deposits.all()) == 1
    assert invoice_for(rt, request_id="req-2").number == "FAC-2026-00002"


class AnswerLostAfterCommit:
    """The real repository, but the answer of its first transaction is lost after it committed."""

    def __init__(self, real):
        self.real, self.lost = real, False

    def __getattr__(self, name):
        return getattr(self.real, name)

    def add_numbered(self, *args, **kwargs):
        self.real.add_numbered(*args, **kwargs)
        if not self.lost:
            self.lost = True
            raise RuntimeError("connection reset after commit")


def test_a_commit_whose_answer_is_lost_keeps_its_pdf(rt, demo):
    rt.documents = AnswerLostAfterCommit(rt.documents)

    invoice = invoice_for(rt)

    stored = rt.documents.get(invoice.document_id)
    assert invoice.number == "FAC-2026-00001" and stored_keys(rt) == [stored.s3_key]
    assert hashlib.sha256(rt.storage.get(stored.s3_key)).hexdigest() == stored.sha256


def test_an_issuer_whose_counter_moved_renders_again_with_the_next_number(rt, demo):
    rt.documents = FailingOnce(rt.documents, "add_numbered", ConcurrentUpdate())

    invoice = invoice_for(rt)

    assert invoice.number == "FAC-2026-00001"
    assert len(stored_keys(rt)) == 1  # the first rendering's upload was deleted


def test_the_counter_only_moves_from_the_number_the_issuer_read(rt, demo):
    invoice_for(rt)
    stored = rt.documents.for_organisation(MONTCLAIR)[0]
    rt.documents.lock_series("FAC-2026", "me", rt.clock(), rt.clock().replace(year=2030))
    copy = replace(stored, document_id="another-id", number="FAC-2026-00002")

    with pytest.raises(ConcurrentUpdate):
        rt.documents.add_numbered(copy, "FAC-2026", 0, "me")  # it is at 1, not 0
    with pytest.raises(AlreadyExists):
        rt.documents.add_numbered(replace(copy, document_id=stored.document_id), "FAC-2026", 1, "me")

    assert rt.documents.get("another-id") is None and counter("FAC-2026").last_number == 1


# --- immutability ----------------------------------------------------------------------


def test_an_issued_invoice_is_the_stored_pdf_whose_sha256_is_recorded(rt, demo):
    invoice = invoice_for(rt, request_id="req-1")
    [stored] = rt.documents.for_organisation(MONTCLAIR)
    pdf = rt.storage.get(stored.s3_key)

    assert hashlib.sha256(pdf).hexdigest() == stored.sha256
    _, xml = get_facturx_xml_from_pdf(pdf)
    assert invoice.number.encode() in xml and b"742.00" in xml

    # Asking again (a retried job) neither renders nor stores anything new.
    assert invoice_for(rt, request_id="req-1") == invoice
    assert rt.storage.get(stored.s3_key) == pdf and stored_keys(rt) == [stored.s3_key]
    assert rt.documents.get(stored.document_id) == stored


def test_corrections_are_credit_notes_in_their_own_series_quoting_the_invoice(rt, demo, clock):
    invoice = invoice_for(rt)
    before = rt.documents.get(invoice.document_id)
    clock.advance(days=10)

    note = documents.issue_credit_note(rt, invoice.number, "Adhésion saisie en double")

    assert note.number == "AV-2026-00001"
    assert (note.invoice_number, note.invoice_issued_on) == (invoice.number, invoice.issued_on)
    assert note.totals == invoice.totals and note.issued_on > invoice.issued_on
    assert rt.documents.get(invoice.document_id) == before  # the invoice itself is untouched
    assert documents.issue_credit_note(rt, invoice.number, "encore") == note  # one per invoice
    stored = rt.documents.get(note.document_id)
    _, xml = get_facturx_xml_from_pdf(rt.storage.get(stored.s3_key))
    assert b"<ram:TypeCode>381</ram:TypeCode>" in xml and invoice.number.encode() in xml


def test_a_credit_note_needs_a_known_invoice_and_a_reason(rt, demo):
    invoice = invoice_for(rt)
    with pytest.raises(NotFound):
        documents.issue_credit_note(rt, "FAC-2026-99999", "Doublon")
    with pytest.raises(ValidationError) as error:
        documents.issue_credit_note(rt, invoice.number, " ")
    assert "reason" in error.value.errors


def test_bad_invoice_input_is_refused_before_anything_is_written(rt, demo):
    with pytest.raises(ValidationError) as error:
        invoice_for(rt, amount=Decimal("-5"), po_number="x" * 200)
    assert set(error.value.errors) == {"amount", "po_number"}
    with pytest.raises(NotFound):
        invoice_for(rt, org_id="org-unknown")
    assert stored_keys(rt) == [] and counter("FAC-2026") is None


# --- the invoice email -----------------------------------------------------------------


def test_each_contact_is_told_the_invoice_is_available_in_mes_adhesions(rt, demo):
    invoice = invoice_for(rt)

    emails = [m for m in sent_emails() if m.recipients != ("factures@montclair.example",)]  # the billing address: own test
    assert sorted(m.recipients[0] for m in emails) == [
        "a.benali@montclair.example", "m.lefevre@montclair.example", "s.garnier@montclair.example"]
    for message in emails:
        assert message.subject == "Votre facture est disponible — Cité Verte"
        assert invoice.number in message.text and "742,00" in message.text
        assert "https://adhesions.test/mon-compte/adhesions" in message.text
        assert "amazonaws" not in message.text + message.html and "X-Amz" not in message.html


# --- quotes ----------------------------------------------------------------------------


def test_a_quote_is_made_for_the_year_to_renew_from_the_last_validated_membership(rt, demo):
    quote = documents.get_or_create_quote(rt, MONTCLAIR)

    # 28 November 2026: 2026 is validated, so the quote is for 2027, at the 2027 tariff of COL-3.
    assert (quote.number, quote.year, quote.tier_code) == ("DEV-2026-0001", 2027, "COL-3")
    assert quote.totals.gross == rt.tariffs.grid(2027).tier("COL-3").amount
    assert quote.valid_until.isoformat() == "2026-12-28"


def test_asking_again_with_nothing_changed_gives_the_same_quote(rt, demo, clock):
    first = documents.get_or_create_quote(rt, MONTCLAIR)
    clock.advance(days=3)
    assert documents.get_or_create_quote(rt, MONTCLAIR) == first
    assert len(stored_keys(rt)) == 1


def test_a_changed_tariff_gives_a_new_quote(rt, demo):
    first = documents.get_or_create_quote(rt, MONTCLAIR)
    tier = rt.tariffs.grid(2027).tier("COL-3")
    rt.tariffs.save_tier(2027, replace(tier, amount=tier.amount + 10))

    second = documents.get_or_create_quote(rt, MONTCLAIR)

    assert second.number == "DEV-2026-0002" and second.totals.gross == first.totals.gross + 10


def test_an_expired_quote_is_replaced_by_a_new_one(rt, demo, clock):
    first = documents.get_or_create_quote(rt, MONTCLAIR)
    clock.advance(days=31)
    assert documents.get_or_create_quote(rt, MONTCLAIR).number == "DEV-2026-0002" != first.number


def test_no_quote_without_a_validated_membership_or_a_published_tariff(rt, demo):
    org = rt.organisations.get(MONTCLAIR)
    rt.organisations.add(replace(org, org_id="org-new", name="Nouvelle commune"))
    rt.memberships.save(Membership("org-new", 2026, "COL-1", "x", Decimal("1"), MembershipStatus.CANCELLED))
    with pytest.raises(documents.NoQuote):
        documents.get_or_create_quote(rt, "org-new")
    with pytest.raises(documents.NoQuote):
        documents.get_or_create_quote(rt, "org-federation", year=2030)  # no 2030 grid
    assert stored_keys(rt) == []


# --- certificates ----------------------------------------------------------------------


def test_a_certificate_is_issued_once_the_membership_is_paid(rt, demo):
    certificate = documents.issue_certificate(rt, SAINT_AUBIN, 2026)
    assert certificate.number == "ATT-2026-00001" and certificate.year == 2026
    assert documents.issue_certificate(rt, SAINT_AUBIN, 2026) == certificate

    with pytest.raises(documents.NotPaidYet):
        documents.issue_certificate(rt, MONTCLAIR, 2026)  # validated, not paid
    with pytest.raises(documents.NotPaidYet):
        documents.issue_certificate(rt, SAINT_AUBIN, 2030)


# --- history and downloads -------------------------------------------------------------


def test_the_history_lists_each_years_documents_with_their_download_route(rt, demo):
    quote = documents.get_or_create_quote(rt, MONTCLAIR)
    invoice = invoice_for(rt)

    history = documents.list_documents(rt, MONTCLAIR)

    assert [(link.label, link.url) for link in history[2027]] == [
        (f"Devis {quote.number} du 28 novembre 2026", f"/mon-compte/documents/{quote.document_id}"),
        (f"Facture {invoice.number}", f"/mon-compte/documents/{invoice.document_id}"),
    ]
    assert documents.list_documents(rt, SAINT_AUBIN) == {}


def test_a_download_is_a_presigned_attachment_link_valid_five_minutes(rt, demo):
    invoice = invoice_for(rt)

    url = documents.download(rt, member(MONTCLAIR), invoice.document_id)

    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["X-Amz-Expires"] == "300"
    assert query["response-content-disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert query["response-content-type"] == "application/pdf"
    assert parse_number(invoice.number)[0] is DocumentKind.INVOICE


@pytest.mark.parametrize("document_id", ["unknown", "", "../x", "a" * 65])
def test_an_unknown_document_is_not_found(rt, demo, document_id):
    with pytest.raises(NotFound):
        documents.download(rt, member(MONTCLAIR), document_id)


def test_another_organisations_document_is_not_found(rt, demo):
    invoice = invoice_for(rt)
    with pytest.raises(NotFound):
        documents.download(rt, member(SAINT_AUBIN), invoice.document_id)


def test_document_ids_cannot_be_worked_out_from_what_makes_them_unique(rt, demo):
    """Ids stay idempotent (a retry finds the same document) but are keyed by the installation's
    random key: knowing the organisation and the year is not enough to name a certificate."""
    rt.memberships.save(Membership(MONTCLAIR, 2027, "COL-3", "Commune", Decimal("720"), MembershipStatus.PAID))
    certificate = documents.issue_certificate(rt, MONTCLAIR, 2027)
    assert documents.issue_certificate(rt, MONTCLAIR, 2027).document_id == certificate.document_id
    assert certificate.document_id != hashlib.sha256(f"certificate|{MONTCLAIR}|2027".encode()).hexdigest()[:32]
    assert len(certificate.document_id) == 32
    # the key is stored once: another function (a new runtime) derives the same ids
    from chalicelib.runtime import Runtime
    assert Runtime(rt.config, clock=rt.clock).document_id_key == rt.document_id_key
    assert rt.settings.document_id_key("another key") == rt.document_id_key.hex()
