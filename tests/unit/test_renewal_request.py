"""The renewal request's rules: what a submission may contain, how the record changes."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from chalicelib.domain.chorus import BuyerService, BuyerStructure, DirectoryAnswer
from chalicelib.domain.errors import ValidationError
from chalicelib.domain.model import (
    Address,
    Category,
    Organisation,
    PublicBuyerRequirement,
    TariffGrid,
    Tier,
)
from chalicelib.domain.renewal import InvalidTransition, RequestState
from chalicelib.domain.renewal_request import (
    COMMENT_MAX,
    MAX_PURCHASE_ORDER_BYTES,
    PO_NUMBER_MAX,
    BillingDetails,
    RenewalForm,
    Submission,
    check_purchase_order,
    check_submission,
    new_request,
    offered_tier,
    pdf_problem,
)

C, E = Category.COLLECTIVITE, Category.ENTREPRISE
GRID = TariffGrid(2027, (
    Tier("COL-1", C, "Moins de 5 000 habitants", Decimal("185"), 0),
    Tier("COL-2", C, "5 000 à 20 000 habitants", Decimal("402"), 1),
    Tier("ENT-1", E, "1 à 9 salariés", Decimal("155"), 2),
))
METHODS = ("virement", "cheque", "mandat_administratif")
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
TOWN = Organisation(
    "org-x", "Ville de X", C, Address("1 place de la Mairie", "49000", "X"), "factures@x.example",
    siret="21440987600019", current_tier="COL-1", public_buyer=True, service_code="PARCS",
    buyer_requirement=PublicBuyerRequirement.NONE,
)
COMPANY = Organisation("org-y", "Y SARL", E, Address("2 rue Y", "35000", "Rennes"), "compta@y.example",
                       current_tier="ENT-1")
VALID_SIRET = "73282932000074"  # passes the Luhn check


def form(org: Organisation = TOWN, **changes) -> RenewalForm:
    base = RenewalForm.prefilled(org, offered_tier(GRID, org.category, org.current_tier), None)
    return replace(base, **{"payment_method": "virement", "wait_for_purchase_order": "no", **changes})


def check(f: RenewalForm, org: Organisation = TOWN, offered: Tier | None | str = "default",
          methods: tuple[str, ...] = METHODS, directory: DirectoryAnswer | None = None) -> Submission:
    tier = offered_tier(GRID, org.category, org.current_tier) if offered == "default" else offered
    return check_submission(f, organisation=org, offered=tier, grid=GRID, payment_methods=methods,
                            directory=directory)


def directory(requirement: str, siret: str = "21440987600019") -> DirectoryAnswer:
    """The Chorus Pro directory's answer for a structure with this requirement and two services."""
    flags = {"none": (False, False), "service_code": (True, False), "engagement": (False, True),
             "both": (True, True)}[requirement]
    return DirectoryAnswer("found", siret, BuyerStructure(
        siret, "Ville de X", True, *flags, services=(BuyerService("PARCS", "Parcs"), BuyerService("FIN", "Finances"))))


def errors_of(f: RenewalForm, **kwargs) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        check(f, **kwargs)
    return raised.value.errors


# --- the tier offered ------------------------------------------------------------------


def test_the_offered_tier_is_the_previous_one_if_the_grid_still_has_it_in_the_category():
    assert offered_tier(GRID, C, "COL-2").code == "COL-2"
    assert offered_tier(GRID, C, "ENT-1") is None  # another category
    assert offered_tier(GRID, C, "COL-9") is None  # no longer in the grid
    assert offered_tier(GRID, C, "") is None


def test_the_form_is_prefilled_from_the_organisation_and_the_previous_choices():
    first = RenewalForm.prefilled(TOWN, GRID.tier("COL-1"), None)
    assert (first.tier_choice, first.payment_method, first.wait_for_purchase_order) == ("confirm", "", "")
    assert (first.address_line1, first.postcode, first.siret, first.invoice_email, first.service_code,
            first.buyer_requirement) == ("1 place de la Mairie", "49000", "21440987600019",
                                         "factures@x.example", "PARCS", "none")
    previous = new_request(check(form(payment_method="cheque", wait_for_purchase_order="yes")), org=TOWN,
                           year=2026, attempt=1, offered=GRID.tier("COL-1"), contact_id="c", contact_name="C",
                           at=NOW)
    again = RenewalForm.prefilled(TOWN, None, previous)
    assert (again.tier_choice, again.payment_method, again.wait_for_purchase_order) == ("change", "cheque", "yes")


