"""CSV exports of the invoices and credit notes issued, for accounting."""
from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import asdict, replace
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from chalicelib.adapters.dynamo.audit import AuditTable
from chalicelib.domain.documents import DocumentKind
from chalicelib.services import documents, exports, renewal
from tests.functional.conftest import MEMBER, STAFF

HOSTILE_NAME = '=HYPERLINK("http://x","y")'
HOSTILE_REASON = "-2+3 erreur de tranche"


def rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff") and "\r\n" in text
    header = text[1:].split("\r\n", 1)[0]
    assert header.count(";") >= 10 and "," not in header.replace("Bon de commande / engagement", "")
    return list(csv.DictReader(io.StringIO(text[1:], newline=""), delimiter=";"))


def french(amount: Decimal) -> str:
    return f"{amount:.2f}".replace(".", ",")


def submit(rt, org_id: str, **choices):
    contact = rt.contacts.for_organisation(org_id)[0]
    offer = renewal.start_renewal(rt, org_id, contact.contact_id)
    fields = {**asdict(offer.form), "payment_method": "virement", "wait_for_purchase_order": "no", **choices}
    return renewal.submit_renewal_request(rt, org_id, contact.contact_id, fields).request


@pytest.fixture
def staff_id(rt, demo):
    return rt.contacts.find_by_email(STAFF).contact_id


@pytest.fixture
def issued(rt, clock, staff_id):
    """With 20 % VAT: two 2027 invoices (one to a hostile name, one with a PO), its credit note, a 2026 invoice."""
    settings = rt.association()
    rt.settings.save_association(replace(settings, vat_regime="registered", vat_rate="20.00"))
    rt.forget_cached_settings()
    saint_aubin = rt.organisations.get("org-saint-aubin")
    rt.organisations.update(replace(saint_aubin, name=HOSTILE_NAME))
    clock.now = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
    first = submit(rt, "org-saint-aubin")
    clock.now = datetime(2026, 12, 2, 9, tzinfo=timezone.utc)
    second = submit(rt, "org-montclair", purchase_order_number="EJ-2027-42")
    late = documents.issue_invoice(rt, org_id="org-durand", year=2026, tier_code="ENT-2",
                                   tier_label="Entreprise de 10 à 49 salariés", amount=Decimal("350"))
    clock.now = datetime(2026, 12, 3, 9, tzinfo=timezone.utc)
    credit = documents.issue_credit_note(rt, first.invoice_number, HOSTILE_REASON)
    return {"saint_aubin": rt.documents.by_number(first.invoice_number),
            "montclair": rt.documents.by_number(second.invoice_number),
            "durand": rt.documents.by_number(late.number), "credit": rt.documents.by_number(credit.number)}


def test_the_invoices_file_has_one_line_per_invoice_with_the_documents_amounts(rt, issued, staff_id):
    file = exports.export_invoices(rt, staff_id)
    assert file.filename == "factures-2026-12-03.csv" and file.rows == 3
    lines = rows(file.text)
    assert [line["Numéro"] for line in lines] == [issued[k].number for k in ("saint_aubin", "montclair", "durand")]
    montclair = lines[1]
    invoice = issued["montclair"]
    totals = invoice.content.totals
    assert totals.vat > 0 and totals.gross == totals.net + totals.vat
    assert montclair["Montant HT"] == french(totals.net) == "742,00"
    assert montclair["TVA"] == french(totals.vat) == "148,40"
    assert montclair["Montant TTC"] == french(totals.gross) == "890,40"
    assert montclair["Date"] == "02/12/2026" and montclair["Année d'adhésion"] == "2027"
    assert montclair["Structure"] == "Ville de Montclair" and montclair["SIRET"] == "21440987600019"
    assert montclair["Tranche"] == "COL-3"
    assert montclair["Bon de commande / engagement"] == "EJ-2027-42" and montclair["Code service"] == "ESPACES-VERTS"
    pdf = rt.storage.get(invoice.s3_key)
    assert montclair["SHA-256 du PDF"] == invoice.sha256 == hashlib.sha256(pdf).hexdigest()
    assert lines[0]["Structure"] == "'" + HOSTILE_NAME  # neutralised: never read as a formula
    assert lines[2]["Année d'adhésion"] == "2026" and lines[2]["Montant HT"] == "350,00"
    [event] = [i for i in AuditTable.scan() if i.action == "export.downloaded"]
    assert event.actor == staff_id and event.target == file.filename


def test_the_credit_notes_file_has_negative_amounts_and_the_invoice_it_cancels(rt, issued, staff_id):
    file = exports.export_credit_notes(rt, staff_id)
    [line] = rows(file.text)
    credit, invoice = issued["credit"], issued["saint_aubin"]
    assert line["Numéro"] == credit.number and line["Facture d'origine"] == invoice.number
    assert line["Date de la facture"] == "01/12/2026" and line["Date"] == "03/12/2026"
    assert line["Montant HT"] == "-" + french(credit.content.totals.net) == "-185,00"
    assert line["TVA"] == "-37,00" and line["Montant TTC"] == "-222,00"
    assert line["Tranche"] == "COL-1"
    assert line["Motif"] == "'" + HOSTILE_REASON and line["Structure"] == "'" + HOSTILE_NAME
    assert line["SHA-256 du PDF"] == credit.sha256


def test_both_files_can_keep_one_membership_year(rt, issued, staff_id):
    only_2026 = rows(exports.export_invoices(rt, staff_id, 2026).text)
    assert [line["Numéro"] for line in only_2026] == [issued["durand"].number]
    assert len(rows(exports.export_invoices(rt, staff_id, 2027).text)) == 2
    assert rows(exports.export_credit_notes(rt, staff_id, 2026).text) == []
    assert exports.export_credit_notes(rt, staff_id, 2027).filename == "avoirs-2027-2026-12-03.csv"
    assert rt.documents.all(DocumentKind.CREDIT_NOTE) == [issued["credit"]]


def test_staff_download_both_files_and_bad_years_are_refused(rt, issued, new_browser):
    staff = new_browser()
    assert staff.login(STAFF).status_code == 303
    assert 'href="/admin/exports/factures.csv"' in staff.get("/admin/exports").body.decode()
    assert 'href="/admin/exports/avoirs.csv"' in staff.last.body.decode()
    for path, name, count in (("/admin/exports/factures.csv?annee=2027", "factures-2027-2026-12-03.csv", 2),
                              ("/admin/exports/avoirs.csv", "avoirs-2026-12-03.csv", 1)):
        response = staff.get(path)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/csv")
        assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'
        assert len(rows(response.body.decode("utf-8"))) == count
    for bad in ("abcd", "1999", "20271"):
        response = staff.get(f"/admin/exports/factures.csv?annee={bad}")
        assert response.status_code == 400 and "Indiquez une année sur 4 chiffres" in staff.text()
    member = new_browser()
    member.login(MEMBER)
    assert member.get("/admin/exports/avoirs.csv").status_code == 403
