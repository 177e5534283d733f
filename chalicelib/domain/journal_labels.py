"""The audit journal in French: actions, actors, fields and values as staff read them.

Pure functions over what ``services/audit.record`` stored: no raw keys, enum values or ids
reach the page. Anything not listed here (an action or a field added later) still gets a
French wording from a generic fallback, never an error. Secrets were masked when the event
was recorded (``domain/audit.redact``); the masked value is shown as « masqué ».
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from .association import PAYMENT_METHOD_LABELS
from .audit import ACTIONS, MASK
from .chorus import STATUS_LABELS
from .formatting import format_date, format_datetime, format_eur
from .logo import LOGO_LABEL
from .members import CONTACT_LABELS, ORGANISATION_LABELS
from .model import CATEGORY_LABELS, Category, MembershipStatus, PublicBuyerRequirement, Role
from .renewal import RequestState
from .settings_form import KNOWN as SETTING_FIELDS
from .settings_form import VAT_REGIMES

PARIS = ZoneInfo("Europe/Paris")

# --- actions -----------------------------------------------------------------------------

ACTION_LABELS: Mapping[str, str] = {
    **ACTIONS,
    "renewal.submitted": "Demande d'adhésion enregistrée",
    "renewal.cancelled": "Demande d'adhésion annulée",
    "renewal.invoice_replaced": "Facture remplacée (avoir puis facture corrigée)",
    "second_factor.success": "Second facteur validé",
    "second_factor.failure": "Second facteur refusé",
    "second_factor.reset": "Second facteur réinitialisé",
    "chorus.deposited": "Document déposé sur Chorus Pro",
    "chorus.status": "Nouveau statut Chorus Pro",
}

# The first word of an unknown action, for its fallback label.
_FAMILIES = {
    "login": "Connexion", "logout": "Déconnexion", "password": "Mot de passe", "access": "Accès",
    "renewal": "Demande d'adhésion", "payment": "Paiement", "membership": "Adhésion",
    "organisation": "Structure", "contact": "Contact", "tariff": "Grille tarifaire", "settings": "Paramètres",
    "export": "Export", "document": "Document", "import": "Import", "campaign": "Campagne",
    "second_factor": "Second facteur", "chorus": "Chorus Pro",
}


def action_label(action: str) -> str:
    """« Demande d'adhésion enregistrée » for ``renewal.submitted``; an unknown action gets its
    family's name and the rest of its key in words."""
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    family, _, rest = action.partition(".")
    words = rest.replace("_", " ").strip()
    if family in _FAMILIES:
        return f"{_FAMILIES[family]} : autre action ({words})" if words else _FAMILIES[family]
    return f"Autre action ({action.replace('_', ' ')})" if action else "Action non précisée"


def action_choices() -> list[tuple[str, str]]:
    """(action, label) for the journal's filter, in the labels' alphabetical order."""
    return sorted(ACTION_LABELS.items(), key=lambda kv: kv[1])


# --- actors ------------------------------------------------------------------------------

ACTOR_LABELS: Mapping[str, str] = {
    "system": "Traitement automatique",
    "planification": "Traitement automatique (tâche planifiée)",
    "chorus-pro": "Chorus Pro",
    "anonyme": "Visiteur non connecté",
}


def actor_label(actor: str, names: Mapping[str, str]) -> str:
    """The author as staff know it: a person's name and email (``names``: contact id → name),
    the email typed in a failed login, or the automatic process that acted."""
    if actor in ACTOR_LABELS:
        return ACTOR_LABELS[actor]
    if actor in names:
        return names[actor]
    if "@" in actor:
        return actor
    return "Compte supprimé" if actor else "Auteur inconnu"


# --- fields ------------------------------------------------------------------------------