# --- the tier ---------------------------------------------------------------------------


def test_confirming_keeps_the_offered_tier_and_its_amount():
    s = check(form())
    assert (s.tier.code, s.tier.amount, s.requested_tier) == ("COL-1", Decimal("185"), None)


def test_asking_another_tier_of_the_category_with_a_comment_is_a_change_request():
    s = check(form(tier_choice="change", requested_tier="COL-2", tier_comment="  12 000 habitants  "))
    assert (s.tier.code, s.requested_tier.code, s.comment) == ("COL-1", "COL-2", "12 000 habitants")


@pytest.mark.parametrize("changes, field, message", [
    ({"tier_choice": "change", "requested_tier": "COL-2"}, "tier_comment", "Expliquez"),
    ({"tier_choice": "change", "requested_tier": "COL-1", "tier_comment": "x"}, "requested_tier", "actuelle"),
    ({"tier_choice": "change", "requested_tier": "ENT-1", "tier_comment": "x"}, "requested_tier", "catégorie"),
    ({"tier_choice": "change", "requested_tier": "NOPE", "tier_comment": "x"}, "requested_tier", "liste"),
    ({"tier_choice": "change", "requested_tier": "", "tier_comment": "x"}, "requested_tier", "liste"),
    ({"tier_choice": "maybe"}, "tier_choice", "confirmez"),
    ({"tier_choice": ""}, "tier_choice", "confirmez"),
])
def test_a_tier_answer_that_does_not_fit_is_refused_next_to_its_field(changes, field, message):
    assert message in errors_of(form(**changes))[field]


def test_with_no_tier_to_confirm_the_member_picks_one_for_staff_to_check():
    s = check(form(tier_choice="change", requested_tier="COL-2"), offered=None)
    assert (s.tier.code, s.requested_tier.code, s.comment) == ("COL-2", "COL-2", "")
    assert "n'existe plus" in errors_of(form(tier_choice="confirm"), offered=None)["tier_choice"]


# --- payment and purchase order ----------------------------------------------------------


def test_the_payment_method_must_be_one_of_the_settings():
    assert check(form(payment_method="cheque")).payment_method == "cheque"
    assert "mode de paiement" in errors_of(form(payment_method="cheque"), methods=("virement",))["payment_method"]
    assert "payment_method" in errors_of(form(payment_method=""))


@pytest.mark.parametrize("answer, expected", [("yes", True), ("no", False)])
def test_waiting_for_a_purchase_order_is_a_yes_or_no(answer, expected):
    assert check(form(wait_for_purchase_order=answer)).wait_for_purchase_order is expected


@pytest.mark.parametrize("answer", ["", "oui", "true", "YES"])
def test_anything_else_than_yes_or_no_is_refused(answer):
    assert "attendre" in errors_of(form(wait_for_purchase_order=answer))["wait_for_purchase_order"]


def test_the_purchase_order_number_may_have_up_to_50_characters():
    assert check(form(purchase_order_number=" " + "E" * PO_NUMBER_MAX + " ")).purchase_order_number == "E" * 50
    assert "50 caractères" in errors_of(form(purchase_order_number="E" * 51))["purchase_order_number"]
    assert "caractères non autorisés" in errors_of(form(purchase_order_number="EJ\n1"))["purchase_order_number"]


def test_the_comment_may_have_up_to_1000_characters_over_several_lines():
    text = ("ligne\n" * 200)[:COMMENT_MAX]
    assert check(form(tier_comment=text)).comment == text.strip()
    assert "1000 caractères" in errors_of(form(tier_comment="x" * 1001))["tier_comment"]
    assert "non autorisés" in errors_of(form(tier_comment="a\x00b"))["tier_comment"]


