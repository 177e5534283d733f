"""The association settings as a staff form: which fields, how each is checked.

The form follows ``AssociationSettings`` itself: every dataclass field is shown, the known
ones with a French label, a group and a specific check; a field added later without an
entry here still appears (in « Autres réglages ») as a whole number or a text, from its
default's type. Fields of other types (dicts, lists) are kept as they are, not shown.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal

from .association import PAYMENT_METHOD_LABELS, AssociationSettings
from .model import Address
from .season import CampaignOpening
from .validation import (
    FormChecker,
    check_bic,
    check_email,
    check_iban,
    check_int,
    check_phone,
    check_postcode,
    check_siret,
    format_iban,
    keep_or_check,
)

VAT_REGIMES = {
    "outside_scope": "Hors du champ de la TVA (cotisation sans contrepartie individuelle)",
    "exempt": "Exonérée de TVA",
    "registered": "Assujettie à la TVA (la TVA s'ajoute aux montants de la grille)",
}
ADDRESS_FIELDS = ("address_line1", "address_line2", "address_postcode", "address_city")
# Shown apart: the address as four fields, the logo with its own upload form (domain.logo).
NOT_IN_FORM = ("address", "logo")


@dataclass(frozen=True)
class SettingField:
    name: str
    label: str
    kind: str  # text, textarea, email, phone, siret, iban, bic, url, vat_regime, rate, month_day, int, methods
    group: str
    hint: str = ""
    required: bool = False
    minimum: int = 0
    maximum: int = 3650
    max_length: int = 200


IDENTITY, CONTACT, BANK, VAT, DOCUMENTS, CAMPAIGN, LIMITS, OTHER = (
    "Identité de l'association", "Coordonnées affichées aux adhérents", "Coordonnées bancaires",
    "TVA et mentions des factures", "Paiements, devis et factures", "Dates et relances",
    "Envoi des courriels", "Autres réglages",
)
GROUPS = (IDENTITY, CONTACT, BANK, VAT, DOCUMENTS, CAMPAIGN, LIMITS, OTHER)


@dataclass(frozen=True)
class Section:
    """A part of the settings page, with its own form: saving it changes only its fields."""

    key: str  # its anchor on the page and its form's ``section`` value
    title: str
    groups: tuple[str, ...]
    address: bool = False  # the head office's address is part of it


SECTIONS = (
    Section("identite", "Identité de l'association", (IDENTITY, CONTACT), address=True),
    Section("facturation", "Facturation", (BANK, VAT, DOCUMENTS)),
    Section("campagne", "Campagne de renouvellement", (CAMPAIGN,)),
    Section("limites", "Limites techniques", (LIMITS, OTHER)),
)


def section(key: str) -> Section | None:
    return next((s for s in SECTIONS if s.key == key), None)


def section_fields(sec: Section) -> list[str]:
    """The form names a section's form posts (what saving it may change)."""
    names = []
    for f in form_fields():
        if f.group not in sec.groups:
            continue
        if f.kind == "methods":
            names.extend(f"method_{m}" for m in PAYMENT_METHOD_LABELS)
        else:
            names.append(f.name)
    return names + (list(ADDRESS_FIELDS) if sec.address else [])

