"""Staff pages for the tariff grids and the association settings."""
from __future__ import annotations

from chalice import Blueprint

from ..domain.association import PAYMENT_METHOD_LABELS
from ..domain.errors import ValidationError
from ..domain.logo import MAX_LOGO_BYTES, MAX_LOGO_LABEL
from ..domain.model import CATEGORY_LABELS
from ..domain.settings_form import SECTIONS, VAT_REGIMES, field_limits, form_fields, section, section_fields
from ..domain.tariffs import TIER_FIELDS
from ..services import admin_settings, admin_tariffs
from .admin_http import multipart_form, notice, staff_id, with_notice
from .http import PayloadTooLarge, context_for, redirect, render
from .routes import FORM, route

bp = Blueprint(__name__)

MULTIPART = ["multipart/form-data"]
CATEGORY_OPTIONS = [(c.value, label) for c, label in CATEGORY_LABELS.items()]
COPY_FIELDS = {"source": 4, "target": 4, "percent": 10}


# --- tariff grids -------------------------------------------------------------------------

def _years_page(ctx, *, errors=None, values=None, status=200):
    years = admin_tariffs.grid_years(ctx.rt)
    suggested = {"source": str(years[0]) if years else "", "target": str(years[0] + 1) if years else "",
                 "percent": "0"}
    return render(ctx, "admin/tariffs.html", status=status, years=years, errors=errors or {},
                  values=values or suggested, notice=notice(ctx))


@route(bp, "/admin/tarifs")
def tariff_years():
    """The years that have a tariff grid, and the form to copy one to a new year."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    return _years_page(ctx)


@route(bp, "/admin/tarifs/copie", methods=["POST"], content_types=FORM)
def copy_grid():
    """Copy a year's grid to a new year."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form(COPY_FIELDS)
    try:
        target = admin_tariffs.copy_grid(ctx.rt, actor, form)
    except ValidationError as error:
        return _years_page(ctx, errors=error.errors, values=form, status=400)
    return redirect(with_notice(f"/admin/tarifs/{target}", "grille-copiee"))


def _grid_page(ctx, year, *, errors=None, values=None, status=200, editing_code=None):
    page = admin_tariffs.grid_page(ctx.rt, year)
    return render(ctx, "admin/tariff_grid.html", status=status, page=page, errors=errors or {},
                  values=values or {}, editing_code=editing_code, categories=CATEGORY_OPTIONS,
                  category_labels={c.value: label for c, label in CATEGORY_LABELS.items()}, notice=notice(ctx))


@route(bp, "/admin/tarifs/{year}")
def tariff_grid(year):
    """A year's grid: categories × tiers × amounts, its versions, and the edit forms when allowed."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    return _grid_page(ctx, year)


@route(bp, "/admin/tarifs/{year}/tranches", methods=["POST"], content_types=FORM)
def add_tier(year):
    """Add a tier to the grid (or to its new version)."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form(TIER_FIELDS)
    try:
        admin_tariffs.add_grid_tier(ctx.rt, actor, year, form)
    except ValidationError as error:
        return _grid_page(ctx, year, errors=error.errors, values=form, status=400)
    return redirect(with_notice(f"/admin/tarifs/{year}", "tranche-ajoutee"))


@route(bp, "/admin/tarifs/{year}/tranches/{code}", methods=["POST"], content_types=FORM)
def update_tier(year, code):
    """Save a tier's category, label, amount and order."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form({k: v for k, v in TIER_FIELDS.items() if k != "code"})
    try:
        admin_tariffs.update_grid_tier(ctx.rt, actor, year, code, form)
    except ValidationError as error:
        errors = {f"{k}_{code}" if k != "form" else k: v for k, v in error.errors.items()}
        return _grid_page(ctx, year, errors=errors, values={f"{k}_{code}": v for k, v in form.items()},
                          status=400, editing_code=code)
    return redirect(with_notice(f"/admin/tarifs/{year}", "tranche-modifiee"))


@route(bp, "/admin/tarifs/{year}/tranches/{code}/suppression", methods=["POST"], content_types=FORM)
def remove_tier(year, code):
    """Remove a tier from the grid (or from its new version)."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    ctx.form({})
    try:
        admin_tariffs.remove_grid_tier(ctx.rt, actor, year, code)
    except ValidationError as error:
        return _grid_page(ctx, year, errors=error.errors, status=400)
    return redirect(with_notice(f"/admin/tarifs/{year}", "tranche-supprimee"))


