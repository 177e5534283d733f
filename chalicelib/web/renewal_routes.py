"""« Renouveler l'adhésion » → « Enregistrer ma demande », and the purchase order sent later.

The organisation is always the session's: no organisation id is read from a form or URL.
"""
from __future__ import annotations

from urllib.parse import quote

from chalice import Blueprint

from ..domain.errors import NotFound, ValidationError
from ..domain.renewal_request import (
    FIELD_LIMITS,
    MAX_PURCHASE_ORDER_BYTES,
    MAX_PURCHASE_ORDER_LABEL,
    PO_NUMBER_MAX,
    RenewalForm,
)
from ..services import account, renewal
from .http import BadEncoding, PayloadTooLarge, context_for, redirect, render
from .routes import FORM, route

bp = Blueprint(__name__)

MULTIPART = ["multipart/form-data"]
FORM_PATH = "/mon-compte/adhesions/renouveler"
# What the urlencoded parser accepts before the precise per-field checks of the domain,
# so that an over-long answer comes back next to its field with the rest of the form kept.
SUBMIT_FIELDS = {**{name: max(limit * 4, 200) for name, limit in FIELD_LIMITS.items()}, "etape": 20}
# The form's default button (the one Enter in a text field presses) asks for the recap; only
# the recap's « Enregistrer ma demande » (or a post without a step) saves the request.
RECAP, EDIT = "recapitulatif", "modifier"
PO_FIELDS = {"annee": 4, "purchase_order_number": PO_NUMBER_MAX * 4}
# Bodies above this are refused unread. Below it the body is parsed, so that a PDF just over
# the limit gets its message next to the field (the domain checks the exact limit).
MAX_UPLOAD_BODY = 2 * MAX_PURCHASE_ORDER_BYTES


def _request_page(year: int) -> str:
    return f"/mon-compte/adhesions/demande/{year}"


@route(bp, FORM_PATH)
def renewal_form():
    """The renewal form, pre-filled; the season's request instead if one is already live. With
    ``reprise``, the form as the member had typed it when their session ran out."""
    ctx = context_for(bp.current_request)
    session = ctx.require_member()
    try:
        offer = renewal.start_renewal(ctx.rt, session.org_id, session.contact_id)
    except renewal.NothingToRenew:
        return redirect("/mon-compte/adhesions")
    if offer.existing is not None:
        return redirect(_request_page(offer.year) + "?deja=1")
    kept = renewal.take_draft(ctx.rt, session.contact_id, ctx.query("reprise", 100))
    form = kept or offer.form
    return render(ctx, "member/renewal_form.html", offer=offer, form=form, errors={}, resumed=kept is not None,
                  directory=renewal.buyer_directory(ctx.rt, offer.organisation, form.siret) if kept else offer.directory)


@route(bp, FORM_PATH, methods=["POST"], content_types=FORM)
def renewal_submit():
    """« Enregistrer ma demande »: save it, or show the season's existing request. Posted by a
    session that has just run out, the answers are kept and given back after logging in."""
    ctx = context_for(bp.current_request)
    if ctx.session is None:
        expired = ctx.expired_session
        answers = ctx.form_of_expired_session(SUBMIT_FIELDS) if expired is not None and expired.org_id else None
        if answers is not None:
            answers.pop("etape", None)
            token = renewal.keep_draft(ctx.rt, expired.contact_id, answers)
            return redirect("/connexion?expiree=1&suite=" + quote(f"{FORM_PATH}?reprise={token}", safe="/"))
    session = ctx.require_member()
    answers = ctx.form(SUBMIT_FIELDS)
    step = answers.pop("etape", "")
    if step == EDIT:  # back from the recap to the form, with what was typed
        offer = renewal.start_renewal(ctx.rt, session.org_id, session.contact_id)
        return render(ctx, "member/renewal_form.html", offer=offer, form=RenewalForm.from_fields(answers),
                      errors={}, directory=renewal.buyer_directory(ctx.rt, offer.organisation, answers.get("siret", "")))
    try:
        if step == RECAP:
            offer, submission = renewal.check_renewal_request(ctx.rt, session.org_id, session.contact_id, answers)
            if offer.existing is not None:
                return redirect(_request_page(offer.year) + "?deja=1")
            return render(ctx, "member/renewal_recap.html", offer=offer, s=submission, answers=answers,
                          methods=dict(offer.payment_methods))
        result = renewal.submit_renewal_request(ctx.rt, session.org_id, session.contact_id, answers)
    except ValidationError as error:
        offer = renewal.start_renewal(ctx.rt, session.org_id, session.contact_id)
        return render(ctx, "member/renewal_form.html", status=400, offer=offer,
                      form=RenewalForm.from_fields(answers), errors=error.errors,
                      directory=renewal.buyer_directory(ctx.rt, offer.organisation, answers.get("siret", "")))
    flag = "enregistree=1" if result.created else "deja=1"
    return redirect(f"{_request_page(result.request.year)}?{flag}")


