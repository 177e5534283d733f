"""Staff pages for renewal requests: the queue « Demandes » and one request with its actions.

Every action is a POST form with its CSRF token that redirects back with a notice. Bad
values come back next to their field (400); an action the request's state no longer
allows (another staff member was quicker, a second tab) shows the page again with the
reason (409).
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from chalice import Blueprint

from ..domain.association import PAYMENT_METHOD_LABELS
from ..domain.chorus import STAGE_FILTERS
from ..domain.errors import DomainError, NotFound, ValidationError
from ..domain.model import CATEGORY_LABELS
from ..domain.payments import PAYMENT_FIELDS, is_payment_id
from ..domain.renewal import InvalidTransition, RequestState
from ..domain.renewal_request import MAX_PURCHASE_ORDER_BYTES, MAX_PURCHASE_ORDER_LABEL, PO_NUMBER_MAX
from ..services import confirmations, documents, payments, renewal, staff_requests
from .admin_http import multipart_form, notice, staff_id, with_notice
from .http import PayloadTooLarge, context_for, redirect, render
from .routes import FORM, route

bp = Blueprint(__name__)
log = logging.getLogger(__name__)

QUEUE = "/admin/demandes"
MULTIPART = ["multipart/form-data"]
CATEGORY_OPTIONS = [(c.value, label) for c, label in CATEGORY_LABELS.items()]
STATE_OPTIONS = [(staff_requests.OPEN, "En cours (à traiter)"), (staff_requests.ALL, "Toutes")] + [
    (s.value, s.label) for s in RequestState]
TIER_FIELDS = {"tier_code": 40, "note": staff_requests.NOTE_MAX * 2}
PO_FIELDS = {"purchase_order_number": PO_NUMBER_MAX * 4}
PAYMENT_FORM = {**PAYMENT_FIELDS, "payment_id": 64}
REPLACE_FIELDS = {"facture": 20, "reason": 500, "purchase_order_number": 50, "service_code": 100}
CANCEL_FIELDS = {"reason": staff_requests.REASON_MAX * 2, "confirmer": 5, "facture": 20}
MAX_UPLOAD = 2 * MAX_PURCHASE_ORDER_BYTES  # a PDF a little over the limit still gets its message by the field


def _path(org_id: str, year: int) -> str:
    return f"{QUEUE}/{org_id}/{year}"


def _year(text: str) -> int:
    if not (len(text) == 4 and text.isascii() and text.isdigit()):
        raise NotFound("Cette demande n'existe pas.")
    return int(text)


def _number(text: str, default: int = 1) -> int:
    return int(text) if text.isascii() and text.isdigit() else default


# --- the queue -------------------------------------------------------------------------


@route(bp, QUEUE)
def request_queue():
    """Renewal requests of a season, filtered by category and state, newest first."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    year = ctx.query("annee", 4)
    page = staff_requests.request_queue(
        ctx.rt, year=_number(year, 0) if len(year) == 4 else None, category=ctx.query("categorie", 40),
        state=ctx.query("etat", 40), page=_number(ctx.query("page", 6)), chorus_stage=ctx.query("chorus", 20))
    return render(ctx, "admin/requests.html", page=page, categories=CATEGORY_OPTIONS, states=STATE_OPTIONS,
                  open_filter=staff_requests.OPEN, all_filter=staff_requests.ALL, today=ctx.rt.today(),
                  chorus_filters=STAGE_FILTERS)


# --- one request -----------------------------------------------------------------------


# Actions whose success may have issued the invoice: their message says which and where it went.
CAUSE_AN_INVOICE = {"bon-de-commande", "tranche-decidee", "facture-emise", "facture-remplacee"}


def _detail_page(ctx, org_id: str, year: int, *, errors=None, values=None, failed: str = "", message: str = "",
                 status: int = 200, done_already: str = ""):
    detail = staff_requests.request_detail(ctx.rt, org_id, year)
    values = dict(values or {})
    if not is_payment_id(values.get("payment_id", "")):
        values["payment_id"] = ctx.rt.id_factory()  # one id per form shown: a double submit records once
    done = done_already or notice(ctx)
    if done and not done_already and ctx.query("fait", 40) in CAUSE_AN_INVOICE:
        done = f"{done} {detail.outcome()}".strip()
    return render(ctx, "admin/request.html", status=status, view=detail, r=detail.request,
                  errors=errors or {}, values=values, failed=failed, message=message, notice=done,
                  methods=list(PAYMENT_METHOD_LABELS.items()), history_labels=staff_requests.HISTORY_LABELS,
                  today=ctx.rt.today().isoformat())