@route(bp, "/admin/tarifs/{year}/version", methods=["POST"], content_types=FORM)
def start_version(year):
    """Open a new version of an invoiced year's grid."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form({"note": 200})
    try:
        admin_tariffs.start_new_version(ctx.rt, actor, year, form["note"])
    except ValidationError as error:
        return _grid_page(ctx, year, errors=error.errors, status=400)
    return redirect(with_notice(f"/admin/tarifs/{year}", "version-ouverte"))


@route(bp, "/admin/tarifs/{year}/version/publication", methods=["POST"], content_types=FORM)
def publish_version(year):
    """Publish the new version: it becomes the grid, the previous one is archived."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    ctx.form({})
    try:
        admin_tariffs.publish_version(ctx.rt, actor, year)
    except ValidationError as error:
        return _grid_page(ctx, year, errors=error.errors, status=400)
    return redirect(with_notice(f"/admin/tarifs/{year}", "version-publiee"))


@route(bp, "/admin/tarifs/{year}/version/abandon", methods=["POST"], content_types=FORM)
def discard_version(year):
    """Drop the new version being prepared."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    ctx.form({})
    try:
        admin_tariffs.discard_version(ctx.rt, actor, year)
    except ValidationError as error:
        return _grid_page(ctx, year, errors=error.errors, status=400)
    return redirect(with_notice(f"/admin/tarifs/{year}", "version-abandonnee"))


# --- settings -----------------------------------------------------------------------------

def _settings_page(ctx, *, values=None, version=None, errors=None, status=200, posted_section=None):
    current = admin_settings.settings_form(ctx.rt)
    if values is not None and posted_section is not None:
        # A section sent back with its errors: the others show what is saved, not blanks.
        own = set(section_fields(posted_section))
        values = {**{k: v for k, v in current.values.items() if k not in own}, **values}
    values = values if values is not None else current.values
    version = version if version is not None else current.version
    return render(ctx, "admin/settings.html", status=status, fields=form_fields(), sections=SECTIONS,
                  values=values, version=version, errors=errors or {}, vat_regimes=list(VAT_REGIMES.items()),
                  logo_src=current.logo_src, logo_summary=current.logo_summary, max_logo=MAX_LOGO_LABEL,
                  methods=list(PAYMENT_METHOD_LABELS.items()), notice=notice(ctx))


@route(bp, "/admin/parametres")
def settings():
    """The association's settings: four sections on one page, each with its own form."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    return _settings_page(ctx)


@route(bp, "/admin/parametres", methods=["POST"], content_types=FORM)
def save_settings():
    """Save one section of the settings, or all of them (refused if someone else saved them
    since the form was shown)."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form(field_limits())
    sec = section(form["section"])
    try:
        admin_settings.save_settings(ctx.rt, actor, form)
    except ValidationError as error:
        version = form["version"] if form["version"].isdigit() else None
        posted = {k: v for k, v in form.items() if k in section_fields(sec)} if sec else form
        return _settings_page(ctx, values=posted, version=int(version) if version else None,
                              errors=error.errors, status=400, posted_section=sec)
    return redirect(with_notice("/admin/parametres", "parametres") + (f"#{sec.key}" if sec else ""))


@route(bp, "/admin/parametres/logo", methods=["POST"], content_types=MULTIPART + FORM)
def upload_logo():
    """Make the uploaded PNG or JPEG (at most 100 KB) the association's logo."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    try:
        if ctx.request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            try:
                values, files = multipart_form(ctx, {"version": 12}, MAX_LOGO_BYTES)
            except PayloadTooLarge:
                raise ValidationError({"logo": f"Le logo dépasse {MAX_LOGO_LABEL} : enregistrez-le en plus petit "
                                               "(par exemple 400 pixels de large) puis recommencez."}) from None
        else:  # a form without the file (e.g. sent without a browser): checked, then refused
            values, files = ctx.form({"version": 12}), {}
        admin_settings.save_logo(ctx.rt, actor, values, files.get("logo", ("", b""))[1])
    except ValidationError as error:
        return _settings_page(ctx, errors=error.errors, status=400)
    return redirect(with_notice("/admin/parametres", "logo-enregistre") + "#logo")


@route(bp, "/admin/parametres/logo/suppression", methods=["POST"], content_types=FORM)
def remove_logo():
    """Remove the association's logo."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    form = ctx.form({"version": 12})
    try:
        admin_settings.remove_logo(ctx.rt, actor, form)
    except ValidationError as error:
        return _settings_page(ctx, errors=error.errors, status=400)
    return redirect(with_notice("/admin/parametres", "logo-supprime") + "#logo")
