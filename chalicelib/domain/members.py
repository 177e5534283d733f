"""Rules for organisations and contacts as staff (and imports) create and change them.

Form field names are the English attribute names (``name``, ``invoice_email``…); the
import maps its French columns onto them so both share one set of rules.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from .model import Address, Category, Contact, Organisation, PublicBuyerRequirement, Role
from .validation import (
    FormChecker,
    check_email,
    check_postcode,
    check_siret,
    check_yes_no,
    fold,
    keep_or_check,
)

ORGANISATION_FIELDS = {
    "name": 200, "category": 60, "siret": 30, "address_line1": 200, "address_line2": 200,
    "postcode": 10, "city": 100, "invoice_email": 254, "current_tier": 20, "public_buyer": 5,
    "service_code": 100, "buyer_requirement": 60, "attach_invoices": 5,
}
CONTACT_FIELDS = {"name": 120, "email": 254}

ORGANISATION_LABELS = {
    "name": "Nom", "category": "Catégorie", "siret": "SIRET", "address_line1": "Adresse",
    "address_line2": "Complément d'adresse", "postcode": "Code postal", "city": "Ville",
    "invoice_email": "E-mail de facturation", "current_tier": "Tranche actuelle",
    "public_buyer": "Acheteur public", "service_code": "Code service Chorus Pro",
    "buyer_requirement": "Exigence de l'acheteur public", "active": "Active",
    "attach_invoices": "Factures PDF jointes aux e-mails",
}
CONTACT_LABELS = {"name": "Nom", "email": "E-mail", "role": "Rôle", "org_id": "Structure",
                  "receives_notices": "Reçoit les avis", "active": "Actif"}

_REQUIREMENT_WORDS = {
    "aucune": PublicBuyerRequirement.NONE, "aucun": PublicBuyerRequirement.NONE,
    "ni l'un ni l'autre": PublicBuyerRequirement.NONE, "code service": PublicBuyerRequirement.SERVICE_CODE,
    "numero d'engagement": PublicBuyerRequirement.ENGAGEMENT, "engagement": PublicBuyerRequirement.ENGAGEMENT,
    "les deux": PublicBuyerRequirement.BOTH, "code service et numero d'engagement": PublicBuyerRequirement.BOTH,
}


def parse_category(text: str) -> Category:
    """A category from its code (``collectivite``) or its label (« Collectivité »)."""
    wanted = fold(text)
    for category in Category:
        if wanted in (category.value, fold(category.label)):
            return category
    raise ValueError("Catégorie inconnue : choisissez " + ", ".join(f"« {c.label} »" for c in Category) + ".")


def parse_requirement(text: str) -> PublicBuyerRequirement:
    """What a public buyer requires on invoices, from its code, label or usual words."""
    wanted = fold(text)
    if not wanted:
        return PublicBuyerRequirement.NONE
    for requirement in PublicBuyerRequirement:
        if wanted in (requirement.value, fold(requirement.label)):
            return requirement
    if wanted in _REQUIREMENT_WORDS:
        return _REQUIREMENT_WORDS[wanted]
    raise ValueError("Exigence inconnue : « aucune », « code service », « numéro d'engagement » ou « les deux ».")


def organisation_values(org: Organisation) -> dict[str, str]:
    """The form values showing ``org`` (to prefill the edit form, or to merge an import line)."""
    a = org.billing_address
    return {
        "name": org.name, "category": org.category.value, "siret": org.siret, "address_line1": a.line1,
        "address_line2": a.line2, "postcode": a.postcode, "city": a.city, "invoice_email": org.invoice_email,
        "current_tier": org.current_tier, "public_buyer": "oui" if org.public_buyer else "non",
        "service_code": org.service_code, "buyer_requirement": org.buyer_requirement.value,
        "attach_invoices": "oui" if org.attach_invoices else "non",
    }


def check_organisation(values: Mapping[str, str], known_tiers: Mapping[str, Category], *,
                       org_id: str, active: bool = True, require_siret: bool = False,
                       stored_siret: str = "") -> Organisation:
    """The organisation described by the form values, or ``ValidationError`` per field.

    ``known_tiers`` maps the tier codes of the tariff grids to their category: the current
    tier must be one of them, for the organisation's category. ``stored_siret`` is accepted
    as it is, valid or not: a value stored before these checks existed is not judged again
    while it is left unchanged (staff can still edit the rest of the organisation).
    """
    check = FormChecker(values)
    name = check.text("name", message="Indiquez le nom de la structure.")
    category = check.value("category", parse_category, message="Choisissez une catégorie.")
    siret = check.value("siret", lambda text: keep_or_check(text, stored_siret, check_siret),
                        required=require_siret, message="Indiquez le SIRET.")
    line1 = check.text("address_line1", message="Indiquez l'adresse.")
    line2 = check.text("address_line2", required=False)
    postcode = check.value("postcode", check_postcode, message="Indiquez le code postal.")
    city = check.text("city", max_length=100, message="Indiquez la ville.")
    invoice_email = check.value("invoice_email", check_email, message="Indiquez l'e-mail de facturation.")
    tier = check.text("current_tier", required=False, max_length=20).upper()
    public_buyer = check.value("public_buyer", check_yes_no, required=False) or False
    service_code = check.text("service_code", required=False, max_length=100)
    requirement = check.value("buyer_requirement", parse_requirement, required=False) or PublicBuyerRequirement.NONE
    attach = check.value("attach_invoices", check_yes_no, required=False)  # absent: attached, the default
    if tier:
        if tier not in known_tiers:
            check.add("current_tier", f"La tranche « {tier} » n'existe dans aucune grille tarifaire.")
        elif category and known_tiers[tier] is not category:
            check.add("current_tier", f"La tranche « {tier} » n'est pas une tranche de la catégorie « {category.label} ».")
    if not public_buyer and requirement is not PublicBuyerRequirement.NONE:
        check.add("buyer_requirement", "Seul un acheteur public peut exiger un code service ou un numéro d'engagement.")
    if public_buyer and requirement in (PublicBuyerRequirement.SERVICE_CODE, PublicBuyerRequirement.BOTH) \
            and not service_code:
        check.add("service_code", "Cet acheteur public exige un code service : indiquez-le.")
    check.done()
    return Organisation(
        org_id=org_id, name=name, category=category, billing_address=Address(line1, postcode, city, line2),
        invoice_email=invoice_email, siret=siret or "", current_tier=tier, public_buyer=public_buyer,
        service_code=service_code, buyer_requirement=requirement, active=active,
        attach_invoices=attach is not False,  # absent or empty: attached
    )


def check_contact_fields(values: Mapping[str, str]) -> tuple[str, str]:
    """A contact's (name, email) from a form, or ``ValidationError`` per field."""
    check = FormChecker(values)
    name = check.text("name", max_length=120, message="Indiquez le nom du contact.")
    email = check.value("email", check_email, message="Indiquez l'adresse e-mail du contact.")
    check.done()
    return name, email


def organisation_diff(before: Organisation, after: Organisation) -> dict[str, tuple[object, object]]:
    """Field → (before, after) for every field that differs (audit trail, import preview)."""
    old, new = organisation_values(before), organisation_values(after)
    changed = {k: (old[k], new[k]) for k in old if old[k] != new[k]}
    if before.active != after.active:
        changed["active"] = (before.active, after.active)
    return changed


def contact_diff(before: Contact, after: Contact) -> dict[str, tuple[object, object]]:
    """Field → (before, after) for the fields staff may change (never the password)."""
    fields = ("name", "email", "role", "org_id", "receives_notices", "active")
    changed = {}
    for name in fields:
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            changed[name] = (old.value if isinstance(old, Role) else old, new.value if isinstance(new, Role) else new)
    return changed


def with_changes(contact: Contact, **changes) -> Contact:
    """A copy of ``contact`` with staff-editable fields changed (the password is never among them)."""
    forbidden = {"password_hash", "password_changed_at", "contact_id"} & set(changes)
    if forbidden:
        raise ValueError(f"staff never change {sorted(forbidden)}")
    return replace(contact, **changes)