@route(bp, "/mon-compte/adhesions/demande/{year}")
def renewal_request(year):
    """One season's request: « Demande enregistrée le … par …, statut … » and the next step."""
    ctx = context_for(bp.current_request)
    session = ctx.require_member()
    return _request_view(ctx, session, _year(year), just_saved=ctx.query("enregistree") == "1",
                         already=ctx.query("deja") == "1", po_saved=ctx.query("bon_de_commande") == "1")


def _request_view(ctx, session, season: int, status: int = 200, **shown):
    """The season's request page (« Demande enregistrée le … »), with a message or errors shown."""
    values = {"just_saved": False, "already": False, "po_saved": False, "po_errors": {}, "po_number": "",
              "cancel_error": "", **shown}
    request = renewal.request_for_member(ctx.rt, session.org_id, season)
    return render(ctx, "member/renewal_done.html", status=status, request=request,
                  me=ctx.rt.contacts.get(session.contact_id), deposits=account.member_deposits(ctx.rt, [request]),
                  **values)


@route(bp, "/mon-compte/adhesions/demande/{year}/annulation", methods=["POST"], content_types=FORM)
def renewal_cancel(year):
    """« Annuler ma demande », confirmed by its checkbox; refused once the invoice is issued."""
    ctx = context_for(bp.current_request)
    session = ctx.require_member()
    form = ctx.form({"confirmation": 5})  # the CSRF token first, then anything else
    season = _year(year)
    if form["confirmation"] != "oui":
        return _request_view(ctx, session, season, status=400,
                             cancel_error="Cochez la case pour confirmer l'annulation de votre demande.")
    renewal.cancel_by_member(ctx.rt, session.org_id, session.contact_id, season)
    return redirect("/mon-compte/adhesions?demande_annulee=1")


@route(bp, "/mon-compte/adhesions/bon-de-commande", methods=["POST"], content_types=MULTIPART + FORM)
def purchase_order_submit():
    """The purchase order sent later: its number and/or its PDF (at most 4 MiB)."""
    ctx = context_for(bp.current_request)
    session = ctx.require_member()
    fields, pdf = _purchase_order_form(ctx)
    season = _year(fields["annee"])
    try:
        renewal.record_purchase_order(ctx.rt, session.org_id, season, actor_id=session.contact_id,
                                      number=fields["purchase_order_number"], pdf=pdf)
    except ValidationError as error:
        too_large = pdf is not None and len(pdf) > MAX_PURCHASE_ORDER_BYTES
        return _request_view(ctx, session, season, status=413 if too_large else 400, po_errors=error.errors,
                             po_number=fields["purchase_order_number"])
    return redirect(f"{_request_page(season)}?bon_de_commande=1")


@route(bp, "/mon-compte/adhesions/bon-de-commande/{year}")
def purchase_order_download(year):
    """The PO PDF the organisation sent, through a presigned link valid five minutes."""
    ctx = context_for(bp.current_request)
    session = ctx.require_member()
    return redirect(renewal.purchase_order_link(ctx.rt, session.org_id, _year(year)), status=302)


# --- helpers ---------------------------------------------------------------------------


def _year(text: str) -> int:
    if not (len(text) == 4 and text.isascii() and text.isdigit()):
        raise NotFound("Cette demande n'existe pas.")
    return int(text)


def _purchase_order_form(ctx) -> tuple[dict[str, str], bytes | None]:
    """Parse the PO form (multipart, or urlencoded without a file); CSRF checked; (fields, pdf)."""
    request = ctx.request
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return ctx.form(PO_FIELDS), None
    raw = request.raw_body or b""
    if len(raw) > MAX_UPLOAD_BODY:
        raise PayloadTooLarge(f"Le fichier dépasse {MAX_PURCHASE_ORDER_LABEL} : envoyez une version plus légère de votre bon de commande.")
    values, files = parse_multipart(raw, content_type)
    ctx.check_csrf(values)
    errors = {name: f"Ce champ est trop long ({limit} caractères au plus)."
              for name, limit in PO_FIELDS.items() if len(values.get(name, "")) > limit}
    if errors:
        raise ValidationError(errors)
    return {name: values.get(name, "") for name in PO_FIELDS}, files.get("purchase_order_file") or None


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """Split a multipart/form-data body with the standard library's email parser.

    Returns (text fields, file contents by field name); the first value of a name wins.
    File names and declared types are ignored: files are judged by their content.
    """
    from email import policy  # here, not at import: only the purchase order upload needs it
    from email.parser import BytesParser

    try:
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body)
    except (UnicodeEncodeError, ValueError, TypeError) as error:
        raise BadEncoding() from error
    if not message.is_multipart():
        raise BadEncoding()
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or name in fields or name in files:
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_param("filename", header="content-disposition") is not None:
            files[name] = payload
            continue
        try:
            fields[name] = payload.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadEncoding() from error
    return fields, files