_FIELD_LABELS: Mapping[str, str] = {
    **ORGANISATION_LABELS,
    **CONTACT_LABELS,
    # renewal requests
    "state": "État de la demande", "tier": "Tranche", "requested_tier": "Tranche demandée",
    "payment_method": "Mode de paiement", "wait_for_purchase_order": "Attendre le bon de commande",
    "purchase_order_number": "N° de bon de commande ou d'engagement", "purchase_order_file": "Bon de commande en PDF",
    "invoice_number": "Facture", "invoice": "Facture", "credit_note": "Avoir", "note": "Message à la structure",
    "reason": "Motif", "request": "Demande", "address": "Adresse de facturation",
    # payments and documents
    "paid_total": "Total payé", "amount": "Montant", "paid_on": "Date du paiement", "method": "Mode de paiement",
    "reference": "Référence du paiement", "status": "Statut", "number": "Numéro", "year": "Année",
    "total": "Montant TTC", "kind": "Document",
    # Chorus Pro
    "flux": "Flux Chorus Pro", "attempts": "Tentatives de dépôt", "at": "Date", "comment": "Commentaire",
    # tariffs
    "code": "Code de la tranche", "label": "Libellé", "rank": "Ordre d'affichage", "version": "Grille modifiée",
    "source": "Année recopiée", "percent": "Variation",
    # accounts and security
    "ip": "Adresse IP", "locked_until": "Bloqué jusqu'au", "delayed_until": "Codes refusés jusqu'au",
    "account_found": "Compte trouvé", "link": "Lien", "sessions_revoked": "Sessions fermées",
    "links_voided": "Liens envoyés annulés", "had_password": "Avait déjà un mot de passe",
    "recovery_codes_left": "Codes de secours restants",
    # campaign, exports, imports
    "season": "Saison", "organisations": "Structures concernées", "chunks": "Lots d'envoi", "export": "Export",
    "rows": "Lignes", "lines": "Lignes du fichier", "errors": "Erreurs", "counts": "Changements prévus",
    "created": "Créations", "updated": "Mises à jour",
}

# Per action, where a key means something else than elsewhere.
_ACTION_FIELD_LABELS: Mapping[tuple[str, str], str] = {
    ("second_factor.success", "method"): "Moyen utilisé",
    ("membership.paid", "status"): "Adhésion",
    ("membership.paid", "amount"): "Montant",
    ("chorus.status", "status"): "Statut Chorus Pro",
    ("chorus.status", "at"): "Date du statut",
    ("contact.role_changed", "org_id"): "Structure",
    ("contact.updated", "org_id"): "Structure",
    ("tariff.tier_added", "year"): "Année de la grille",
    ("tariff.tier_updated", "year"): "Année de la grille",
    ("tariff.tier_removed", "year"): "Année de la grille",
    ("tariff.version_started", "version"): "Version",
    ("tariff.version_started", "year"): "Année de la grille",
    ("tariff.version_published", "year"): "Année de la grille",
    ("tariff.version_discarded", "year"): "Année de la grille",
    ("document.credit_note_issued", "invoice"): "Facture annulée",
    ("renewal.invoice_replaced", "invoice"): "Facture",
    ("login.failure", "reason"): "Motif du refus",
    ("access.denied", "reason"): "Motif du refus",
    ("second_factor.failure", "reason"): "Motif du refus",
}

# Actions whose before/after are keyed by tier code (a whole grid's amounts).
_TIER_AMOUNTS = {"tariff.grid_copied", "tariff.version_published"}

# Never shown: internal ids and fingerprints, of no use to a reader.
HIDDEN_FIELDS = frozenset({"sha256", "request_id", "payment_id", "import_id", "contact_id"})


def field_label(action: str, key: str) -> str:
    """The French name of a before/after/details field of ``action``."""
    key = str(key)
    if (action, key) in _ACTION_FIELD_LABELS:
        return _ACTION_FIELD_LABELS[(action, key)]
    if action in _TIER_AMOUNTS and key not in _FIELD_LABELS:
        return f"Tranche {key}"
    if action == "settings.updated":
        return _setting_label(key)
    family = action.partition(".")[0]
    if family == "organisation" and key in ORGANISATION_LABELS:
        return ORGANISATION_LABELS[key]
    if family == "contact" and key in CONTACT_LABELS:
        return CONTACT_LABELS[key]
    if key in _FIELD_LABELS:
        return _FIELD_LABELS[key]
    return key.replace("_", " ").strip().capitalize() or "Information"


