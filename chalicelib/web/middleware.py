"""One place where errors become HTTP answers, and where every response gets its headers."""
from __future__ import annotations

import json
import logging
import uuid

from chalice import Response
from chalice.app import ChaliceUnhandledError

from ..domain.errors import DomainError, ValidationError
from .http import LoginRequired, SecondFactorRequired, context_for, current_path, login_redirect, render

log = logging.getLogger(__name__)

# « Éditer un devis » is a form whose answer redirects to a presigned link in the documents
# bucket: form-action must allow that origin too, or the browser stops the download.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self' {documents}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")

CHALICE_ERRORS = {
    405: "Cette méthode n'est pas acceptée pour cette adresse.",
    415: "Type de contenu non accepté : envoyez le formulaire depuis la page du site.",
    400: "La requête est invalide.",
    500: "Une erreur inattendue s'est produite. Réessayez dans un instant.",
}
SERVER_ERROR = ("Une erreur inattendue s'est produite de notre côté. Ce que vous aviez déjà enregistré n'est "
                "pas perdu : réessayez dans un instant. Si le problème persiste, contactez l'association en "
                "indiquant la référence ci-dessous.")


def incident_id(event) -> str:
    """The API Gateway request id (the one in the function's log lines), else a fresh one."""
    context = getattr(event, "context", None) or {}
    found = str(context.get("requestId") or "") if isinstance(context, dict) else ""
    return found[:64] if found else uuid.uuid4().hex[:16]


def error_page(ctx, status: int, message: str, errors: dict | None = None, incident: str = "") -> Response:
    return render(ctx, "errors/error.html", status=status, status_code=status, message=message, incident=incident,
                  errors=errors or {})


def _translate_chalice_error(ctx, response: Response) -> Response:
    """Chalice answers some errors itself in English JSON: give them a French page."""
    if response.status_code not in CHALICE_ERRORS:
        return response
    headers = {k.lower(): v for k, v in (response.headers or {}).items()}
    if "json" not in str(headers.get("content-type", "application/json")):
        return response
    body = response.body
    try:
        payload = json.loads(body) if isinstance(body, (str, bytes)) else body
    except ValueError:
        return response
    if not isinstance(payload, dict) or "Code" not in payload:
        return response
    page = error_page(ctx, response.status_code, CHALICE_ERRORS[response.status_code])
    if "allow" in headers:
        page.headers["Allow"] = headers["allow"]
    return page


def _secure_headers(ctx, response: Response) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP.format(documents=ctx.rt.config.documents_origin))
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cache-Control", "no-store")
    if ctx.rt.config.secure_cookies:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    if ctx.set_cookies:
        existing = headers.get("Set-Cookie")
        cookies = ([existing] if isinstance(existing, str) else list(existing or [])) + ctx.set_cookies
        headers["Set-Cookie"] = cookies if len(cookies) > 1 else cookies[0]


def _audit_denial(ctx, event, error) -> None:
    """Journal a refusal; an anonymous source gets ``DENIALS_JOURNALED_PER_SOURCE`` entries per
    15 minutes (one throttle item, rewritten in place), then only a log line: nobody can fill the
    journal by sending forged forms."""
    from ..domain.security import LOCKOUT_WINDOW
    from ..services.audit import record
    from ..services.auth import DENIALS_JOURNALED_PER_SOURCE, source_key, within_limit

    try:
        session = ctx.session
    except Exception:
        session = None
    if session is None and ctx.source_ip and not within_limit(
            ctx.rt, source_key("denied", ctx.source_ip), DENIALS_JOURNALED_PER_SOURCE, LOCKOUT_WINDOW, ctx.rt.clock()):
        log.warning("anonymous refusals over the journal's per-source limit (%s)", type(error).__name__)
        return
    record(ctx.rt, "access.denied", actor=session.contact_id if session else "anonyme",
           org_id=session.org_id if session else None, target=f"{event.method} {current_path(event)}",
           ip=ctx.source_ip, reason=type(error).__name__)


def http_middleware(event, get_response):
    """Map domain errors to pages, never leak a stack trace, and add security headers."""
    ctx = context_for(event)
    try:
        try:
            response = get_response(event)
        except ChaliceUnhandledError as wrapped:  # raised by views registered with ``route``
            raise (wrapped.__cause__ or wrapped) from None
        response = _translate_chalice_error(ctx, response)
    except LoginRequired as error:
        response = login_redirect(current_path(event) if event.method == "GET" else "/mon-compte",
                                  second_factor=isinstance(error, SecondFactorRequired))
    except ValidationError as error:
        response = error_page(ctx, error.status, error.message, error.errors)
    except DomainError as error:
        if error.status == 403:
            _audit_denial(ctx, event, error)
        response = error_page(ctx, error.status, error.message)
    except Exception:
        incident = incident_id(event)
        log.exception("unhandled error on %s %s (incident %s)", event.method, event.path, incident)
        try:
            response = error_page(ctx, 500, SERVER_ERROR, incident=incident)
        except Exception:
            log.exception("the error page itself failed (incident %s)", incident)
            response = Response(body=f"{SERVER_ERROR}\n\nRéférence : {incident}\n", status_code=500,
                                headers={"Content-Type": "text/plain; charset=utf-8"})
    _secure_headers(ctx, response)
    return response
