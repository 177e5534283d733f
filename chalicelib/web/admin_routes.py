"""Staff pages under ``/admin`` (staff role only): home, dashboard, organisations, contacts, team."""
from __future__ import annotations

from chalice import Blueprint

from ..domain.chart import percent
from ..domain.errors import ValidationError
from ..domain.members import CONTACT_FIELDS, ORGANISATION_FIELDS, organisation_values
from ..domain.model import CATEGORY_LABELS, PublicBuyerRequirement, Role
from ..services import admin_members as members
from ..services import confirmations, second_factor
from ..services import dashboard as dashboards
from .admin_http import notice, staff_id, with_notice
from .http import context_for, redirect, render
from .routes import FORM, route

bp = Blueprint(__name__)

CATEGORY_OPTIONS = [(c.value, label) for c, label in CATEGORY_LABELS.items()]
REQUIREMENT_OPTIONS = [(r.value, r.label) for r in PublicBuyerRequirement]
NEW_CONTACT_FIELDS = {**CONTACT_FIELDS, "receives_notices": 5, "invite": 5}
YES = "oui"


@route(bp, "/admin")
def staff_home():
    """The staff home page: where each administration task lives."""
    ctx = context_for(bp.current_request)
    session = ctx.require_staff()
    me = ctx.rt.contacts.get(session.contact_id)
    return render(ctx, "admin/home.html", me=me, notice=notice(ctx))


@route(bp, "/admin/tableau-de-bord")
def dashboard():
    """The season at a glance: organisations by state, renewal rate against last season, who has not renewed."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    current = dashboards.current_season(ctx.rt)
    errors = {}
    try:
        season = dashboards.parse_season(ctx.query("annee", 10), current)
    except ValidationError as error:
        season, errors = current, error.errors
    return render(ctx, "admin/dashboard.html", status=400 if errors else 200, errors=errors,
                  view=dashboards.build_dashboard(ctx.rt, season), percent=percent)


# --- organisations ------------------------------------------------------------------------

def _page_number(ctx) -> int:
    text = ctx.query("page", 6)
    return int(text) if text.isdigit() else 1


@route(bp, "/admin/structures")
def organisations():
    """Organisations: search by name or SIRET, filter by category and state, paged."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    category = ctx.query("categorie", 40)
    page = members.list_organisations(
        ctx.rt, query=ctx.query("q", 100), category=category if category in dict(CATEGORY_OPTIONS) else "",
        state=ctx.query("etat", 20) or "actives", page=_page_number(ctx))
    return render(ctx, "admin/organisations.html", page=page, categories=CATEGORY_OPTIONS, notice=notice(ctx))


def _organisation_form(ctx, *, org=None, values=None, errors=None, status=200):
    return render(ctx, "admin/organisation_form.html", status=status, org=org,
                  values=values if values is not None else (organisation_values(org) if org else {"public_buyer": ""}),
                  errors=errors or {}, categories=CATEGORY_OPTIONS, requirements=REQUIREMENT_OPTIONS,
                  tiers=members.tier_choices(ctx.rt))


@route(bp, "/admin/structures/nouvelle")
def new_organisation_form():
    """The form to create an organisation."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    return _organisation_form(ctx)


@route(bp, "/admin/structures/nouvelle", methods=["POST"], content_types=FORM)
def create_organisation():
    """Create the organisation, then show it."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form(ORGANISATION_FIELDS)
    try:
        org = members.create_organisation(ctx.rt, actor, form)
    except ValidationError as error:
        return _organisation_form(ctx, values=form, errors=error.errors, status=400)
    return redirect(with_notice(f"/admin/structures/{org.org_id}", "structure-creee"))


def _organisation_page(ctx, org_id: str, *, errors=None, values=None, status=200):
    detail = members.organisation_detail(ctx.rt, org_id)
    return render(ctx, "admin/organisation.html", status=status, view=detail, errors=errors or {},
                  values=values or {}, notice=notice(ctx), organisations=None)