KNOWN = {f.name: f for f in (
    SettingField("name", "Nom de l'association", "text", IDENTITY, required=True),
    SettingField("siret", "SIRET", "siret", IDENTITY, "14 chiffres ; le SIREN en est tiré (9 premiers chiffres).",
                 required=True),
    SettingField("website", "Site web", "url", IDENTITY, "Adresse complète, par exemple https://www.exemple.fr",
                 max_length=300),
    SettingField("contact_email", "E-mail de contact", "email", CONTACT, "Affiché en bas de chaque page et courriel.",
                 required=True),
    SettingField("contact_phone", "Téléphone de contact", "phone", CONTACT, required=True),
    SettingField("contact_person", "Personne à contacter", "text", CONTACT,
                 "Par exemple : Camille Martin, assistante administrative"),
    SettingField("staff_notification_email", "E-mail de notification de l'équipe", "email", CONTACT,
                 "Reçoit les avis de nouvelles demandes.", required=True),
    SettingField("iban", "IBAN", "iban", BANK, "Imprimé sur les factures pour les virements."),
    SettingField("bic", "BIC", "bic", BANK),
    SettingField("vat_regime", "Régime de TVA", "vat_regime", VAT,
                 "Hors du champ (par défaut : cotisations sans contrepartie individualisée), exonérée "
                 "(article 261-7-1° a du CGI) ou assujettie. La mention imprimée en découle.", required=True),
    SettingField("vat_rate", "Taux de TVA (%)", "rate", VAT, "Utilisé seulement si l'association est assujettie."),
    SettingField("vat_number", "Numéro de TVA intracommunautaire", "text", VAT, "Par exemple FR12345678901.",
                 max_length=20),
    SettingField("late_penalty_wording", "Mention des pénalités de retard", "textarea", VAT, max_length=500),
    SettingField("early_payment_wording", "Mention d'escompte", "textarea", VAT, max_length=500),
    SettingField("payment_methods", "Modes de paiement proposés", "methods", DOCUMENTS, "Au moins un."),
    SettingField("quote_validity_days", "Validité des devis (jours)", "int", DOCUMENTS, minimum=1, maximum=365),
    SettingField("invoice_due_days", "Échéance des factures (jours)", "int", DOCUMENTS, minimum=0, maximum=120),
    SettingField("campaign_opening", "Ouverture de la campagne (MM-JJ)", "month_day", CAMPAIGN,
                 "Jour et mois de l'année précédente où s'ouvre le renouvellement, par exemple 12-01 "
                 "pour le 1er décembre.", required=True),
    SettingField("reminder_no_request_days", "Relance sans demande (jours après l'avis)", "int", CAMPAIGN,
                 minimum=1, maximum=365),
    SettingField("reminder_po_days", "Relance bon de commande (jours après la demande)", "int", CAMPAIGN,
                 minimum=1, maximum=365),
    SettingField("reminder_unpaid_days_after_due", "Relance facture impayée (jours après l'échéance)", "int",
                 CAMPAIGN, minimum=1, maximum=365),
    SettingField("ses_max_per_second", "Débit d'envoi des courriels (par seconde)", "int", LIMITS,
                 "Ce que le service d'envoi (Amazon SES) autorise au compte.", minimum=1, maximum=1000),
    SettingField("campaign_chunk_size", "Structures par lot d'envoi", "int", LIMITS,
                 "Les avis de campagne partent par lots de cette taille.", minimum=1, maximum=1000),
)}


def form_fields() -> list[SettingField]:
    """Every editable field of the settings, known or not, in form order (address apart)."""
    found = []
    for f in fields(AssociationSettings):
        if f.name in NOT_IN_FORM:
            continue
        if f.name in KNOWN:
            found.append(KNOWN[f.name])
            continue
        default = f.default
        if isinstance(default, bool):
            continue  # no generic boolean setting yet: keep as is
        if isinstance(default, int):
            found.append(SettingField(f.name, _humanise(f.name), "int", OTHER, maximum=100000))
        elif isinstance(default, str):
            found.append(SettingField(f.name, _humanise(f.name), "textarea" if len(default) > 80 else "text", OTHER,
                                      max_length=1000))
    order = {g: i for i, g in enumerate(GROUPS)}
    return sorted(found, key=lambda f: order[f.group])


def _humanise(name: str) -> str:
    return name.replace("_", " ").capitalize()


def field_limits() -> dict[str, int]:
    """Form field → maximum length, for the request parser."""
    limits = {f.name: max(f.max_length, 20) for f in form_fields() if f.kind != "methods"}
    limits.update({"address_line1": 200, "address_line2": 200, "address_postcode": 10, "address_city": 100,
                   "version": 12, "section": 20})
    limits.update({f"method_{m}": 5 for m in PAYMENT_METHOD_LABELS})
    return limits


def settings_values(settings: AssociationSettings) -> dict[str, str]:
    """The form values showing ``settings``."""
    values: dict[str, str] = {}
    for f in form_fields():
        value = getattr(settings, f.name)
        if f.kind == "methods":
            values.update({f"method_{m}": "1" for m in value})
        elif f.kind == "iban" and value:
            values[f.name] = format_iban(value)
        else:
            values[f.name] = str(value)
    a = settings.address
    values.update(address_line1=a.line1, address_line2=a.line2, address_postcode=a.postcode, address_city=a.city)
    return values


def _check_url(text: str) -> str:
    if not text.startswith(("https://", "http://")) or " " in text or len(text) < 10:
        raise ValueError("Indiquez une adresse complète, commençant par https://")
    return text


