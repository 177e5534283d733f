"""Staff pages to get data out and in: CSV exports, CSV import, the audit log."""
from __future__ import annotations

from chalice import Blueprint

from ..domain.errors import ValidationError
from ..domain.journal_labels import action_choices
from ..services import admin_journal, exports, imports
from .admin_http import csv_response, multipart_form, staff_id
from .http import context_for, render
from .routes import FORM, route

bp = Blueprint(__name__)

MULTIPART = ["multipart/form-data"]


@route(bp, "/admin/exports")
def exports_page():
    """The CSV exports staff can download."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    return render(ctx, "admin/exports.html")


@route(bp, "/admin/exports/structures.csv")
def export_organisations():
    """Every organisation with its last membership, as CSV."""
    ctx = context_for(bp.current_request)
    file = exports.export_organisations(ctx.rt, staff_id(ctx))
    return csv_response(file.filename, file.text)


@route(bp, "/admin/exports/contacts.csv")
def export_contacts():
    """The contacts of member organisations, as CSV."""
    ctx = context_for(bp.current_request)
    file = exports.export_contacts(ctx.rt, staff_id(ctx))
    return csv_response(file.filename, file.text)


def _one_year_csv(export):
    """A CSV export that ``?annee=2027`` narrows to one membership year (empty: every year)."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    file = export(ctx.rt, actor, exports.parse_export_year(ctx.query("annee", 10)))
    return csv_response(file.filename, file.text)


@route(bp, "/admin/exports/paiements.csv")
def export_payments():
    """The payments recorded, as CSV."""
    from ..services import payments

    return _one_year_csv(lambda rt, actor, year: payments.payments_csv(rt, year=year, actor=actor))


@route(bp, "/admin/exports/factures.csv")
def export_invoices():
    """The invoices issued, as CSV."""
    return _one_year_csv(exports.export_invoices)


@route(bp, "/admin/exports/avoirs.csv")
def export_credit_notes():
    """The credit notes issued (negative amounts), as CSV."""
    return _one_year_csv(exports.export_credit_notes)


# --- import -------------------------------------------------------------------------------

def _import_page(ctx, *, errors=None, status=200):
    from ..domain.member_import import COLUMNS

    return render(ctx, "admin/import.html", status=status, errors=errors or {}, columns=COLUMNS)


@route(bp, "/admin/import")
def import_page():
    """Upload a CSV file of organisations, contacts and memberships (checked before anything is written)."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    return _import_page(ctx)


@route(bp, "/admin/import/modele.csv")
def import_template():
    """An import template with every column and an example line."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    return csv_response("modele-import-adherents.csv", imports.template_csv())


@route(bp, "/admin/import", methods=["POST"], content_types=FORM + MULTIPART)
def check_import():
    """Dry run: what the file would create or change, and every line's error; nothing is imported."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    content_type = ctx.request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        _, files = multipart_form(ctx, {}, imports.MAX_BYTES)
    else:  # a form without the file (e.g. sent without a browser): checked, then refused
        ctx.form({})
        files = {}
    filename, data = files.get("fichier", ("", b""))
    try:
        result = imports.check_import(ctx.rt, actor, filename, data)
    except ValidationError as error:
        return _import_page(ctx, errors=error.errors, status=400)
    return render(ctx, "admin/import_preview.html", result=result, counts=result.plan.counts())


@route(bp, "/admin/import/{import_id}/confirmation", methods=["POST"], content_types=FORM)
def confirm_import(import_id):
    """Apply a checked file (read and checked again on the server)."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    ctx.form({})
    try:
        result = imports.confirm_import(ctx.rt, actor, import_id)
    except ValidationError as error:
        return _import_page(ctx, errors=error.errors, status=400)
    return render(ctx, "admin/import_done.html", result=result)


# --- audit log ----------------------------------------------------------------------------

@route(bp, "/admin/journal")
def audit_log():
    """The audit log: who did what and when, with the values before and after; by month, actor, action."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    month, actor, action = ctx.query("mois", 7), ctx.query("auteur", 254), ctx.query("action", 60)
    try:
        page = admin_journal.journal(ctx.rt, month, actor, action)
        errors = {}
    except ValidationError as error:
        page = admin_journal.journal(ctx.rt)
        errors = error.errors
    return render(ctx, "admin/journal.html", status=400 if errors else 200, page=page, errors=errors,
                  actions=action_choices(), form={"mois": month, "auteur": actor, "action": action})