@route(bp, "/admin/structures/{org_id}")
def organisation(org_id):
    """One organisation: details, contacts (with their actions) and membership history."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    return _organisation_page(ctx, org_id)


@route(bp, "/admin/structures/{org_id}/modifier")
def edit_organisation_form(org_id):
    """The form to change an organisation's details."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    return _organisation_form(ctx, org=members.get_organisation(ctx.rt, org_id))


@route(bp, "/admin/structures/{org_id}/modifier", methods=["POST"], content_types=FORM)
def update_organisation(org_id):
    """Save the organisation's details."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form(ORGANISATION_FIELDS)
    org = members.get_organisation(ctx.rt, org_id)
    try:
        members.update_organisation(ctx.rt, actor, org_id, form)
    except ValidationError as error:
        return _organisation_form(ctx, org=org, values=form, errors=error.errors, status=400)
    return redirect(with_notice(f"/admin/structures/{org_id}", "structure-modifiee"))


@route(bp, "/admin/structures/{org_id}/statut", methods=["POST"], content_types=FORM)
def organisation_status(org_id):
    """Disable or enable the organisation. Disabling first shows what it will do; only that
    page's « Confirmer » (``confirmer=1``) disables."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form({"active": 5, "confirmer": 5})
    active = form["active"] == YES
    if not active and form["confirmer"] != confirmations.CONFIRMED:
        confirmation = confirmations.organisation_disabling(ctx.rt, org_id)
        if confirmation is not None:
            return render(ctx, "admin/confirm.html", confirmation=confirmation)
    members.set_organisation_active(ctx.rt, actor, org_id, active)
    return redirect(with_notice(f"/admin/structures/{org_id}", "structure-activee" if active else "structure-desactivee"))


@route(bp, "/admin/structures/{org_id}/contacts", methods=["POST"], content_types=FORM)
def add_contact(org_id):
    """Add a contact to the organisation, and invite them if asked."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form(NEW_CONTACT_FIELDS)
    members.get_organisation(ctx.rt, org_id)
    invite = form["invite"] == YES
    try:
        members.add_contact(ctx.rt, actor, org_id, form, receives_notices=form["receives_notices"] == YES,
                            invite=invite)
    except ValidationError as error:
        return _organisation_page(ctx, org_id, errors=error.errors, values=form, status=400)
    return redirect(with_notice(f"/admin/structures/{org_id}", "contact-ajoute-invite" if invite else "contact-ajoute"))


# --- contacts -----------------------------------------------------------------------------

def _back(contact) -> str:
    return f"/admin/structures/{contact.org_id}" if contact.org_id else "/admin/equipe"


def _refused(ctx, contact, error: ValidationError):
    """An action refused: the contact's page again, with the message."""
    message = error.errors.get("form") or next(iter(error.errors.values()), error.message)
    if contact.org_id and ctx.rt.organisations.get(contact.org_id) is not None:
        return _organisation_page(ctx, contact.org_id, errors={"form": message}, status=400)
    return _team_page(ctx, errors={"form": message}, status=400)


def _contact_form(ctx, contact, *, values=None, errors=None, status=200):
    return render(ctx, "admin/contact_form.html", status=status, contact=contact,
                  values=values or {"name": contact.name, "email": contact.email}, errors=errors or {},
                  back=_back(contact), organisations=members.organisation_choices(ctx.rt) if contact.is_staff else [])


@route(bp, "/admin/contacts/{contact_id}/modifier")
def edit_contact_form(contact_id):
    """The form to change a contact's name, email or role."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    return _contact_form(ctx, members.get_contact(ctx.rt, contact_id))


@route(bp, "/admin/contacts/{contact_id}/modifier", methods=["POST"], content_types=FORM)
def update_contact(contact_id):
    """Save the contact's name and email."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form(CONTACT_FIELDS)
    contact = members.get_contact(ctx.rt, contact_id)
    try:
        members.update_contact(ctx.rt, actor, contact_id, form)
    except ValidationError as error:
        return _contact_form(ctx, contact, values=form, errors=error.errors, status=400)
    return redirect(with_notice(_back(contact), "contact-modifie"))


