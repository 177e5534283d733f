"""A renewal request (*demande de renouvellement*): what a member submits, and how it changes.

``check_submission`` turns the raw form into a ``Submission`` or raises a ``ValidationError``
whose messages are French and keyed by form field. ``new_request`` makes the stored record;
its later changes (purchase order, tier decision, invoice, cancellation) each return a new
record, their state given by the state machine of ``domain.renewal``.

Rules where the issue was silent:

- The tier offered for confirmation is the one of the last validated membership, else the
  organisation's current tier, provided the renewal year's grid still has it in the
  organisation's category. Otherwise nothing can be confirmed: the member picks a tier and
  the request waits for staff (TIER_DECISION_PENDING), with no comment required.
- Asking for another tier requires a comment (staff need the reason: new population,
  headcount…); it must be a tier of the organisation's category, other than the offered one.
- A buyer that requires an engagement number (``engagement`` or ``both``) cannot be invoiced
  without one: a member who does not ask us to wait for the purchase order must give the
  number. A buyer that requires a service code must have one in its billing details.
- Identifiers and addresses are checked by ``domain.validation`` (SIRET with its Luhn key,
  email syntax, French postcodes), except that the SIRET already on record is accepted as
  it is: an old record never blocks a renewal, only a *corrected* SIRET is checked. SIRET
  is required for public buyers (Chorus Pro identifies them by it), optional otherwise.
- The amount is the renewal year's grid amount when the request is made; a staff tier
  decision takes the decided tier's amount from the same grid.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from .association import PAYMENT_METHOD_LABELS
from .chorus import DirectoryAnswer, check_buyer
from .errors import ValidationError
from .model import Address, Category, Organisation, PublicBuyerRequirement, TariffGrid, Tier
from .renewal import RequestEvent, RequestState, apply, initial_state, is_open
from .validation import check_email, check_postcode, check_siret

PO_NUMBER_MAX = 50
COMMENT_MAX = 1000
# API Gateway hands Lambda the upload base64-encoded, and a Lambda request is at most 6 MB:
# 4 MiB of PDF (about 5.6 MB once encoded, with the form around it) is what surely arrives.
MAX_PURCHASE_ORDER_BYTES = 4 * 1024 * 1024
MAX_PURCHASE_ORDER_LABEL = "4 Mo"
PDF_EOF_WINDOW = 1024  # "%%EOF" must appear within the file's last KiB

# Form field → the longest value accepted (the form's own maxlength attributes match).
FIELD_LIMITS: dict[str, int] = {
    "tier_choice": 10,
    "requested_tier": 40,
    "tier_comment": COMMENT_MAX,
    "payment_method": 40,
    "wait_for_purchase_order": 5,
    "purchase_order_number": PO_NUMBER_MAX,
    "address_line1": 200,
    "address_line2": 200,
    "postcode": 10,
    "city": 100,
    "siret": 20,
    "invoice_email": 254,
    "service_code": 100,
    "buyer_requirement": 20,
}

CONFIRM, CHANGE = "confirm", "change"
YES, NO = "yes", "no"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --- values ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BillingDetails:
    """Where and how the organisation is invoiced, as it stood when the request was made."""

    address: Address
    invoice_email: str
    siret: str = ""
    service_code: str = ""
    buyer_requirement: PublicBuyerRequirement = PublicBuyerRequirement.NONE

    @classmethod
    def of(cls, org: Organisation) -> BillingDetails:
        return cls(org.billing_address, org.invoice_email, org.siret, org.service_code,
                   org.buyer_requirement)

    def applied_to(self, org: Organisation) -> Organisation:
        """The organisation with these billing details."""
        return replace(org, billing_address=self.address, invoice_email=self.invoice_email,
                       siret=self.siret, service_code=self.service_code,
                       buyer_requirement=self.buyer_requirement)


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a request's life: who did what, and the state it led to."""

    at: datetime
    action: str  # "submitted" or a RequestEvent value
    by: str  # contact id, or "system"
    state: RequestState
    note: str = ""


