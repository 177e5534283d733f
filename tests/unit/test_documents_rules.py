"""Documents' rules: numbering, VAT, totals, payment terms, quote fingerprints, history."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from chalicelib.domain.association import AssociationSettings
from chalicelib.domain.documents import (
    RECOVERY_INDEMNITY,
    DocumentKind,
    Line,
    StoredDocument,
    VatRegime,
    build_credit_note,
    build_invoice,
    build_quote,
    check_invoice_input,
    check_reason,
    compute_totals,
    format_number,
    history_documents,
    parse_number,
    period_label,
    series_for,
    vat_treatment,
)
from chalicelib.domain.model import Address, Category, Organisation

TODAY = date(2026, 11, 28)
SETTINGS = AssociationSettings(
    name="Cité Verte", address=Address("10 rue des Jardins", "49000", "Angers"), siret="44112233400027",
    contact_email="adherents@cite-verte.example", contact_phone="02 00 00 00 00",
    staff_notification_email="equipe@cite-verte.example", iban="FR76 3000 4000 0500 0012 3456 789",
    bic="BNPAFRPPXXX",
)
COMMUNE = Organisation("org-a", "Ville de Montclair", Category.COLLECTIVITE,
                       Address("12 rue de la République", "44000", "Montclair"), "factures@montclair.example",
                       siret="21440987600019", service_code="ESPACES-VERTS")
COMPANY = replace(COMMUNE, org_id="org-b", name="Paysages Durand SARL", category=Category.ENTREPRISE)


def invoice(org=COMMUNE, settings=SETTINGS, amount="720", **extra):
    return build_invoice(settings=settings, org=org, year=2027, tier_code="COL-3", tier_label="Commune moyenne",
                         amount=Decimal(amount), today=TODAY, **extra)


def quote(org=COMMUNE, settings=SETTINGS, amount="720", tier_label="Commune moyenne", today=TODAY):
    return build_quote(settings=settings, org=org, year=2027, tier_code="COL-3", tier_label=tier_label,
                       amount=Decimal(amount), today=today)


# --- numbering -------------------------------------------------------------------------


@pytest.mark.parametrize("kind, sequence, expected", [
    (DocumentKind.QUOTE, 1, "DEV-2026-0001"),
    (DocumentKind.INVOICE, 1, "FAC-2026-00001"),
    (DocumentKind.INVOICE, 12345, "FAC-2026-12345"),
    (DocumentKind.CREDIT_NOTE, 7, "AV-2026-00007"),
    (DocumentKind.CERTIFICATE, 3, "ATT-2026-00003"),
])
def test_numbers_follow_each_series_format(kind, sequence, expected):
    assert format_number(kind, TODAY, sequence) == expected
    assert parse_number(expected) == (kind, 2026, sequence)


def test_the_series_is_the_year_of_issue_not_the_membership_year():
    # An invoice for membership 2027 issued in December 2026 belongs to the 2026 series.
    assert series_for(DocumentKind.INVOICE, date(2026, 12, 5)) == "FAC-2026"
    assert series_for(DocumentKind.INVOICE, date(2027, 1, 2)) == "FAC-2027"


@pytest.mark.parametrize("text", ["", "FAC-2026-001", "XYZ-2026-00001", "FAC-26-00001", "fac-2026-00001 x"])
def test_anything_else_is_no_document_number(text):
    assert parse_number(text) is None


def test_sequences_start_at_one():
    with pytest.raises(ValueError):
        format_number(DocumentKind.INVOICE, TODAY, 0)


def test_the_membership_period_is_the_calendar_year():
    assert period_label(2027) == "du 1er janvier au 31 décembre 2027"


# --- VAT and totals --------------------------------------------------------------------


def test_by_default_the_fee_is_outside_the_scope_of_vat_and_says_so():
    vat = vat_treatment(SETTINGS)
    assert vat.regime is VatRegime.OUTSIDE_SCOPE and vat.category_code == "O"
    assert vat.exemption_reason_code == "VATEX-EU-O" and "hors du champ d'application de la TVA" in vat.wording
    assert "261" not in vat.wording  # an exemption's article would contradict category O
    # the wording follows the category, whatever free text an older settings record holds
    assert vat_treatment(replace(SETTINGS, vat_wording="Exonéré, art. 261-7-1°")).wording == vat.wording
    totals = invoice().totals
    assert (totals.net, totals.vat, totals.gross) == (Decimal("720.00"), Decimal("0.00"), Decimal("720.00"))


def test_a_vat_registered_association_adds_vat_at_its_rate_rounded_half_up():
    registered = replace(SETTINGS, vat_regime="registered", vat_rate="20", vat_number="FR12441122334")
    document = invoice(settings=registered, amount="150.05")
    assert document.vat.category_code == "S" and document.vat.rate == Decimal("20.00")
    assert document.totals.vat == Decimal("30.01") and document.totals.gross == Decimal("180.06")
    assert document.seller.vat_number == "FR12441122334"
    assert "20\u00a0%" in document.vat.wording


def test_an_exempt_association_charges_no_vat_with_category_e():
    vat = vat_treatment(replace(SETTINGS, vat_regime="exempt"))
    assert vat.category_code == "E" and vat.rate == 0 and not vat.charged
    assert vat.wording == "Exonération de TVA : article 261-7-1° a du Code général des impôts."


@pytest.mark.parametrize("changes", [{"vat_regime": "autre"}, {"vat_regime": "registered", "vat_rate": "0"},
                                     {"vat_regime": "registered", "vat_rate": "150"}])
def test_unusable_vat_settings_are_refused(changes):
    with pytest.raises(ValueError):
        vat_treatment(replace(SETTINGS, **changes))


def test_totals_add_up_every_line_to_the_cent():
    lines = (Line("a", Decimal("10.005")), Line("b", Decimal("2.5"), Decimal("3")))
    totals = compute_totals(lines, vat_treatment(SETTINGS))
    assert totals.net == Decimal("17.51")  # 10.01 + 7.50


def test_floats_are_refused_as_amounts():
    assert "amount" in check_invoice_input(amount=720.0, year=2027, tier_label="x", po_number="", service_code="")


@pytest.mark.parametrize("field, values", [
    ("amount", {"amount": Decimal("0")}), ("amount", {"amount": "abc"}), ("year", {"year": 27}),
    ("tier_label", {"tier_label": " "}), ("po_number", {"po_number": "x" * 101}),
    ("service_code", {"service_code": "x" * 101}),
])
def test_invoice_input_errors_are_named_after_their_field(field, values):
    given = {"amount": Decimal("720"), "year": 2027, "tier_label": "Commune", "po_number": "", "service_code": ""}
    assert field in check_invoice_input(**{**given, **values})


def test_a_credit_note_needs_a_reason_of_reasonable_length():
    assert "reason" in check_reason("  ")
    assert "reason" in check_reason("x" * 501)
    assert check_reason("Doublon") == {}


# --- payment terms ---------------------------------------------------------------------


def test_an_invoice_is_due_after_the_settings_number_of_days():
    assert invoice().terms.due_on == date(2026, 12, 28)
    assert invoice(settings=replace(SETTINGS, invoice_due_days=45)).terms.due_on == date(2027, 1, 12)


def test_the_40_euro_recovery_indemnity_applies_to_every_buyer_under_its_own_code():
    company, commune = invoice(org=COMPANY).terms, invoice(org=replace(COMMUNE, public_buyer=True)).terms
    assert company.recovery_indemnity == commune.recovery_indemnity == RECOVERY_INDEMNITY == Decimal("40.00")
    assert "40,00" in company.indemnity_wording and "D441-5 du Code de commerce" in company.indemnity_wording
    assert "40,00" in commune.indemnity_wording and "D2192-35 du Code de la commande publique" in commune.indemnity_wording
    assert "trois fois le taux" in company.late_penalty  # the settings' wording (L441-10 C. com.)
    assert "Banque centrale européenne majoré de huit points" in commune.late_penalty  # R2192-31 CCP


def test_an_invoice_carries_the_purchase_order_and_service_code_given():
    document = invoice(po_number=" EJ-123 ", service_code="ESPACES-VERTS")
    assert (document.po_number, document.service_code) == ("EJ-123", "ESPACES-VERTS")
    assert document.terms.iban == SETTINGS.iban and document.terms.cheque_payee == "Cité Verte"


# --- quotes ----------------------------------------------------------------------------


def test_the_same_inputs_give_the_same_quote_fingerprint():
    assert quote().fingerprint == quote().fingerprint
    assert quote(today=date(2026, 12, 3)).fingerprint == quote().fingerprint  # the date is not an input


@pytest.mark.parametrize("change", [
    {"amount": "721"}, {"tier_label": "Grande commune"},
    {"org": replace(COMMUNE, billing_address=Address("1 autre rue", "44000", "Montclair"))},
    {"org": replace(COMMUNE, siret="21440987600027")},
    {"settings": replace(SETTINGS, quote_validity_days=60)},
])
def test_any_change_of_input_gives_a_new_quote_fingerprint(change):
    assert quote(**change).fingerprint != quote().fingerprint


def test_a_quote_is_valid_for_the_settings_number_of_days():
    document = quote()
    assert document.valid_until == date(2026, 12, 28)
    assert document.valid_on(date(2026, 12, 28)) and not document.valid_on(date(2026, 12, 29))
    assert "tranche tarifaire a changé" in document.note


# --- credit notes and history ----------------------------------------------------------


def test_a_credit_note_cancels_the_whole_invoice_and_quotes_its_number_and_date():
    original = replace(invoice(po_number="EJ-1"), number="FAC-2026-00004")
    note = build_credit_note(original, reason=" Doublon ", today=date(2027, 1, 5))
    assert (note.invoice_number, note.invoice_issued_on, note.reason) == ("FAC-2026-00004", TODAY, "Doublon")
    assert note.lines == original.lines and note.totals == original.totals and note.po_number == "EJ-1"


def _stored(kind, number, year, day, content=None):
    at = datetime(2026, 11, day, 10, tzinfo=timezone.utc)
    return StoredDocument(f"id-{number}", kind, number, "org-a", year, at, Decimal("720"), "0" * 64, "k",
                          content or quote(today=at.date()))


def test_the_history_keeps_every_invoice_but_only_the_latest_quote_of_each_year():
    records = [
        _stored(DocumentKind.QUOTE, "DEV-2026-0001", 2027, 2),
        _stored(DocumentKind.INVOICE, "FAC-2026-00001", 2027, 5),
        _stored(DocumentKind.QUOTE, "DEV-2026-0002", 2027, 3),
        _stored(DocumentKind.CREDIT_NOTE, "AV-2026-00001", 2027, 6),
        _stored(DocumentKind.CERTIFICATE, "ATT-2026-00001", 2026, 7),
    ]
    history = history_documents(records, lambda r: "/d/" + r.document_id)
    assert list(history) == [2027, 2026]
    assert [link.label for link in history[2027]] == [
        "Devis DEV-2026-0002 du 3 novembre 2026", "Facture FAC-2026-00001", "Avoir AV-2026-00001"]
    assert [(link.label, link.url) for link in history[2026]] == [
        ("Attestation d'adhésion 2026", "/d/id-ATT-2026-00001")]