@pytest.mark.parametrize("requirement", ["engagement", "both"])
def test_a_buyer_requiring_an_engagement_number_gives_it_or_asks_us_to_wait(requirement):
    base, answer = form(service_code="PARCS"), directory(requirement)
    assert "numéro d'engagement" in errors_of(base, directory=answer)["purchase_order_number"]
    assert check(replace(base, purchase_order_number="EJ-1"), directory=answer).purchase_order_number == "EJ-1"
    assert check(replace(base, wait_for_purchase_order="yes"), directory=answer).wait_for_purchase_order is True
    # without the directory, what staff recorded for the organisation applies
    town = replace(TOWN, buyer_requirement=PublicBuyerRequirement(requirement))
    assert "numéro d'engagement" in errors_of(base, org=town)["purchase_order_number"]


@pytest.mark.parametrize("requirement", ["service_code", "both"])
def test_a_buyer_requiring_a_service_code_must_have_one(requirement):
    f = form(service_code="", wait_for_purchase_order="yes")
    assert "code service" in errors_of(f, directory=directory(requirement))["service_code"]
    town = replace(TOWN, buyer_requirement=PublicBuyerRequirement(requirement))
    assert "code service" in errors_of(f, org=town)["service_code"]


def test_the_form_cannot_claim_a_requirement_the_directory_contradicts():
    s = check(form(service_code="parcs", buyer_requirement="none", purchase_order_number="EJ-9"),
              directory=directory("both"))
    assert (s.billing.service_code, s.billing.buyer_requirement) == ("PARCS", PublicBuyerRequirement.BOTH)
    assert "ne figure pas" in errors_of(form(), directory=DirectoryAnswer("unknown", "21440987600019"))["siret"]


# --- billing details ---------------------------------------------------------------------


def test_unchanged_billing_details_are_the_organisations():
    assert check(form()).billing == BillingDetails.of(TOWN)


def test_corrected_billing_details_are_normalised_and_apply_to_the_organisation():
    s = check(form(address_line2=" Service finances ", invoice_email=" Compta@X.example", siret="732 829 320 00074",
                   service_code="FIN"), directory=directory("service_code", VALID_SIRET))
    assert s.billing.address == Address("1 place de la Mairie", "49000", "X", "Service finances", "FR")
    assert (s.billing.invoice_email, s.billing.siret) == ("compta@x.example", VALID_SIRET)
    updated = s.billing.applied_to(TOWN)
    assert (updated.name, updated.category, updated.service_code, updated.buyer_requirement) == (
        "Ville de X", C, "FIN", PublicBuyerRequirement.SERVICE_CODE)


def test_the_siret_on_record_is_accepted_as_it_is_but_a_corrected_one_is_checked():
    on_record = replace(TOWN, siret="21440987600018")  # a wrong Luhn key, from an old record
    assert check(form(on_record), org=on_record).billing.siret == "21440987600018"
    assert "SIRET" in errors_of(form(siret="21440987600017"))["siret"]
    assert "14 chiffres" in errors_of(form(siret="1234"))["siret"]
    assert "Chorus Pro" in errors_of(form(siret=""))["siret"]  # required for a public buyer
    assert check(form(COMPANY, siret=""), org=COMPANY).billing.siret == ""  # optional otherwise


def test_only_public_buyers_have_a_service_code_and_a_buyer_requirement():
    s = check(form(COMPANY, service_code="IGNORED", buyer_requirement="both"), org=COMPANY)
    assert (s.billing.service_code, s.billing.buyer_requirement) == ("", PublicBuyerRequirement.NONE)
    # the member no longer says what the buyer requires: a made-up value changes nothing
    assert check(form(buyer_requirement="sometimes")).billing.buyer_requirement is PublicBuyerRequirement.NONE


@pytest.mark.parametrize("field, value, message", [
    ("address_line1", "", "adresse"),
    ("address_line1", "x" * 201, "200 caractères"),
    ("address_line1", "1 rue\nde Paris", "non autorisés"),
    ("postcode", "4900", "5 chiffres"),
    ("postcode", "", "code postal"),
    ("city", "", "commune"),
    ("invoice_email", "", "e-mail"),
    ("invoice_email", "pas-une-adresse", "n'est pas valide"),
])
def test_billing_details_that_do_not_fit_are_refused_next_to_their_field(field, value, message):
    assert message in errors_of(form(**{field: value}))[field]