def _refused(ctx, org_id: str, year: int, error: DomainError, *, failed: str, values: dict):
    """A refused action: its field messages (400), or why the state does not allow it (409) —
    unless it was refused because it is already done (a second click, a retry after an error
    whose action had completed): then the page says so, as a success."""
    if isinstance(error, ValidationError):
        return _detail_page(ctx, org_id, year, errors=error.errors, values=values, failed=failed, status=400)
    if isinstance(error, InvalidTransition):
        current = ctx.rt.renewals.latest(org_id, year)
        already = current.already_done(error.event) if current is not None else ""
        if already:
            return _detail_page(ctx, org_id, year, done_already=already)
    if error.status == 409:
        return _detail_page(ctx, org_id, year, message=error.message, status=409)
    raise error


@route(bp, QUEUE + "/{org_id}/{year}")
def request_page(org_id, year):
    """One request: the organisation, its answers, history, documents, payments and actions."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    return _detail_page(ctx, org_id, _year(year))


@route(bp, QUEUE + "/{org_id}/{year}/tranche", methods=["POST"], content_types=FORM)
def decide_tier(org_id, year):
    """Settle the tier change; the note is emailed to the organisation's contacts."""
    def action(ctx, actor, season, form):
        staff_requests.decide_tier(ctx.rt, org_id, season, tier_code=form["tier_code"], note=form["note"], by=actor)
        return "tranche-decidee"

    return _act(org_id, year, staff_requests.TIER, lambda ctx: ctx.form(TIER_FIELDS), action)


def _act(org_id: str, year: str, failed: str, read: Callable, action: Callable):
    """Run one staff action on a request and answer as every action does.

    ``read(ctx)`` returns the posted values (CSRF checked) or raises ValidationError;
    ``action(ctx, actor, season, values)`` performs it and returns the notice code of the
    redirect. Bad values (400) and a state that refuses the action (409) show the page again.
    """
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    try:
        values = read(ctx)  # the CSRF token first, whatever the address says
    except ValidationError as error:
        return _refused(ctx, org_id, _year(year), error, failed=failed, values={})
    season = _year(year)
    try:
        done = action(ctx, actor, season, values)
    except DomainError as error:
        return _refused(ctx, org_id, season, error, failed=failed, values=values)
    return redirect(with_notice(_path(org_id, season), done))


def _purchase_order_form(ctx) -> dict:
    """Multipart with the PDF, or urlencoded with a number only; CSRF checked.

    The PDF's bytes (or None) come as ``purchase_order_file``."""
    if not ctx.request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return {**ctx.form(PO_FIELDS), "purchase_order_file": None}
    try:
        values, files = multipart_form(ctx, PO_FIELDS, MAX_UPLOAD)
    except PayloadTooLarge:
        raise PayloadTooLarge(f"Le fichier dépasse {MAX_PURCHASE_ORDER_LABEL} : demandez une version plus légère du bon de commande.") \
            from None
    _, pdf = files.get("purchase_order_file", ("", b""))
    return {**values, "purchase_order_file": pdf or None}


@route(bp, QUEUE + "/{org_id}/{year}/bon-de-commande", methods=["POST"], content_types=MULTIPART + FORM)
def record_purchase_order(org_id, year):
    """Record the purchase order number and/or PDF (before invoicing)."""
    def action(ctx, actor, season, form):
        renewal.record_purchase_order(ctx.rt, org_id, season, actor_id=actor, number=form["purchase_order_number"],
                                      pdf=form["purchase_order_file"], by_staff=True)
        return "bon-de-commande"

    return _act(org_id, year, staff_requests.PURCHASE_ORDER, _purchase_order_form, action)


@route(bp, QUEUE + "/{org_id}/{year}/bon-de-commande")
def purchase_order_download(org_id, year):
    """The purchase order PDF the organisation sent, through a presigned link valid five minutes."""
    ctx = context_for(bp.current_request)
    staff_id(ctx)
    response = redirect(renewal.purchase_order_link(ctx.rt, org_id, _year(year)), status=302)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@route(bp, QUEUE + "/{org_id}/{year}/facture", methods=["POST"], content_types=FORM)
