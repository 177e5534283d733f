"""Importing organisations, their contacts and their last membership from a CSV file.

One line describes one organisation, optionally one of its contacts and one membership.
``plan_import`` compares the file with what is stored and returns, line by line, what
would be created, changed or left as is, and every error — without writing anything.
The import is idempotent: organisations are matched by SIRET, contacts by email, and
memberships by organisation and year, so the same file imported twice changes nothing.

Rules:

- The SIRET column is required on every line (it is the organisation's key).
- A new organisation needs every required field; for an existing one, an empty cell
  leaves the stored value alone (an import never erases), a filled one replaces it.
- Several lines may share a SIRET (one per contact): organisation cells filled on a later
  line must agree with the first line's.
- A contact's email may not belong to a contact of another organisation, nor to staff;
  an imported contact is a *contact technique* and never gets a password (staff invite).
- A membership needs year, tier and status; the tier must exist in that year's tariff
  grid; the amount defaults to the grid's.
- The file is applied only if no line has an error (fix the file and upload it again).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .csv_io import CsvTable
from .errors import ValidationError
from .members import ORGANISATION_LABELS, check_organisation, organisation_diff, organisation_values
from .model import Category, Contact, Membership, MembershipStatus, Organisation, Role, Tier
from .validation import (
    check_amount,
    check_email,
    check_siret,
    check_year,
    check_yes_no,
    clean_text,
    fold,
    keep_or_check,
)


@dataclass(frozen=True)
class ImportUpload:
    """An uploaded import file waiting for staff confirmation (the file itself is in S3)."""
    import_id: str
    s3_key: str
    filename: str
    sha256: str
    size: int
    uploaded_by: str
    uploaded_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None = None
    confirmed_by: str | None = None


@dataclass(frozen=True)
class ImportColumn:
    key: str  # the organisation form field, or contact_* / membership_*
    header: str  # French header, as in the template and the exports
    aliases: tuple[str, ...] = ()


ORGANISATION_COLUMNS = (
    ImportColumn("siret", "SIRET"),
    ImportColumn("name", "Nom de la structure", ("nom", "structure", "raison_sociale")),
    ImportColumn("category", "Catégorie", ("categorie_de_structure",)),
    ImportColumn("address_line1", "Adresse", ("adresse_ligne_1", "adresse_1")),
    ImportColumn("address_line2", "Complément d'adresse", ("adresse_ligne_2", "adresse_2", "complement_adresse", "complement")),
    ImportColumn("postcode", "Code postal", ("cp",)),
    ImportColumn("city", "Ville", ("commune",)),
    ImportColumn("invoice_email", "E-mail de facturation", ("email_de_facturation", "email_facturation", "courriel_de_facturation")),
    ImportColumn("current_tier", "Tranche actuelle", ("tranche", "tranche_tarifaire")),
    ImportColumn("public_buyer", "Acheteur public"),
    ImportColumn("service_code", "Code service", ("code_service_chorus_pro", "code_service_chorus")),
    ImportColumn("buyer_requirement", "Exigence de l'acheteur public", ("exigence_acheteur", "exigence")),
)
CONTACT_COLUMNS = (
    ImportColumn("contact_name", "Contact : nom", ("nom_du_contact", "contact")),
    ImportColumn("contact_email", "Contact : e-mail", ("contact_email", "contact_courriel", "e_mail_du_contact", "email_du_contact")),
    ImportColumn("contact_notices", "Contact : reçoit les avis", ("contact_recoit_avis", "recoit_les_avis")),
)
MEMBERSHIP_COLUMNS = (
    ImportColumn("membership_year", "Adhésion : année", ("annee", "annee_d_adhesion", "derniere_adhesion_annee")),
    ImportColumn("membership_tier", "Adhésion : tranche", ("derniere_adhesion_tranche",)),
    ImportColumn("membership_amount", "Adhésion : montant", ("montant", "derniere_adhesion_montant")),
    ImportColumn("membership_status", "Adhésion : statut", ("statut", "derniere_adhesion_statut")),
)
COLUMNS = ORGANISATION_COLUMNS + CONTACT_COLUMNS + MEMBERSHIP_COLUMNS
HEADER_OF = {c.key: c.header for c in COLUMNS}
_ORG_KEYS = tuple(c.key for c in ORGANISATION_COLUMNS)
_MEMBERSHIP_KEYS = tuple(c.key for c in MEMBERSHIP_COLUMNS)
_STATUS_WORDS = {"validee": MembershipStatus.VALIDATED, "payee": MembershipStatus.PAID,
                 "annulee": MembershipStatus.CANCELLED}


def column_key(normalised_header: str) -> str | None:
    """The column a normalised file header stands for, if any."""
    from .csv_io import normalise_header

    for column in COLUMNS:
        if normalised_header in (normalise_header(column.header), column.key, *column.aliases):
            return column.key
    return None


def parse_status(text: str) -> MembershipStatus:
    wanted = fold(text)
    for status in MembershipStatus:
        if wanted in (status.value, fold(status.label)):
            return status
    if wanted in _STATUS_WORDS:
        return _STATUS_WORDS[wanted]
    raise ValueError("Statut inconnu : « Validée », « Payée » ou « Annulée ».")


@dataclass(frozen=True)
class ExistingState:
    """What is stored, as far as an import can touch it."""

    organisations: tuple[Organisation, ...]
    contacts: tuple[Contact, ...]
    memberships: Mapping[str, tuple[Membership, ...]]  # org id → memberships
    grids: Mapping[int, Mapping[str, Tier]]  # year → tier code → tier

    def known_tiers(self) -> dict[str, Category]:
        return {code: tier.category for grid in self.grids.values() for code, tier in grid.items()}


@dataclass(frozen=True)
class Change:
    """One thing the import would do: create, update or leave an item unchanged."""

    kind: str  # organisation, contact, membership
    action: str  # create, update, unchanged
    key: str  # what identifies the item, as shown to staff
    diff: tuple[tuple[str, str, str], ...] = ()  # (field label, before, after)

    @property
    def label(self) -> str:
        kinds = {"organisation": "Structure", "contact": "Contact", "membership": "Adhésion"}
        actions = {"create": "création", "update": "modification", "unchanged": "inchangé(e)"}
        return f"{kinds[self.kind]} {self.key} : {actions[self.action]}"


@dataclass(frozen=True)
class LinePlan:
    line: int
    changes: tuple[Change, ...] = ()
    errors: tuple[str, ...] = ()


@dataclass
class ImportPlan:
    lines: list[LinePlan] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # what to write, in order: organisations before their contacts and memberships
    organisations: dict[str, tuple[Organisation | None, Organisation]] = field(default_factory=dict)  # siret →
    contacts: dict[str, tuple[Contact | None, Contact]] = field(default_factory=dict)  # email →
    memberships: dict[tuple[str, int], tuple[Membership | None, Membership]] = field(default_factory=dict)

    @property
    def has_errors(self) -> bool:
        return bool(self.file_errors) or any(line.errors for line in self.lines)

    @property
    def error_count(self) -> int:
        return len(self.file_errors) + sum(len(line.errors) for line in self.lines)

    def counts(self) -> dict[str, dict[str, int]]:
        """kind → action → how many distinct items (for the summary)."""
        result = {k: {"create": 0, "update": 0, "unchanged": 0} for k in ("organisation", "contact", "membership")}
        seen = set()
        for line in self.lines:
            for change in line.changes:
                if (change.kind, change.key) not in seen:
                    seen.add((change.kind, change.key))
                    result[change.kind][change.action] += 1
        return result

    @property
    def writes(self) -> int:
        """How many items would be created or changed."""
        return sum(n for kind in self.counts().values() for action, n in kind.items() if action != "unchanged")


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "oui" if value else "non"
    return "" if value is None else str(value)


def _diff(changes: Mapping[str, tuple[object, object]], labels: Mapping[str, str]) -> tuple:
    return tuple((labels.get(k, k), _text(old), _text(new)) for k, (old, new) in changes.items())


def _membership_diff(before: Membership, after: Membership) -> dict[str, tuple[object, object]]:
    pairs = {"tranche": (before.tier_code, after.tier_code), "montant": (before.amount, after.amount),
             "statut": (before.status.label, after.status.label)}
    return {k: v for k, v in pairs.items() if v[0] != v[1]}


def _column_errors(errors: Mapping[str, str]) -> list[str]:
    return [f"{HEADER_OF.get(name, ORGANISATION_LABELS.get(name, name))} : {message}"
            for name, message in errors.items()]


class _Planner:
    def __init__(self, state: ExistingState, new_id: Callable[[], str]):
        self.state = state
        self.new_id = new_id
        self.plan = ImportPlan()
        self.orgs_by_siret = {o.siret: o for o in state.organisations if o.siret}
        self.contacts_by_email = {c.email.lower(): c for c in state.contacts}
        self.known_tiers = state.known_tiers()
        self.first_line_of: dict[str, tuple[int, dict[str, str]]] = {}  # siret → (line, org cells)
        self.contact_line: dict[str, tuple[int, tuple]] = {}
        self.membership_line: dict[tuple[str, int], tuple[int, Membership]] = {}

    def line(self, number: int, cells: Mapping[str, str]) -> LinePlan:
        errors: list[str] = []
        changes: list[Change] = []
        try:  # a stored SIRET is accepted as it is (see check_organisation)
            siret = keep_or_check(cells.get("siret", ""), self._stored_siret(cells.get("siret", "")), check_siret)
        except ValueError as error:
            return LinePlan(number, errors=(f"SIRET : {error}",))
        org = self._organisation(number, siret, cells, errors, changes)
        if org is None:
            return LinePlan(number, tuple(changes), tuple(errors))
        self._contact(number, org, cells, errors, changes)
        self._membership(number, org, cells, errors, changes)
        return LinePlan(number, tuple(changes), tuple(errors))

    def _stored_siret(self, text: str) -> str:
        wanted = "".join(text.split())
        return wanted if wanted in self.orgs_by_siret else ""

    # --- organisation --------------------------------------------------------------
    def _organisation(self, number, siret, cells, errors, changes) -> Organisation | None:
        org_cells = {k: cells.get(k, "") for k in _ORG_KEYS}
        if siret in self.first_line_of:
            first_line, first_cells = self.first_line_of[siret]
            clashes = [HEADER_OF[k] for k in _ORG_KEYS if org_cells[k] and first_cells[k]
                       and clean_text(org_cells[k]) != clean_text(first_cells[k])]
            if clashes:
                errors.append(f"Les informations de la structure diffèrent de la ligne {first_line} : "
                              + ", ".join(clashes) + ".")
                return None
            before, after = self.plan.organisations[siret]
            action = "create" if before is None else ("update" if organisation_diff(before, after) else "unchanged")
            changes.append(Change("organisation", action, f"{after.name} ({siret})"))
            return after
        existing = self.orgs_by_siret.get(siret)
        merged = organisation_values(existing) if existing else {k: "" for k in _ORG_KEYS}
        merged.update({k: v for k, v in org_cells.items() if v.strip()})
        if not org_cells.get("current_tier") and not (existing and existing.current_tier):
            merged["current_tier"] = cells.get("membership_tier", "")
        merged["siret"] = siret
        try:
            after = check_organisation(merged, self.known_tiers, org_id=existing.org_id if existing else self.new_id(),
                                       active=existing.active if existing else True, require_siret=True,
                                       stored_siret=existing.siret if existing else "")
        except ValidationError as error:
            errors.extend(_column_errors(error.errors))
            return None
        self.first_line_of[siret] = (number, org_cells)
        self.plan.organisations[siret] = (existing, after)
        if existing is None:
            changes.append(Change("organisation", "create", f"{after.name} ({siret})"))
        else:
            diff = organisation_diff(existing, after)
            changes.append(Change("organisation", "update" if diff else "unchanged", f"{after.name} ({siret})",
                                  _diff(diff, ORGANISATION_LABELS)))
        return after

    # --- contact -------------------------------------------------------------------
    def _contact(self, number, org, cells, errors, changes) -> None:
        name, raw_email = clean_text(cells.get("contact_name", "")), cells.get("contact_email", "").strip()
        notices_text = cells.get("contact_notices", "")
        if not raw_email:
            if name:
                errors.append(f"{HEADER_OF['contact_email']} : indiquez l'adresse e-mail du contact.")
            return
        try:
            email = check_email(raw_email)
        except ValueError as error:
            errors.append(f"{HEADER_OF['contact_email']} : {error}")
            return
        try:
            notices = check_yes_no(notices_text) if notices_text.strip() else None
        except ValueError as error:
            errors.append(f"{HEADER_OF['contact_notices']} : {error}")
            return
        if len(name) > 120:
            errors.append(f"{HEADER_OF['contact_name']} : ce nom est trop long (120 caractères au plus).")
            return
        signature = (org.org_id, name, notices)
        if email in self.contact_line:
            first_line, first_signature = self.contact_line[email]
            if first_signature != signature:
                errors.append(f"{HEADER_OF['contact_email']} : cette adresse figure déjà à la ligne {first_line} "
                              "avec d'autres informations.")
                return
            before, after = self.plan.contacts[email]
            changes.append(Change("contact", "create" if before is None else "unchanged", email))
            return
        existing = self.contacts_by_email.get(email)
        if existing is not None and existing.role is Role.STAFF:
            errors.append(f"{HEADER_OF['contact_email']} : cette adresse est celle d'un compte de l'équipe.")
            return
        if existing is not None and existing.org_id != org.org_id:
            errors.append(f"{HEADER_OF['contact_email']} : cette adresse appartient déjà à un contact d'une autre structure.")
            return
        if existing is None:
            if not name:
                errors.append(f"{HEADER_OF['contact_name']} : indiquez le nom du nouveau contact.")
                return
            after = Contact(self.new_id(), email, name, Role.CONTACT, org.org_id,
                            receives_notices=True if notices is None else notices)
            self.plan.contacts[email] = (None, after)
            self.contact_line[email] = (number, signature)
            changes.append(Change("contact", "create", email))
            return
        after = Contact(existing.contact_id, existing.email, name or existing.name, existing.role, existing.org_id,
                        existing.password_hash, existing.receives_notices if notices is None else notices,
                        existing.active, existing.password_changed_at)
        diff = {k: v for k, v in {"Nom": (existing.name, after.name),
                                  "Reçoit les avis": (existing.receives_notices, after.receives_notices)}.items()
                if v[0] != v[1]}
        self.plan.contacts[email] = (existing, after)
        self.contact_line[email] = (number, signature)
        changes.append(Change("contact", "update" if diff else "unchanged", email,
                              tuple((k, _text(a), _text(b)) for k, (a, b) in diff.items())))

    # --- membership ----------------------------------------------------------------
    def _membership(self, number, org, cells, errors, changes) -> None:
        if not any(cells.get(k, "").strip() for k in _MEMBERSHIP_KEYS):
            return
        local: list[str] = []

        def read(key, parse):
            text = cells.get(key, "").strip()
            if not text:
                local.append(f"{HEADER_OF[key]} : à renseigner pour importer l'adhésion.")
                return None
            try:
                return parse(text)
            except ValueError as error:
                local.append(f"{HEADER_OF[key]} : {error}")
                return None

        year = read("membership_year", check_year)
        code = cells.get("membership_tier", "").strip().upper()
        if not code:
            local.append(f"{HEADER_OF['membership_tier']} : à renseigner pour importer l'adhésion.")
        status = read("membership_status", parse_status)
        amount_text = cells.get("membership_amount", "").strip()
        amount = None
        if amount_text:
            try:
                amount = check_amount(amount_text)
            except ValueError as error:
                local.append(f"{HEADER_OF['membership_amount']} : {error}")
        tier = None
        if year is not None and code:
            tier = self.state.grids.get(year, {}).get(code)
            if tier is None:
                local.append(f"{HEADER_OF['membership_tier']} : la tranche « {code} » n'existe pas dans la grille "
                             f"tarifaire {year} (créez-la d'abord dans « Tarifs »).")
            elif tier.category is not org.category:
                local.append(f"{HEADER_OF['membership_tier']} : la tranche « {code} » n'est pas une tranche de la "
                             f"catégorie « {org.category.label} ».")
        if local:
            errors.extend(local)
            return
        after = Membership(org.org_id, year, tier.code, tier.label, amount if amount is not None else tier.amount,
                           status)
        key = (org.siret, year)
        shown = f"{org.name} {year}"
        if key in self.membership_line:
            first_line, first = self.membership_line[key]
            if first != after:
                errors.append(f"Adhésion {year} : déjà décrite à la ligne {first_line} avec d'autres valeurs.")
                return
            before, _ = self.plan.memberships[key]
            changes.append(Change("membership", "create" if before is None else
                                  ("update" if before != after else "unchanged"), shown))
            return
        before = next((m for m in self.state.memberships.get(org.org_id, ()) if m.year == year), None)
        self.membership_line[key] = (number, after)
        self.plan.memberships[key] = (before, after)
        if before is None:
            changes.append(Change("membership", "create", shown))
        else:
            diff = _membership_diff(before, after)
            changes.append(Change("membership", "update" if diff else "unchanged", shown,
                                  tuple((k, _text(a), _text(b)) for k, (a, b) in diff.items())))


def plan_import(table: CsvTable, state: ExistingState, new_id: Callable[[], str]) -> ImportPlan:
    """What importing ``table`` would do to ``state``; nothing is written."""
    planner = _Planner(state, new_id)
    plan = planner.plan
    plan.warnings.extend(table.warnings)
    keys = {h: column_key(h) for h in table.headers if h}
    unknown = [h for h, k in keys.items() if k is None]
    if unknown:
        plan.warnings.append("Colonnes ignorées (non reconnues) : " + ", ".join(unknown) + ".")
    found = {k for k in keys.values() if k}
    if "siret" not in found:
        plan.file_errors.append("La colonne « SIRET » est obligatoire (elle identifie chaque structure).")
        return plan
    if not table.rows:
        plan.file_errors.append("Le fichier ne contient aucune ligne de données.")
        return plan
    for row in table.rows:
        cells = {keys[h]: v for h, v in row.values.items() if keys.get(h)}
        plan.lines.append(planner.line(row.line, cells))
    return plan


def template_rows() -> Iterable[dict[str, object]]:
    """An example line for the import template."""
    yield {
        "siret": "21490123400015", "name": "Commune d'exemple", "category": "Collectivité",
        "address_line1": "1 place de la Mairie", "address_line2": "", "postcode": "49000", "city": "Angers",
        "invoice_email": "mairie@exemple.fr", "current_tier": "COL-1", "public_buyer": True, "service_code": "",
        "buyer_requirement": "aucune", "contact_name": "Prénom Nom", "contact_email": "prenom.nom@exemple.fr",
        "contact_notices": True, "membership_year": 2026, "membership_tier": "COL-1",
        "membership_amount": Decimal("180.00"), "membership_status": "Payée",
    }
