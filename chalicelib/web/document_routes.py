"""« Éditer un devis » and document downloads for the contacts of member organisations."""
from __future__ import annotations

from chalice import Blueprint

from ..services import documents
from .http import context_for, redirect
from .routes import FORM, route

bp = Blueprint(__name__)


@route(bp, "/mon-compte/devis", methods=["POST"], content_types=FORM)
def edit_quote():
    """« Éditer un devis »: create or reuse the quote of the year to renew, then download it."""
    ctx = context_for(bp.current_request)
    session = ctx.require_member()
    ctx.form({})
    quote = documents.get_or_create_quote(ctx.rt, session.org_id)
    return redirect(documents.DOCUMENT_PATH + quote.document_id)


@route(bp, "/mon-compte/factures/{number}")
def download_invoice(number):
    """« Télécharger la facture » on the renewal card and the confirmation page."""
    ctx = context_for(bp.current_request)
    response = redirect(documents.invoice_download(ctx.rt, ctx.require_member(), number), status=302)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@route(bp, "/mon-compte/documents/{document_id}")
def download_document(document_id):
    """A document of the session's organisation: redirect to a short-lived presigned link."""
    ctx = context_for(bp.current_request)
    url = documents.download(ctx.rt, ctx.require_member(), document_id)
    response = redirect(url, status=302)
    response.headers["Referrer-Policy"] = "no-referrer"  # the link is signed: keep it out of referrers
    return response