def _check_rate(text: str) -> str:
    value = text.strip().replace(",", ".").replace("%", "").strip()
    try:
        rate = Decimal(value).quantize(Decimal("0.01"))
    except ArithmeticError:
        raise ValueError("Indiquez un taux en pourcentage, par exemple 20 ou 5,5.") from None
    if not Decimal("0") < rate < Decimal("100"):
        raise ValueError("Le taux doit être compris entre 0 et 100.")
    return str(rate)


def _check_month_day(text: str) -> str:
    return str(CampaignOpening.parse(text))


def _check_vat_number(text: str) -> str:
    """An EU VAT number; a French one's key is checked (FR + key + SIREN, python-stdnum)."""
    value = text.replace(" ", "").replace(".", "").upper()
    if not (4 <= len(value) <= 15 and value[:2].isalpha() and value[2:].isalnum()):
        raise ValueError("Le numéro de TVA commence par le code pays, par exemple FR12345678901.")
    if value.startswith("FR"):
        from stdnum.fr import tva  # shipped with factur-x

        if not tva.is_valid(value):
            raise ValueError("Ce numéro de TVA français n'est pas valide : vérifiez la clé (2 caractères après FR) "
                             "et le SIREN.")
    return value


_CHECKS = {
    "email": check_email, "phone": check_phone, "siret": check_siret, "iban": check_iban, "bic": check_bic,
    "url": _check_url, "rate": _check_rate, "month_day": _check_month_day,
}


def check_settings(values: Mapping[str, str], current: AssociationSettings,
                   sec: Section | None = None) -> AssociationSettings:
    """The settings the form describes (fields not in the form keep their value), or ValidationError.

    With ``sec``, only that section's fields are read: the others keep their value whatever the
    request holds (a section saved on its own never wipes another)."""
    check = FormChecker(values)
    changes: dict[str, object] = {}
    for f in form_fields():
        if sec is not None and f.group not in sec.groups:
            continue
        if f.kind == "methods":
            chosen = tuple(m for m in PAYMENT_METHOD_LABELS if values.get(f"method_{m}"))
            if not chosen:
                check.add("payment_methods", "Choisissez au moins un mode de paiement.")
            changes[f.name] = chosen
        elif f.kind == "int":
            changes[f.name] = check.value(
                f.name, lambda t, f=f: check_int(t, minimum=f.minimum, maximum=f.maximum),
                message="Indiquez un nombre.")
        elif f.kind == "vat_regime":
            changes[f.name] = check.choice(f.name, {k: k for k in VAT_REGIMES})
        elif f.kind in ("text", "textarea"):
            value = check.text(f.name, required=f.required, max_length=f.max_length)
            if f.name == "vat_number" and value:
                value = check.value(f.name, _check_vat_number) or ""
            changes[f.name] = value
        elif f.kind in ("siret", "iban"):  # a stored value is not judged again while unchanged
            stored = getattr(current, f.name)
            changes[f.name] = check.value(f.name, lambda t, c=_CHECKS[f.kind], s=stored: keep_or_check(t, s, c),
                                          required=f.required) or ""
        else:
            changes[f.name] = check.value(f.name, _CHECKS[f.kind], required=f.required) or ""
    address = current.address
    if sec is None or sec.address:
        line1 = check.text("address_line1", message="Indiquez l'adresse.")
        line2 = check.text("address_line2", required=False)
        postcode = check.value("address_postcode", check_postcode, message="Indiquez le code postal.")
        city = check.text("address_city", max_length=100, message="Indiquez la ville.")
        address = Address(line1, postcode, city, line2, current.address.country)
    if "vat_regime" in changes:
        vat_number = changes.get("vat_number", current.vat_number)
        if changes["vat_regime"] in ("registered", "exempt") and not vat_number:
            check.add("vat_number", "Une association assujettie à la TVA, même exonérée, doit indiquer son numéro "
                                    "de TVA.")
    check.done()
    return replace(current, address=address, **changes)


def settings_diff(before: AssociationSettings, after: AssociationSettings) -> dict[str, tuple[object, object]]:
    """Field → (before, after) for the audit trail."""
    old, new = settings_values(before), settings_values(after)
    keys = set(old) | set(new)
    return {k: (old.get(k, ""), new.get(k, "")) for k in sorted(keys) if old.get(k, "") != new.get(k, "")}