@dataclass(frozen=True)
class RenewalRequest:
    """One request per organisation, season (membership year) and attempt.

    ``attempt`` starts at 1; a new attempt is possible only once the previous one is
    cancelled. ``tier_*`` and ``amount`` are what would be invoiced now; a requested
    change lives in ``requested_tier_*`` until staff decide. ``version`` is the storage's
    optimistic-locking counter (None before the first write).
    """

    org_id: str
    year: int
    attempt: int
    state: RequestState
    submitted_at: datetime
    submitted_by: str
    submitted_by_name: str
    organisation_name: str
    category: Category
    public_buyer: bool
    billing: BillingDetails
    tier_code: str
    tier_label: str
    amount: Decimal
    offered_tier_code: str = ""  # the tier the member was asked to confirm ("" if none)
    requested_tier_code: str = ""
    requested_tier_label: str = ""
    requested_amount: Decimal | None = None
    tier_comment: str = ""
    payment_method: str = ""
    wait_for_purchase_order: bool = False
    purchase_order_number: str = ""
    purchase_order_file: str = ""  # storage key of the uploaded PDF
    purchase_order_at: datetime | None = None
    invoice_number: str = ""
    updated_at: datetime | None = None
    history: tuple[HistoryEntry, ...] = ()
    version: int | None = None

    @property
    def key(self) -> str:
        """Sort key within the organisation: season then attempt, e.g. ``2027#001``."""
        return request_key(self.year, self.attempt)

    @property
    def reference(self) -> str:
        """A readable reference for emails and the audit trail."""
        return f"{self.org_id}/{self.year}/{self.attempt}"

    @property
    def is_open(self) -> bool:
        return is_open(self.state)

    @property
    def tier_change_requested(self) -> bool:
        return bool(self.requested_tier_code)

    @property
    def purchase_order_given(self) -> bool:
        return bool(self.purchase_order_number or self.purchase_order_file)

    @property
    def awaiting_purchase_order(self) -> bool:
        """The member asked us to wait for a purchase order and none has come yet."""
        return self.wait_for_purchase_order and not self.purchase_order_given

    def already_done(self, event: RequestEvent) -> str:
        """When ``event`` is refused because it already happened (a second click, a retry after
        an error whose action did complete): what is already the case, in French; else ""."""
        happened = {entry.action for entry in self.history}
        if event is RequestEvent.INVOICE_ISSUED and self.invoice_number:
            return f"La facture {self.invoice_number} est déjà émise : rien n'a été refait."
        if event is RequestEvent.CANCEL and self.state is RequestState.CANCELLED:
            return "La demande est déjà annulée : rien n'a été refait."
        if event in (RequestEvent.TIER_ACCEPTED, RequestEvent.TIER_REFUSED) and \
                happened & {RequestEvent.TIER_ACCEPTED.value, RequestEvent.TIER_REFUSED.value}:
            return f"La tranche est déjà décidée ({self.tier_label}) : rien n'a été refait."
        return ""  # a purchase order after the invoice is a real refusal: it can no longer change

    @property
    def accepts_purchase_order_from_member(self) -> bool:
        """« Mes adhésions » offers the purchase-order form only while one is awaited."""
        return self.awaiting_purchase_order and self.state in (
            RequestState.AWAITING_PURCHASE_ORDER, RequestState.TIER_DECISION_PENDING)

    @property
    def payment_method_label(self) -> str:
        return PAYMENT_METHOD_LABELS.get(self.payment_method, self.payment_method)

    @property
    def in_state_since(self) -> datetime:
        """When the request entered its current state (e.g. for reminders while a PO is awaited)."""
        since = self.submitted_at
        for entry in reversed(self.history):
            if entry.state is not self.state:
                break
            since = entry.at
        return since

    # --- changes: each returns a new record, its state from the state machine -------

    def _after(self, event: RequestEvent, at: datetime, by: str, note: str = "", **changes) -> RenewalRequest:
        state = apply(self.state, event, awaiting_po=self.awaiting_purchase_order)
        entry = HistoryEntry(at, event.value, by, state, note)
        return replace(self, state=state, updated_at=at, history=self.history + (entry,), **changes)

    def with_purchase_order(self, number: str, file_key: str, at: datetime, by: str) -> RenewalRequest:
        """Record a purchase order (number and/or PDF); a missing part keeps what was there."""
        changed = replace(
            self,
            purchase_order_number=number or self.purchase_order_number,
            purchase_order_file=file_key or self.purchase_order_file,
            purchase_order_at=at,
        )
        return changed._after(RequestEvent.PURCHASE_ORDER_RECEIVED, at, by)

    def with_tier_decided(self, tier: Tier, at: datetime, by: str, note: str = "") -> RenewalRequest:
        """Staff settle the tier: keeping the offered tier is a refusal, any other an acceptance."""
        event = RequestEvent.TIER_REFUSED if tier.code == self.offered_tier_code else RequestEvent.TIER_ACCEPTED
        return self._after(event, at, by, note, tier_code=tier.code, tier_label=tier.label,
                           amount=tier.amount)

    def with_invoice(self, invoice_number: str, at: datetime, by: str = "system") -> RenewalRequest:
        return self._after(RequestEvent.INVOICE_ISSUED, at, by, invoice_number,
                           invoice_number=invoice_number)

    def with_invoice_replaced(self, invoice_number: str, po_number: str, service_code: str, at: datetime,
                              by: str, note: str = "") -> RenewalRequest:
        """The invoice cancelled by a credit note and replaced by ``invoice_number``, issued with
        the corrected engagement number and service code."""
        return self._after(RequestEvent.INVOICE_REPLACED, at, by, note, invoice_number=invoice_number,
                           purchase_order_number=po_number,
                           billing=replace(self.billing, service_code=service_code))

    def cancelled(self, at: datetime, by: str, reason: str = "") -> RenewalRequest:
        return self._after(RequestEvent.CANCEL, at, by, reason)

    def paid(self, at: datetime, by: str) -> RenewalRequest:
        return self._after(RequestEvent.PAYMENT_RECORDED, at, by)