def test_every_mistake_is_reported_at_once():
    errors = errors_of(form(payment_method="", postcode="1", tier_choice="", purchase_order_number="E" * 60))
    assert set(errors) == {"payment_method", "postcode", "tier_choice", "purchase_order_number"}


# --- the request record ------------------------------------------------------------------


def request_for(**changes):
    s = check(form(**changes))
    return new_request(s, org=TOWN, year=2027, attempt=1, offered=GRID.tier("COL-1"), contact_id="c-1",
                       contact_name="Marc", at=NOW)


@pytest.mark.parametrize("changes, state", [
    ({}, RequestState.READY_TO_INVOICE),
    ({"wait_for_purchase_order": "yes"}, RequestState.AWAITING_PURCHASE_ORDER),
    ({"wait_for_purchase_order": "yes", "purchase_order_number": "EJ-1"}, RequestState.READY_TO_INVOICE),
    ({"tier_choice": "change", "requested_tier": "COL-2", "tier_comment": "x"}, RequestState.TIER_DECISION_PENDING),
    ({"tier_choice": "change", "requested_tier": "COL-2", "tier_comment": "x", "wait_for_purchase_order": "yes"},
     RequestState.TIER_DECISION_PENDING),
])
def test_a_new_request_starts_in_the_state_its_answers_lead_to(changes, state):
    r = request_for(**changes)
    assert r.state is state
    assert [(e.action, e.by, e.state) for e in r.history] == [("submitted", "c-1", state)]
    assert (r.key, r.reference, r.version) == ("2027#001", "org-x/2027/1", None)


def test_a_tier_change_request_records_what_was_asked_and_invoices_the_offered_tier_meanwhile():
    r = request_for(tier_choice="change", requested_tier="COL-2", tier_comment="12 000 habitants")
    assert (r.tier_code, r.amount, r.offered_tier_code) == ("COL-1", Decimal("185"), "COL-1")
    assert (r.requested_tier_code, r.requested_amount, r.tier_comment) == ("COL-2", Decimal("402"), "12 000 habitants")


def test_a_purchase_order_received_while_awaited_makes_the_request_ready_to_invoice():
    r = request_for(wait_for_purchase_order="yes")
    assert r.awaiting_purchase_order and r.accepts_purchase_order_from_member
    after = r.with_purchase_order("", "purchase-orders/org-x/k.pdf", NOW, "c-2")
    assert after.state is RequestState.READY_TO_INVOICE
    assert (after.purchase_order_file, after.purchase_order_at) == ("purchase-orders/org-x/k.pdf", NOW)
    assert not after.awaiting_purchase_order and not after.accepts_purchase_order_from_member
    assert after.with_purchase_order("EJ-2", "", NOW, "staff").purchase_order_file == "purchase-orders/org-x/k.pdf"


@pytest.mark.parametrize("tier, event, state", [
    ("COL-2", "tier_accepted", RequestState.AWAITING_PURCHASE_ORDER),
    ("COL-1", "tier_refused", RequestState.AWAITING_PURCHASE_ORDER),
])
def test_a_tier_decision_while_a_purchase_order_is_awaited_leads_to_waiting_for_it(tier, event, state):
    r = request_for(tier_choice="change", requested_tier="COL-2", tier_comment="x", wait_for_purchase_order="yes")
    after = r.with_tier_decided(GRID.tier(tier), NOW, "staff", "vu")
    assert (after.state, after.tier_code, after.history[-1].action, after.history[-1].note) == (state, tier, event, "vu")


def test_a_tier_decision_with_nothing_awaited_makes_the_request_ready_to_invoice():
    r = request_for(tier_choice="change", requested_tier="COL-2", tier_comment="x")
    after = r.with_tier_decided(GRID.tier("COL-2"), NOW, "staff")
    assert (after.state, after.amount) == (RequestState.READY_TO_INVOICE, Decimal("402"))


def test_invoice_payment_and_cancellation_follow_the_state_machine():
    r = request_for()
    invoiced = r.with_invoice("FAC-2027-00001", NOW)
    assert (invoiced.state, invoiced.invoice_number) == (RequestState.INVOICED, "FAC-2027-00001")
    assert invoiced.paid(NOW, "staff").state is RequestState.PAID
    assert invoiced.cancelled(NOW, "staff", "erreur").state is RequestState.CANCELLED
    with pytest.raises(InvalidTransition):
        invoiced.with_purchase_order("EJ-1", "", NOW, "c-1")  # an issued invoice is immutable
    with pytest.raises(InvalidTransition):
        r.paid(NOW, "staff")
    with pytest.raises(InvalidTransition):
        r.cancelled(NOW, "staff").cancelled(NOW, "staff")


