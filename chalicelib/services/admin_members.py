"""Staff management of organisations, their contacts and the team's own accounts.

Every change is recorded in the audit trail with the values before and after. Staff never
set nor see a password: a contact gets a set-password link by email (an invitation, with
the reset link's rules). A contact removed by staff is deactivated, not deleted: its
history stays, it can no longer log in, and it can be reactivated.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ..domain.chorus import check_buyer
from ..domain.documents import DocumentKind
from ..domain.errors import AlreadyExists, NotFound, ValidationError
from ..domain.members import (
    check_contact_fields,
    check_organisation,
    contact_diff,
    organisation_diff,
    organisation_values,
    with_changes,
)
from ..domain.model import Category, Contact, Membership, Organisation, Role, last_validated
from ..domain.validation import fold
from ..runtime import Runtime
from . import chorus, tasks
from .audit import record
from .auth import issue_password_link
from .mail import send_email

PAGE_SIZE = 25
STATES = {"actives": True, "desactivees": False, "toutes": None}


@dataclass(frozen=True)
class OrganisationPage:
    items: list[Organisation]
    total: int
    page: int
    pages: int
    query: str = ""
    category: str = ""
    state: str = "actives"


@dataclass(frozen=True)
class OrganisationDetail:
    organisation: Organisation
    contacts: list[Contact]
    memberships: list[Membership]
    current_tier_label: str
    extra: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)  # each season's latest renewal request, newest first
    documents: list = field(default_factory=list)  # invoices and credit notes, newest first
    payments: list = field(default_factory=list)  # newest first
    deposits: dict = field(default_factory=dict)  # document number → its Chorus Pro deposit


def _new_id(rt: Runtime, prefix: str) -> str:
    return f"{prefix}-{rt.id_factory()}"


def known_tiers(rt: Runtime) -> dict[str, Category]:
    """Tier codes of this year's and next year's grids (and last year's), with their category."""
    year = rt.today().year
    tiers: dict[str, Category] = {}
    for grid_year in (year - 1, year, year + 1):
        tiers.update({t.code: t.category for t in rt.tariffs.grid(grid_year).tiers})
    return tiers


def tier_choices(rt: Runtime) -> list[tuple[str, str]]:
    """(code, label) of the tiers staff may give an organisation, newest grid's labels."""
    year = rt.today().year
    labels: dict[str, str] = {}
    for grid_year in (year - 1, year, year + 1):
        for tier in sorted(rt.tariffs.grid(grid_year).tiers, key=lambda t: (t.category.value, t.rank)):
            labels[tier.code] = f"{tier.code} — {tier.label}"
    return sorted(labels.items())


# --- organisations ----------------------------------------------------------------------

def list_organisations(rt: Runtime, query: str = "", category: str = "", state: str = "actives",
                       page: int = 1) -> OrganisationPage:
    """Organisations whose name (or SIRET) contains ``query``, in a category and state, by name, paged."""
    wanted = fold(query)
    active = STATES.get(state, True)
    found = []
    for org in rt.organisations.all():
        if active is not None and org.active is not active:
            continue
        if category and org.category.value != category:
            continue
        if wanted and wanted not in fold(org.name) and wanted.replace(" ", "") not in org.siret:
            continue
        found.append(org)
    found.sort(key=lambda o: fold(o.name))
    pages = max(1, -(-len(found) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    items = found[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    return OrganisationPage(items, len(found), page, pages, query, category, state if state in STATES else "actives")


def get_organisation(rt: Runtime, org_id: str) -> Organisation:
    org = rt.organisations.get(org_id) if org_id and len(org_id) <= 100 else None
    if org is None:
        raise NotFound("Cette structure n'existe pas.")
    return org


def organisation_detail(rt: Runtime, org_id: str) -> OrganisationDetail:
    org = get_organisation(rt, org_id)
    memberships = rt.memberships.for_organisation(org_id)
    latest = last_validated(memberships)
    label = latest.tier_label if latest and latest.tier_code == org.current_tier else org.current_tier
    latest_by_season: dict[int, object] = {}
    for request in rt.renewals.for_organisation(org_id):  # newest season and attempt first
        latest_by_season.setdefault(request.year, request)
    documents = [d for d in reversed(rt.documents.for_organisation(org_id))
                 if d.kind in (DocumentKind.INVOICE, DocumentKind.CREDIT_NOTE)]
    paid = [p for year in sorted(latest_by_season, reverse=True) for p in rt.payments.for_request(org_id, year)]
    return OrganisationDetail(org, rt.contacts.for_organisation(org_id), memberships, label,
                              requests=list(latest_by_season.values()), documents=documents,
                              payments=sorted(paid, key=lambda p: p.paid_on, reverse=True),
                              deposits=chorus.for_numbers(rt, [d.number for d in documents]) if org.public_buyer else {})


def _siret_taken(rt: Runtime, siret: str, org_id: str) -> Organisation | None:
    if not siret:
        return None
    return next((o for o in rt.organisations.all() if o.siret == siret and o.org_id != org_id), None)


def with_directory(rt: Runtime, org: Organisation) -> Organisation:
    """A public buyer checked against the Chorus Pro directory: an unknown or inactive SIRET and
    a service code the structure does not have are refused (ValidationError); the requirement
    is the directory's. When the directory does not answer, staff's setting stands (the override)."""
    if not org.public_buyer or not org.siret:
        return org
    answer = chorus.look_up(rt, org.siret)
    errors: dict[str, str] = {}
    service_code, requirement = check_buyer(answer, org.service_code, errors, fallback=org.buyer_requirement)
    if errors:
        raise ValidationError(errors)
    return replace(org, service_code=service_code, buyer_requirement=requirement)


def create_organisation(rt: Runtime, actor: str, values: Mapping[str, str]) -> Organisation:
    """Create an organisation from the staff form (a SIRET already used elsewhere is refused)."""
    org = with_directory(rt, check_organisation(values, known_tiers(rt), org_id=_new_id(rt, "org")))
    other = _siret_taken(rt, org.siret, org.org_id)
    if other is not None:
        raise ValidationError({"siret": f"Ce SIRET est déjà celui de « {other.name} »."})
    rt.organisations.add(org)
    record(rt, "organisation.created", actor=actor, target=org.name, org_id=org.org_id,
           after=organisation_values(org))
    return org


def update_organisation(rt: Runtime, actor: str, org_id: str, values: Mapping[str, str]) -> Organisation:
    """Change an organisation's details from the staff form."""
    before = get_organisation(rt, org_id)
    after = with_directory(rt, check_organisation(values, known_tiers(rt), org_id=org_id, active=before.active,
                                                  stored_siret=before.siret))
    other = _siret_taken(rt, after.siret, org_id)
    if other is not None:
        raise ValidationError({"siret": f"Ce SIRET est déjà celui de « {other.name} »."})
    diff = organisation_diff(before, after)
    if diff:
        rt.organisations.update(after)
        record(rt, "organisation.updated", actor=actor, target=after.name, org_id=org_id,
               before={k: v[0] for k, v in diff.items()}, after={k: v[1] for k, v in diff.items()})
        if after.active:
            tasks.prepare_quotes(rt, [org_id])  # the quote with the new details, made now
    return after


def set_organisation_active(rt: Runtime, actor: str, org_id: str, active: bool) -> Organisation:
    """Disable an organisation that left the association, or enable it again.

    A disabled organisation keeps its history and its contacts keep their accounts (they may
    still download past invoices); it is left out of the lists and campaigns of members.
    """
    before = get_organisation(rt, org_id)
    if before.active is active:
        return before
    after = replace(before, active=active)
    rt.organisations.update(after)
    record(rt, "organisation.enabled" if active else "organisation.disabled", actor=actor, target=before.name,
           org_id=org_id, before={"active": before.active}, after={"active": active})
    return after


# --- contacts ---------------------------------------------------------------------------

def get_contact(rt: Runtime, contact_id: str) -> Contact:
    contact = rt.contacts.get(contact_id) if contact_id and len(contact_id) <= 100 else None
    if contact is None:
        raise NotFound("Ce contact n'existe pas.")
    return contact


def _new_contact(rt: Runtime, actor: str, values: Mapping[str, str], role: Role, org_id: str | None,
                 receives_notices: bool, invite: bool) -> Contact:
    name, email = check_contact_fields(values)
    contact = Contact(_new_id(rt, "ct"), email, name, role, org_id, receives_notices=receives_notices)
    try:
        rt.contacts.add(contact)
    except AlreadyExists:
        raise ValidationError({"email": "Un compte existe déjà avec cette adresse e-mail."}) from None
    record(rt, "contact.added", actor=actor, target=email, org_id=org_id,
           after={"name": name, "email": email, "role": role.value, "receives_notices": receives_notices})
    if invite:
        invite_contact(rt, actor, contact.contact_id)
    return contact


def add_contact(rt: Runtime, actor: str, org_id: str, values: Mapping[str, str], *,
                receives_notices: bool = True, invite: bool = False) -> Contact:
    """Add a *contact technique* to an organisation (no password: invite them to create one)."""
    org = get_organisation(rt, org_id)
    return _new_contact(rt, actor, values, Role.CONTACT, org.org_id, receives_notices, invite)


def add_staff_member(rt: Runtime, actor: str, values: Mapping[str, str], *, invite: bool = False) -> Contact:
    """Add an account for a member of the association's team."""
    return _new_contact(rt, actor, values, Role.STAFF, None, False, invite)


def _save_contact(rt: Runtime, actor: str, action: str, before: Contact, after: Contact) -> Contact:
    diff = contact_diff(before, after)
    if not diff:
        return before
    try:
        rt.contacts.update(before, after)
    except AlreadyExists:
        raise ValidationError({"email": "Un compte existe déjà avec cette adresse e-mail."}) from None
    record(rt, action, actor=actor, target=after.email, org_id=after.org_id or before.org_id,
           before={k: v[0] for k, v in diff.items()}, after={k: v[1] for k, v in diff.items()})
    return after


def update_contact(rt: Runtime, actor: str, contact_id: str, values: Mapping[str, str]) -> Contact:
    """Change a contact's name or email (the email is the login; it stays unique)."""
    before = get_contact(rt, contact_id)
    name, email = check_contact_fields(values)
    after = _save_contact(rt, actor, "contact.updated", before, with_changes(before, name=name, email=email))
    if after.email != before.email:
        _hand_over(rt, actor, before, after)
    return after


def _hand_over(rt: Runtime, actor: str, before: Contact, after: Contact) -> None:
    """An email change hands the account over: the former holder's sessions end, every reset
    or invitation link already mailed stops working (the credentials' change date moves, which
    ``ResetToken.usable`` checks), and both addresses are told."""
    now = rt.clock()
    rt.sessions.delete_for_contact(after.contact_id)
    rt.contacts.set_password_hash(after.contact_id, before.password_hash, now)
    for address in (before.email, after.email):
        send_email(rt, kind="email_changed", template="email_changed", recipients=[address], contact=after,
                   old_email=before.email, new_email=after.email, changed_at=now)
    record(rt, "contact.email_changed", actor=actor, target=after.contact_id, org_id=after.org_id,
           before={"email": before.email}, after={"email": after.email}, sessions_revoked=True, links_voided=True)


def _refuse_self(actor: str, contact: Contact, what: str) -> None:
    if contact.contact_id == actor:
        raise ValidationError({"form": f"Vous ne pouvez pas {what} votre propre compte."})


def _other_active_staff(rt: Runtime, contact: Contact) -> bool:
    return any(c.is_staff and c.active and c.contact_id != contact.contact_id for c in rt.contacts.all())


def set_contact_active(rt: Runtime, actor: str, contact_id: str, active: bool) -> Contact:
    """Remove a contact (deactivate: no login, no notices, history kept) or reactivate it."""
    before = get_contact(rt, contact_id)
    if not active:
        _refuse_self(actor, before, "désactiver")
        if before.is_staff and not _other_active_staff(rt, before):
            raise ValidationError({"form": "Il doit rester au moins un compte actif dans l'équipe."})
    after = _save_contact(rt, actor, "contact.enabled" if active else "contact.disabled", before,
                          with_changes(before, active=active))
    if not active:
        rt.sessions.delete_for_contact(contact_id)
    return after


def set_contact_notices(rt: Runtime, actor: str, contact_id: str, receives: bool) -> Contact:
    """Say whether a contact receives the renewal notices and reminders."""
    before = get_contact(rt, contact_id)
    return _save_contact(rt, actor, "contact.notices_changed", before, with_changes(before, receives_notices=receives))


def change_contact_role(rt: Runtime, actor: str, contact_id: str, role: str, org_id: str = "") -> Contact:
    """Make a contact a staff member (it leaves its organisation) or a staff member a contact of ``org_id``.

    The contact's sessions end, so that the new role applies from its next login.
    """
    before = get_contact(rt, contact_id)
    try:
        new_role = Role(role)
    except ValueError:
        raise ValidationError({"role": "Choisissez un rôle dans la liste."}) from None
    if new_role is before.role:
        return before
    _refuse_self(actor, before, "changer le rôle de")
    if new_role is Role.STAFF:
        after = with_changes(before, role=Role.STAFF, org_id=None, receives_notices=False)
    else:
        if not org_id:
            raise ValidationError({"org_id": "Choisissez la structure de ce contact."})
        org = rt.organisations.get(org_id) if len(org_id) <= 100 else None
        if org is None:
            raise ValidationError({"org_id": "Cette structure n'existe pas."})
        if not _other_active_staff(rt, before):
            raise ValidationError({"form": "Il doit rester au moins un compte actif dans l'équipe."})
        after = with_changes(before, role=Role.CONTACT, org_id=org.org_id, receives_notices=True)
    saved = _save_contact(rt, actor, "contact.role_changed", before, after)
    rt.sessions.delete_for_contact(contact_id)
    return saved


def invite_contact(rt: Runtime, actor: str, contact_id: str) -> Contact:
    """Mail the contact a single-use link to create (or replace) its password."""
    contact = get_contact(rt, contact_id)
    if not contact.active:
        raise ValidationError({"form": "Ce contact est désactivé : réactivez-le avant de l'inviter."})
    if contact.org_id:
        org = rt.organisations.get(contact.org_id)
        if org is not None and not org.active:
            raise ValidationError({"form": "Cette structure est désactivée : réactivez-la avant d'inviter ses contacts."})
    issue_password_link(rt, contact, purpose="invite")
    record(rt, "contact.invited", actor=actor, target=contact.email, org_id=contact.org_id,
           had_password=bool(contact.password_hash))
    return contact


def staff_members(rt: Runtime) -> list[Contact]:
    return sorted((c for c in rt.contacts.all() if c.is_staff), key=lambda c: (not c.active, fold(c.name)))


def organisation_choices(rt: Runtime) -> list[tuple[str, str]]:
    """(id, name) of the active organisations, by name (to choose a demoted staff member's organisation)."""
    return [(o.org_id, o.name) for o in sorted(rt.organisations.all(), key=lambda o: fold(o.name)) if o.active]