def _setting_label(key: str) -> str:
    if key in SETTING_FIELDS:
        return SETTING_FIELDS[key].label
    if key == "logo":
        return LOGO_LABEL
    if key.startswith("method_"):
        method = key.removeprefix("method_")
        return f"Mode de paiement proposé : {PAYMENT_METHOD_LABELS.get(method, method.replace('_', ' '))}"
    addresses = {"address_line1": "Adresse de l'association", "address_line2": "Complément d'adresse de l'association",
                 "address_postcode": "Code postal de l'association", "address_city": "Ville de l'association"}
    return addresses.get(key, key.replace("_", " ").strip().capitalize() or "Réglage")


# --- values ------------------------------------------------------------------------------

EMPTY = "(vide)"
YES, NO = "oui", "non"

_REASONS: Mapping[str, str] = {
    "locked": "connexions retardées après des échecs répétés",
    "bad_password": "mot de passe incorrect",
    "unknown_email": "adresse inconnue ou compte inactif",
    "not_enrolled": "second facteur pas encore enregistré",
    "wrong_code": "code incorrect",
    "Forbidden": "page réservée à un autre compte",
    "CsrfFailed": "formulaire expiré ou falsifié (jeton de sécurité invalide)",
    "LoginRequired": "connexion nécessaire",
    "SecondFactorRequired": "second facteur nécessaire",
    "NotFound": "page ou élément introuvable",
    "OrganisationInactive": "structure désactivée",
}
_SECOND_FACTOR_METHODS = {"totp": "code de l'application", "enrolment": "enregistrement de l'application",
                          "recovery_code": "code de secours"}
_EXPORTS = {"organisations": "structures", "contacts": "contacts", "payments": "paiements", "factures": "factures",
            "avoirs": "avoirs"}
_TARIFF_VERSIONS = {"draft": "nouvelle version en préparation", "live": "grille en vigueur"}
_DOCUMENT_KINDS = {"quote": "Devis", "invoice": "Facture", "credit_note": "Avoir",
                   "certificate": "Attestation d'adhésion"}
_IMPORT_KINDS = {"organisation": "structures", "contact": "contacts", "membership": "adhésions"}
_IMPORT_ACTIONS = {"create": "à créer", "update": "à modifier", "unchanged": "inchangées"}
_AMOUNTS = {"amount", "total", "paid_total"}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?([+-][0-9]{2}:[0-9]{2}|Z)?")


def _enum_label(enum, value) -> str | None:
    try:
        return enum(value).label
    except ValueError:
        return None


def format_value(action: str, key: str, value, names: Mapping[str, str] | None = None) -> str:
    """A stored value as staff read it: French labels for codes, amounts in euros, dates in
    words, organisations and contacts by name (``names``: id → name), « (vide) » for nothing."""
    names = names or {}
    key = str(key)
    if value is None or value == "":
        return "aucune (équipe)" if key == "org_id" and action.startswith("contact.") else EMPTY
    if value == MASK:
        return "masqué"
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, dict):
        return _format_mapping(action, key, value, names)
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(action, key, v, names) for v in value) or EMPTY
    if isinstance(value, datetime):
        return _datetime(value)
    if isinstance(value, date):
        return format_date(value)
    text = str(value)
    specific = _specific(action, key, text, names)
    if specific is not None:
        return specific
    if key in _AMOUNTS or (action in _TIER_AMOUNTS and key not in _FIELD_LABELS):
        return _money(text)
    if _DATETIME.fullmatch(text):
        parsed = _parse_datetime(text)
        return _datetime(parsed) if parsed else text
    if _DATE.fullmatch(text):
        try:
            return format_date(date.fromisoformat(text))
        except ValueError:
            return text
    return text