@route(bp, "/admin/contacts/{contact_id}/invitation", methods=["POST"], content_types=FORM)
def invite_contact(contact_id):
    """Mail the contact a link to create their password."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    ctx.form({})
    contact = members.get_contact(ctx.rt, contact_id)
    try:
        members.invite_contact(ctx.rt, actor, contact_id)
    except ValidationError as error:
        return _refused(ctx, contact, error)
    return redirect(with_notice(_back(contact), "invitation"))


@route(bp, "/admin/contacts/{contact_id}/role", methods=["POST"], content_types=FORM)
def change_role(contact_id):
    """Make a contact a staff member, or a staff member a contact of an organisation."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form({"role": 20, "org_id": 100})
    contact = members.get_contact(ctx.rt, contact_id)
    try:
        saved = members.change_contact_role(ctx.rt, actor, contact_id, form["role"], form["org_id"])
    except ValidationError as error:
        if contact.is_staff and "form" not in error.errors:
            return _contact_form(ctx, contact, errors=error.errors, status=400)
        return _refused(ctx, contact, error)
    return redirect(with_notice(_back(saved), "role"))


@route(bp, "/admin/contacts/{contact_id}/avis", methods=["POST"], content_types=FORM)
def contact_notices(contact_id):
    """Say whether the contact receives notices and reminders."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form({"receives_notices": 5})
    contact = members.set_contact_notices(ctx.rt, actor, contact_id, form["receives_notices"] == YES)
    return redirect(with_notice(_back(contact), "avis"))


@route(bp, "/admin/contacts/{contact_id}/statut", methods=["POST"], content_types=FORM)
def contact_status(contact_id):
    """Remove (deactivate) or reactivate a contact. Removing first shows what it will do; only
    that page's « Confirmer » (``confirmer=1``) removes."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form({"active": 5, "confirmer": 5})
    contact = members.get_contact(ctx.rt, contact_id)
    active = form["active"] == YES
    try:
        if not active and form["confirmer"] != confirmations.CONFIRMED:
            confirmation = confirmations.contact_removal(ctx.rt, actor, contact_id)
            if confirmation is not None:
                return render(ctx, "admin/confirm.html", confirmation=confirmation)
        members.set_contact_active(ctx.rt, actor, contact_id, active)
    except ValidationError as error:
        return _refused(ctx, contact, error)
    return redirect(with_notice(_back(contact), "contact-active" if active else "contact-desactive"))


# --- the team -----------------------------------------------------------------------------

def _team_page(ctx, *, errors=None, values=None, status=200):
    staff = members.staff_members(ctx.rt)
    return render(ctx, "admin/team.html", status=status, staff=staff, factors=second_factor.enrolled(ctx.rt, staff),
                  me=ctx.session.contact_id, errors=errors or {}, values=values or {}, notice=notice(ctx),
                  organisations=members.organisation_choices(ctx.rt), role_contact=Role.CONTACT.value)


@route(bp, "/admin/equipe")
def team():
    """The team's accounts: add one, invite, deactivate."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    return _team_page(ctx)


@route(bp, "/admin/equipe", methods=["POST"], content_types=FORM)
def add_staff_member():
    """Add an account for a member of the team, and invite them if asked."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form({**CONTACT_FIELDS, "invite": 5})
    try:
        members.add_staff_member(ctx.rt, actor, form, invite=form["invite"] == YES)
    except ValidationError as error:
        return _team_page(ctx, errors=error.errors, values=form, status=400)
    return redirect(with_notice("/admin/equipe", "membre-ajoute"))


@route(bp, "/admin/contacts/{contact_id}/second-facteur", methods=["POST"], content_types=FORM)
def reset_second_factor(contact_id):
    """Reset another staff member's second factor (lost phone): they enrol again at next login."""
    ctx = context_for(bp.current_request)
    staff = ctx.require_staff()
    ctx.form({})
    second_factor.reset_for(ctx.rt, staff, contact_id)
    return redirect(with_notice("/admin/equipe", "second-facteur"))