def issue_invoice(org_id, year):
    """Issue the invoice of a request left ready to invoice."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    ctx.form({})
    season = _year(year)
    try:
        renewal.invoice_request(ctx.rt, org_id, season, by=actor)
    except DomainError as error:
        return _refused(ctx, org_id, season, error, failed=staff_requests.INVOICE, values={})
    except Exception:  # storage or email down again: nothing issued twice, the click can be repeated
        log.exception("invoice of %s/%s not issued", org_id, season)
        return _detail_page(ctx, org_id, season, status=503, message=(
            "La facture n'a pas pu être émise pour le moment (service indisponible). "
            "Réessayez dans quelques minutes : elle ne sera émise qu'une fois."))
    return redirect(with_notice(_path(org_id, season), "facture-emise"))


@route(bp, QUEUE + "/{org_id}/{year}/paiement", methods=["POST"], content_types=FORM)
def record_payment(org_id, year):
    """Record a payment received; the request is paid once payments reach the invoice total."""
    def action(ctx, actor, season, form):
        payment_id = form["payment_id"] if is_payment_id(form["payment_id"]) else ""
        outcome = payments.record_payment(ctx.rt, org_id, season, fields={k: form[k] for k in PAYMENT_FIELDS},
                                          recorded_by=actor, payment_id=payment_id)
        return "paiement-solde" if outcome.fully_paid else "paiement"

    return _act(org_id, year, staff_requests.PAYMENT, lambda ctx: ctx.form(PAYMENT_FORM), action)


@route(bp, QUEUE + "/{org_id}/{year}/finalisation", methods=["POST"], content_types=FORM)
def finish_settlement(org_id, year):
    """Finish the settlement of a fully paid request that an interruption left half-way."""
    def action(ctx, actor, season, form):
        staff_requests.finish_settlement(ctx.rt, org_id, season, by=actor)
        return "reglement-finalise"

    return _act(org_id, year, staff_requests.SETTLE, lambda ctx: ctx.form({}), action)


@route(bp, QUEUE + "/{org_id}/{year}/annulation", methods=["POST"], content_types=FORM)
def cancel_request(org_id, year):
    """Cancel the request; an invoiced one gets its credit note. The request page's form leads
    to a page saying what will happen (credit note, where it goes); only its « Confirmer »
    (``confirmer=1``) cancels."""
    ctx = context_for(bp.current_request)
    actor = staff_id(ctx)
    try:
        form = ctx.form(CANCEL_FIELDS)  # the CSRF token first, whatever the address says
    except ValidationError as error:
        return _refused(ctx, org_id, _year(year), error, failed=staff_requests.CANCEL, values={})
    season = _year(year)
    try:
        if form["confirmer"] != confirmations.CONFIRMED:
            return render(ctx, "admin/confirm.html",
                          confirmation=confirmations.request_cancellation(ctx.rt, org_id, season, form["reason"]))
        confirmations.check_cancellation_as_shown(ctx.rt, org_id, season, form["facture"])
        done = staff_requests.cancel_with_credit_note(ctx.rt, org_id, season, by=actor, reason=form["reason"])
    except DomainError as error:
        return _refused(ctx, org_id, season, error, failed=staff_requests.CANCEL, values=form)
    return redirect(with_notice(_path(org_id, season), "demande-annulee-avoir" if done.credit_note else "demande-annulee"))


@route(bp, QUEUE + "/{org_id}/{year}/remplacement", methods=["POST"], content_types=FORM)
def replace_invoice(org_id, year):
    """Replace the invoice: a credit note cancels it, a corrected one (engagement number,
    service code) is issued and goes to the payer (e.g. after a Chorus Pro rejection)."""
    def action(ctx, actor, season, form):
        staff_requests.replace_invoice(ctx.rt, org_id, season, replaced=form["facture"], reason=form["reason"],
                                       po_number=form["purchase_order_number"], service_code=form["service_code"],
                                       by=actor)
        return "facture-remplacee"

    return _act(org_id, year, staff_requests.REPLACE, lambda ctx: ctx.form(REPLACE_FIELDS), action)


@route(bp, "/admin/documents/{document_id}")
def download_document(document_id):
    """Any organisation's document, for staff: redirect to a short-lived presigned link."""
    ctx = context_for(bp.current_request)
    response = redirect(documents.download(ctx.rt, ctx.require_staff(), document_id), status=302)
    response.headers["Referrer-Policy"] = "no-referrer"  # the link is signed: keep it out of referrers
    return response