def _specific(action: str, key: str, text: str, names: Mapping[str, str]) -> str | None:
    """The value's wording when its key (in this action) holds a code; None otherwise."""
    if key == "state":
        return _enum_label(RequestState, text)
    if key == "status":
        if action.startswith("chorus."):
            return STATUS_LABELS.get(text, text.replace("_", " ").lower())
        return _enum_label(MembershipStatus, text)
    if key == "category":
        return _enum_label(Category, text) or CATEGORY_LABELS.get(text)
    if key == "role":
        return _enum_label(Role, text)
    if key == "buyer_requirement":
        return _enum_label(PublicBuyerRequirement, text)
    if key == "payment_method" or (key == "method" and action == "payment.recorded"):
        return PAYMENT_METHOD_LABELS.get(text, text)
    if key == "method" and action.startswith("second_factor."):
        return _SECOND_FACTOR_METHODS.get(text, text)
    if key == "reason" and text in _REASONS:
        return _REASONS[text]
    if key == "export":
        return _EXPORTS.get(text, text)
    if key == "kind":
        return _DOCUMENT_KINDS.get(text, text)
    if key == "version" and action.startswith("tariff."):
        return _TARIFF_VERSIONS.get(text, f"version {text}")
    if key == "percent":
        return f"{text.replace('.', ',')}\u00a0%"
    if key == "org_id":
        return names.get(text, "structure supprimée")
    if key == "request":
        return request_label(text)
    if key in ("public_buyer", "attach_invoices") or (action == "settings.updated" and key.startswith("method_")):
        return {"oui": YES, "non": NO, "1": YES, "0": NO}.get(text, text)
    if action == "settings.updated" and key == "vat_regime":
        return VAT_REGIMES.get(text, text)
    if action == "settings.updated" and key in SETTING_FIELDS and SETTING_FIELDS[key].kind == "month_day":
        return _month_day(text)
    return None


def _format_mapping(action: str, key: str, value: dict, names: Mapping[str, str]) -> str:
    if key == "counts":  # an import's plan: kind → action → how many
        parts = []
        for kind, actions in value.items():
            if isinstance(actions, dict):
                done = [f"{n} {_IMPORT_ACTIONS.get(a, a)}" for a, n in actions.items() if n]
                if done:
                    parts.append(f"{_IMPORT_KINDS.get(kind, kind)} : {', '.join(done)}")
        return " ; ".join(parts) or "aucun"
    return " ; ".join(f"{field_label(action, k)} : {format_value(action, k, v, names)}" for k, v in value.items()) \
        or EMPTY


def _money(text: str) -> str:
    try:
        return format_eur(Decimal(text))
    except (InvalidOperation, ValueError, TypeError):
        return text