def request_key(year: int, attempt: int) -> str:
    return f"{year:04d}#{attempt:03d}"


# --- the form --------------------------------------------------------------------------


@dataclass(frozen=True)
class RenewalForm:
    """The member's answers, as typed (every value a string)."""

    tier_choice: str = ""  # CONFIRM or CHANGE
    requested_tier: str = ""
    tier_comment: str = ""
    payment_method: str = ""
    wait_for_purchase_order: str = ""  # YES or NO
    purchase_order_number: str = ""
    address_line1: str = ""
    address_line2: str = ""
    postcode: str = ""
    city: str = ""
    siret: str = ""
    invoice_email: str = ""
    service_code: str = ""
    buyer_requirement: str = ""

    @classmethod
    def from_fields(cls, values: dict[str, str]) -> RenewalForm:
        return cls(**{name: values.get(name, "") for name in FIELD_LIMITS})

    @classmethod
    def prefilled(cls, org: Organisation, offered: Tier | None,
                  previous: RenewalRequest | None) -> RenewalForm:
        """The form as first shown: the organisation's details, the last choices made."""
        a = org.billing_address
        return cls(
            tier_choice=CONFIRM if offered else CHANGE,
            payment_method=previous.payment_method if previous else "",
            wait_for_purchase_order=(YES if previous.wait_for_purchase_order else NO) if previous else "",
            address_line1=a.line1, address_line2=a.line2, postcode=a.postcode, city=a.city,
            siret=org.siret, invoice_email=org.invoice_email, service_code=org.service_code,
            buyer_requirement=org.buyer_requirement.value,
        )


@dataclass(frozen=True)
class Submission:
    """A checked form: every value parsed and allowed."""

    tier: Tier  # invoiced unless staff decide otherwise
    requested_tier: Tier | None
    comment: str
    payment_method: str
    wait_for_purchase_order: bool
    purchase_order_number: str
    billing: BillingDetails


def offered_tier(grid: TariffGrid, category: Category, tier_code: str) -> Tier | None:
    """The tier to confirm, if the year's grid still has it in the organisation's category."""
    tier = grid.tier(tier_code) if tier_code else None
    return tier if tier is not None and tier.category is category else None


def _text(value: str, field: str, errors: dict[str, str], *, limit: int, required: str = "") -> str:
    value = value.strip()
    if _CONTROL.search(value):
        errors[field] = "Ce champ contient des caractères non autorisés (retours à la ligne, tabulations…)."
    elif len(value) > limit:
        errors[field] = f"Ce champ ne doit pas dépasser {limit} caractères (il en compte {len(value)})."
    elif not value and required:
        errors[field] = required
    return value


def _check_siret(value: str, on_record: str, required: bool, errors: dict[str, str]) -> str:
    siret = re.sub(r"[\s.\u00a0\u202f]", "", value)
    if not siret:
        if required:
            errors["siret"] = "Indiquez le SIRET de votre structure (14 chiffres) : Chorus Pro l'exige."
        return ""
    if siret == on_record:
        return siret  # what we already invoice with is never refused
    try:
        return check_siret(siret)
    except ValueError as error:
        errors["siret"] = str(error)
        return siret