# --- the purchase-order PDF -------------------------------------------------------------

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n"


def test_a_real_pdf_is_accepted():
    assert pdf_problem(PDF) == ""
    assert pdf_problem(b"%PDF-1.4" + b"x" * (MAX_PURCHASE_ORDER_BYTES - 14) + b"%%EOF\n") == ""


@pytest.mark.parametrize("data, message", [
    (b"\x89PNG\r\n\x1a\n" + b"%%EOF", "n'est pas un PDF"),
    (b" %PDF-1.7\n%%EOF", "n'est pas un PDF"),
    (b"%PDF-1.7\n" + b"x" * 100, "incomplet"),
    (b"%PDF-1.7\n%%EOF\n" + b"x" * 1100, "incomplet"),  # the end marker must be near the end
    (b"%PDF-1.4" + b"x" * MAX_PURCHASE_ORDER_BYTES + b"%%EOF", "4 Mo"),
])
def test_anything_else_is_refused_by_its_content(data, message):
    assert message in pdf_problem(data)


def test_a_purchase_order_sent_later_needs_a_number_or_a_pdf():
    assert check_purchase_order(" EJ-1 ", None, PublicBuyerRequirement.NONE) == "EJ-1"
    assert check_purchase_order("", PDF, PublicBuyerRequirement.NONE) == ""
    with pytest.raises(ValidationError) as raised:
        check_purchase_order("", None, PublicBuyerRequirement.NONE)
    assert "numéro" in raised.value.errors["purchase_order_number"]


def test_a_purchase_order_sent_later_reports_each_problem_next_to_its_field():
    with pytest.raises(ValidationError) as raised:
        check_purchase_order("", b"not a pdf", PublicBuyerRequirement.BOTH)
    assert set(raised.value.errors) == {"purchase_order_number", "purchase_order_file"}
    with pytest.raises(ValidationError) as raised:
        check_purchase_order("E" * 51, PDF, PublicBuyerRequirement.NONE)
    assert set(raised.value.errors) == {"purchase_order_number"}


def test_the_time_a_request_entered_its_state_is_known():
    r = request_for(tier_choice="change", requested_tier="COL-2", tier_comment="x", wait_for_purchase_order="yes")
    assert r.in_state_since == NOW
    later = NOW.replace(day=5)
    po_during_decision = r.with_purchase_order("EJ-1", "", later, "c-1")  # state unchanged
    assert po_during_decision.in_state_since == NOW
    decided = r.with_tier_decided(GRID.tier("COL-2"), later, "staff")
    assert (decided.state, decided.in_state_since) == (RequestState.AWAITING_PURCHASE_ORDER, later)


def test_an_event_refused_because_it_already_happened_says_what_is_the_case():
    from chalicelib.domain.renewal import RequestEvent

    ready = request_for()
    assert ready.already_done(RequestEvent.INVOICE_ISSUED) == ""  # not done: a real refusal elsewhere
    invoiced = ready.with_invoice("FAC-2026-00007", NOW, "staff")
    assert invoiced.already_done(RequestEvent.INVOICE_ISSUED) == "La facture FAC-2026-00007 est déjà émise : rien n'a été refait."
    assert invoiced.already_done(RequestEvent.CANCEL) == ""
    assert invoiced.already_done(RequestEvent.PURCHASE_ORDER_RECEIVED) == ""  # too late: a real refusal
    assert ready.cancelled(NOW, "staff").already_done(RequestEvent.CANCEL).startswith("La demande est déjà annulée")
    pending = request_for(tier_choice="change", requested_tier="COL-2", tier_comment="x")
    assert pending.already_done(RequestEvent.TIER_ACCEPTED) == ""
    decided = pending.with_tier_decided(GRID.tier("COL-2"), NOW, "staff")
    assert decided.already_done(RequestEvent.TIER_REFUSED).startswith("La tranche est déjà décidée")