def _parse_datetime(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _datetime(value: datetime) -> str:
    """Stored times are UTC (naive means UTC); staff read them in Paris time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return format_datetime(value.astimezone(PARIS))


def _month_day(text: str) -> str:
    month, _, day = text.partition("-")
    if month.isdigit() and day.isdigit() and 1 <= int(month) <= 12 and 1 <= int(day) <= 31:
        return format_date(date(2000, int(month), int(day))).removesuffix(" 2000")
    return text


def request_label(reference: str) -> str:
    """« demande 2027 » for a request's reference ``org/2027/1`` (« 2e demande 2027 » after a cancellation)."""
    parts = reference.split("/")
    if len(parts) == 3 and parts[1].isdigit():
        attempt = parts[2]
        return f"demande {parts[1]}" + (f" (tentative n° {attempt})" if attempt.isdigit() and int(attempt) > 1 else "")
    return "demande"


# --- one event's before → after and details ---------------------------------------------

@dataclass(frozen=True)
class Change:
    label: str
    before: str  # "" when the field did not exist before (shown as « — »)
    after: str


def changes(action: str, before: Mapping, after: Mapping, names: Mapping[str, str] | None = None) -> list[Change]:
    """The fields that moved, in French: internal ids and fields recorded unchanged left out."""
    found = []
    for key in list(before) + [k for k in after if k not in before]:
        if key in HIDDEN_FIELDS or (key in before and key in after and before[key] == after[key]):
            continue
        found.append(Change(field_label(action, key),
                            format_value(action, key, before[key], names) if key in before else "",
                            format_value(action, key, after[key], names) if key in after else ""))
    return found


def details(action: str, values: Mapping, names: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The event's other facts, (label, value) in French, internal ids left out."""
    return [(field_label(action, k), format_value(action, k, v, names)) for k, v in values.items()
            if k not in HIDDEN_FIELDS]


# --- what the event is about -------------------------------------------------------------

@dataclass(frozen=True)
class Subject:
    label: str
    href: str = ""  # the staff page about it, when there is one


_NUMBER = re.compile(r"(FAC|AV|DEV|ATT)-[0-9]{4}-[0-9]{4,}")
_DOCUMENT_WORDS = {"FAC": "Facture", "AV": "Avoir", "DEV": "Devis", "ATT": "Attestation"}


def request_href(org_id: str, year) -> str:
    return f"/admin/demandes/{org_id}/{year}"


def organisation_href(org_id: str) -> str:
    return f"/admin/structures/{org_id}"


def subject(action: str, target: str, org_id: str | None, org_name: str = "", *, after: Mapping | None = None,
            details_: Mapping | None = None, names: Mapping[str, str] | None = None) -> Subject:
    """What the event is about, by name, with a link to its page: a request, a document, an
    organisation, a tariff grid… ``org_name`` is the organisation's name ("" if unknown)."""
    after, details_, names = after or {}, details_ or {}, names or {}
    family = action.partition(".")[0]
    org = org_name or ("structure supprimée" if org_id else "")
    year = _year_of(action, target, after, details_)
    if family in ("renewal", "payment", "membership") or (action == "organisation.billing_updated" and year):
        if org_id and year:
            return Subject(f"Demande {year} de {org}", request_href(org_id, year))
    if family in ("document", "chorus") or _NUMBER.fullmatch(target or ""):
        number = target if _NUMBER.fullmatch(target or "") else ""
        words = _DOCUMENT_WORDS.get(number.partition("-")[0], "Document")
        label = f"{words} {number}".strip() + (f" de {org}" if org else "")
        if org_id and year:
            return Subject(label, request_href(org_id, year))
        return Subject(label, organisation_href(org_id) if org_id else "")
    if family == "organisation":
        return Subject(org or target or "Structure", organisation_href(org_id) if org_id else "")
    if family == "contact" or family in ("login", "password", "logout", "second_factor"):
        who = names.get(target, "") if target and "@" not in target else target
        who = who or ("un compte" if target else "")
        label = f"{who} ({org})" if who and org else (who or org or "Compte")
        return Subject(label, organisation_href(org_id) if org_id else ("/admin/equipe" if family in
                                                                          ("contact", "second_factor") else ""))
    if family == "tariff":
        grid_year = str(details_.get("year") or target.split(" ")[0])
        if grid_year.isdigit():
            rest = target.partition(" ")[2]
            label = f"Grille tarifaire {grid_year}" + (f", tranche {rest}" if rest and not rest.startswith("v") else "")
            return Subject(label, f"/admin/tarifs/{grid_year}")
        return Subject("Grilles tarifaires", "/admin/tarifs")
    if family == "settings":
        return Subject("Paramètres de l'association", "/admin/parametres")
    if family == "export":
        return Subject(f"Fichier {target}" if target else "Export", "/admin/exports")
    if family == "import":
        return Subject(f"Fichier {target}" if target else "Import", "/admin/import")
    if family == "campaign":
        season = details_.get("season") or target.rpartition(" ")[2]
        return Subject(f"Campagne de renouvellement {season}".strip(), "/admin/campagne")
    if family == "access":
        method, _, path = target.partition(" ")
        return Subject(f"Page {path or method}" if target else "Page")
    if org_id:
        return Subject(org, organisation_href(org_id))
    return Subject(target or "—")


def _year_of(action: str, target: str, after: Mapping, details_: Mapping) -> str:
    """The membership year an event is about, when it says."""
    for candidate in (after.get("year"), details_.get("year")):
        if candidate is not None and str(candidate).isdigit() and len(str(candidate)) == 4:
            return str(candidate)
    for text in (target, str(details_.get("request", "")), str(after.get("request", ""))):
        parts = (text or "").split("/")  # a request's reference org/year/attempt, or org/year
        if len(parts) in (2, 3) and parts[1].isdigit() and len(parts[1]) == 4:
            return parts[1]
    return ""