def _check_billing(form: RenewalForm, org: Organisation, errors: dict[str, str],
                   directory: DirectoryAnswer | None) -> BillingDetails:
    line1 = _text(form.address_line1, "address_line1", errors, limit=FIELD_LIMITS["address_line1"],
                  required="Indiquez l'adresse de facturation.")
    line2 = _text(form.address_line2, "address_line2", errors, limit=FIELD_LIMITS["address_line2"])
    postcode = _text(form.postcode, "postcode", errors, limit=FIELD_LIMITS["postcode"],
                     required="Indiquez le code postal.")
    country = org.billing_address.country or "FR"
    if postcode and "postcode" not in errors:
        try:
            check_postcode(postcode, country)
        except ValueError as error:
            errors["postcode"] = str(error)
    city = _text(form.city, "city", errors, limit=FIELD_LIMITS["city"], required="Indiquez la commune.")
    email = _text(form.invoice_email, "invoice_email", errors, limit=FIELD_LIMITS["invoice_email"],
                  required="Indiquez l'adresse e-mail où envoyer les factures.")
    if email and "invoice_email" not in errors:
        try:
            email = check_email(email)
        except ValueError as error:
            errors["invoice_email"] = str(error)
    siret = _check_siret(form.siret, org.siret, org.public_buyer, errors)
    service_code, requirement = "", PublicBuyerRequirement.NONE
    if org.public_buyer:  # only public buyers have a Chorus Pro structure
        service_code = _text(form.service_code, "service_code", errors, limit=FIELD_LIMITS["service_code"])
        if "service_code" not in errors:
            # The directory decides (the SIRET's structure, its services and requirements); when it
            # cannot be asked, what staff recorded for the organisation applies.
            service_code, requirement = check_buyer(None if "siret" in errors else directory, service_code,
                                                    errors, fallback=org.buyer_requirement)
    address = Address(line1, postcode, city, line2, country)
    return BillingDetails(address, email, siret, service_code, requirement)


def _check_tier(form: RenewalForm, org: Organisation, offered: Tier | None, grid: TariffGrid,
                comment: str, errors: dict[str, str]) -> tuple[Tier | None, Tier | None]:
    """Return (tier invoiced for now, tier requested or None)."""
    if form.tier_choice == CONFIRM:
        if offered is None:
            errors["tier_choice"] = (f"Votre tranche précédente n'existe plus dans la grille {grid.year} : "
                                     "choisissez votre tranche dans la liste.")
        return offered, None
    if form.tier_choice != CHANGE:
        errors["tier_choice"] = "Indiquez si vous confirmez votre tranche tarifaire ou en demandez une autre."
        return None, None
    requested = grid.tier(form.requested_tier) if form.requested_tier else None
    if requested is None:
        errors["requested_tier"] = "Choisissez la tranche demandée dans la liste."
    elif requested.category is not org.category:
        errors["requested_tier"] = (f"Cette tranche n'est pas celle d'une structure de votre catégorie "
                                    f"({org.category.label}) : choisissez-en une dans la liste.")
        requested = None
    elif offered is not None and requested.code == offered.code:
        errors["requested_tier"] = ("C'est votre tranche actuelle : choisissez « Je confirme » "
                                    "ou une autre tranche.")
        requested = None
    if offered is not None and not comment and "tier_comment" not in errors:
        errors["tier_comment"] = ("Expliquez en quelques mots pourquoi votre tranche change "
                                  "(population, effectif…).")
    if offered is None:  # nothing to confirm: the chosen tier is a proposal staff will check
        return requested, requested
    return offered, requested


def check_submission(form: RenewalForm, *, organisation: Organisation, offered: Tier | None,
                     grid: TariffGrid, payment_methods: tuple[str, ...],
                     directory: DirectoryAnswer | None = None) -> Submission:
    """Parse and check the member's answers; raise ValidationError with one message per field.

    ``directory``: what the Chorus Pro directory says of the SIRET given (public buyers)."""
    org = organisation
    errors: dict[str, str] = {}
    comment = form.tier_comment.strip()
    if len(comment) > COMMENT_MAX:
        errors["tier_comment"] = f"Le commentaire ne doit pas dépasser {COMMENT_MAX} caractères (il en compte {len(comment)})."
    elif re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", comment):
        errors["tier_comment"] = "Ce commentaire contient des caractères non autorisés."
    tier, requested = _check_tier(form, org, offered, grid, comment, errors)
    if form.payment_method not in payment_methods:
        errors["payment_method"] = "Choisissez un mode de paiement dans la liste."
    if form.wait_for_purchase_order not in (YES, NO):
        errors["wait_for_purchase_order"] = "Indiquez si nous devons attendre votre bon de commande avant d'émettre la facture."
    number = form.purchase_order_number.strip()
    if len(number) > PO_NUMBER_MAX:
        errors["purchase_order_number"] = (f"Le numéro de bon de commande ou d'engagement ne doit pas dépasser "
                                           f"{PO_NUMBER_MAX} caractères.")
    elif _CONTROL.search(number):
        errors["purchase_order_number"] = "Ce numéro contient des caractères non autorisés."
    billing = _check_billing(form, org, errors, directory)
    if billing.buyer_requirement is PublicBuyerRequirement.EITHER and not billing.service_code \
            and form.wait_for_purchase_order == NO and not number and "purchase_order_number" not in errors:
        errors["purchase_order_number"] = (
            "Votre structure exige un code service ou un numéro d'engagement sur ses factures : choisissez "
            "un service, indiquez le numéro, ou demandez-nous d'attendre votre bon de commande.")
    engagement_required = billing.buyer_requirement in (PublicBuyerRequirement.ENGAGEMENT,
                                                       PublicBuyerRequirement.BOTH)
    if engagement_required and form.wait_for_purchase_order == NO and not number \
            and "purchase_order_number" not in errors:
        errors["purchase_order_number"] = (
            "Votre structure exige un numéro d'engagement sur ses factures : indiquez-le, "
            "ou demandez-nous d'attendre votre bon de commande.")
    if errors or tier is None:
        raise ValidationError(errors or {"tier_choice": "Choisissez votre tranche tarifaire."})
    return Submission(tier, requested, comment, form.payment_method, form.wait_for_purchase_order == YES,
                      number, billing)


def new_request(submission: Submission, *, org: Organisation, year: int, attempt: int,
                offered: Tier | None, contact_id: str, contact_name: str, at: datetime) -> RenewalRequest:
    """The request as first stored, in the state its answers lead to."""
    s = submission
    changing = s.requested_tier is not None
    state = initial_state(changing, s.wait_for_purchase_order, bool(s.purchase_order_number))
    requested = s.requested_tier
    return RenewalRequest(
        org_id=org.org_id, year=year, attempt=attempt, state=state, submitted_at=at,
        submitted_by=contact_id, submitted_by_name=contact_name, organisation_name=org.name,
        category=org.category, public_buyer=org.public_buyer, billing=s.billing,
        tier_code=s.tier.code, tier_label=s.tier.label, amount=s.tier.amount,
        offered_tier_code=offered.code if offered else "",
        requested_tier_code=requested.code if requested else "",
        requested_tier_label=requested.label if requested else "",
        requested_amount=requested.amount if requested else None,
        tier_comment=s.comment, payment_method=s.payment_method,
        wait_for_purchase_order=s.wait_for_purchase_order,
        purchase_order_number=s.purchase_order_number,
        purchase_order_at=at if s.purchase_order_number else None,
        updated_at=at,
        history=(HistoryEntry(at, "submitted", contact_id, state),),
    )


# --- the purchase order ----------------------------------------------------------------


def check_purchase_order(number: str, pdf: bytes | None, requirement: PublicBuyerRequirement) -> str:
    """Check a purchase order sent later; return the cleaned number or raise ValidationError.

    The file is judged by its content, never by its name or declared type: a PDF starts
    with ``%PDF-`` and ends with ``%%EOF`` (within its last KiB).
    """
    errors: dict[str, str] = {}
    number = number.strip()
    if len(number) > PO_NUMBER_MAX:
        errors["purchase_order_number"] = (f"Le numéro de bon de commande ou d'engagement ne doit pas dépasser "
                                           f"{PO_NUMBER_MAX} caractères.")
    elif _CONTROL.search(number):
        errors["purchase_order_number"] = "Ce numéro contient des caractères non autorisés."
    elif not number and requirement in (PublicBuyerRequirement.ENGAGEMENT, PublicBuyerRequirement.BOTH):
        errors["purchase_order_number"] = ("Votre structure exige un numéro d'engagement sur ses factures : "
                                           "indiquez-le.")
    if pdf:
        message = pdf_problem(pdf)
        if message:
            errors["purchase_order_file"] = message
    elif not number and not errors:
        errors["purchase_order_number"] = "Indiquez le numéro de votre bon de commande ou joignez-le en PDF."
    if errors:
        raise ValidationError(errors)
    return number


def pdf_problem(data: bytes) -> str:
    """What is wrong with an uploaded PDF, in French; "" when it is acceptable."""
    if len(data) > MAX_PURCHASE_ORDER_BYTES:
        return f"Ce fichier dépasse {MAX_PURCHASE_ORDER_LABEL} : envoyez une version plus légère de votre bon de commande."
    if not data.startswith(b"%PDF-"):
        return "Ce fichier n'est pas un PDF : envoyez votre bon de commande au format PDF."
    if b"%%EOF" not in data[-PDF_EOF_WINDOW:]:
        return "Ce PDF semble incomplet ou endommagé : enregistrez-le de nouveau puis renvoyez-le."
    return ""
