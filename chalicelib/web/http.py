"""Request and response helpers shared by every blueprint: cookies, forms, CSRF, pages."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote

from chalice import Response

from ..domain.errors import DomainError, Forbidden, ValidationError
from ..runtime import Runtime, get_runtime
from ..services import auth

if TYPE_CHECKING:
    from ..domain.security import Session

MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 60


class LoginRequired(DomainError):
    status = 401
    message = "Connectez-vous pour accéder à cette page."


class SecondFactorRequired(LoginRequired):
    """A staff session whose second factor was not given yet (enrolment or code)."""

    message = "Saisissez le code de votre application d'authentification pour continuer."


SECOND_FACTOR_PATH = "/connexion/verification"


class PayloadTooLarge(DomainError):
    status = 413
    message = "Les données envoyées sont trop volumineuses."


class BadEncoding(DomainError):
    status = 400
    message = "Les données envoyées sont mal encodées (UTF-8 attendu)."


class CsrfFailed(Forbidden):
    message = ("Le formulaire a expiré ou ne vient pas de ce site. "
               "Rechargez la page et recommencez.")


@dataclass
class RequestContext:
    """Per-request state: cookies read, session resolved once, cookies to set."""

    request: object
    rt: Runtime
    cookies: dict[str, str]
    set_cookies: list[str] = field(default_factory=list)
    _session: Session | None = None
    _session_loaded: bool = False
    _anon_csrf: str | None = None
    _started_token: str | None = None

    # --- cookies -----------------------------------------------------------------
    def cookie_name(self, base: str) -> str:
        return f"__Host-{base}" if self.rt.config.secure_cookies else base

    def set_cookie(self, base: str, value: str, max_age: int | None = None) -> None:
        parts = [f"{self.cookie_name(base)}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if self.rt.config.secure_cookies:
            parts.append("Secure")
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        self.set_cookies.append("; ".join(parts))

    def clear_cookie(self, base: str) -> None:
        self.set_cookie(base, "", max_age=0)

    @property
    def source_ip(self) -> str:
        identity = (self.request.context or {}).get("identity") or {}
        return str(identity.get("sourceIp", ""))[:64]

    # --- session -----------------------------------------------------------------
    @property
    def session_token(self) -> str | None:
        """The session's token: the one this response starts, else the request's cookie."""
        return self._started_token or self.cookies.get(self.cookie_name("session"))

    @property
    def session(self) -> Session | None:
        if not self._session_loaded:
            self._session = auth.resolve_session(self.rt, self.session_token, on_expired=self._ran_out)
            self._session_loaded = True
        return self._session

    def _ran_out(self, session: Session) -> None:
        self._expired_session = session

    @property
    def expired_session(self) -> Session | None:
        """The session the cookie named if it ran out on this very request (idle or too old)."""
        _ = self.session
        return getattr(self, "_expired_session", None)

    def start_session(self, token: str) -> None:
        """Set the new session's cookie; a page rendered in this same response already belongs
        to it (its header, and CSRF tokens bound to it)."""
        self.set_cookie("session", token)
        self._started_token = token
        self._session_loaded = False

    def end_session(self) -> None:
        self.clear_cookie("session")
        self._started_token = None
        self._session, self._session_loaded = None, True

    def require_login(self) -> Session:
        """Any logged-in account, member or staff (staff once their second factor is given)."""
        session = self.session
        if session is None:
            raise LoginRequired()
        if session.awaits_second_factor:
            raise SecondFactorRequired()
        return session

    def require_member(self) -> Session:
        session = self.require_login()
        if session.org_id is None:
            raise Forbidden("Cette page est réservée aux contacts des structures adhérentes.")
        return session

    def require_staff(self) -> Session:
        session = self.require_login()
        if session.role != "staff":
            raise Forbidden("Cette page est réservée à l'équipe de l'association.")
        return session

    # --- CSRF: a token bound by HMAC to the session, or to an anonymous cookie ----
    def _csrf_binding(self) -> str:
        if self.session is not None and self.session_token:
            return "s:" + self.session_token
        if self._anon_csrf is None:
            self._anon_csrf = self.cookies.get(self.cookie_name("csrf")) or ""
            if not self._anon_csrf:
                self._anon_csrf = secrets.token_urlsafe(24)
                self.set_cookie("csrf", self._anon_csrf)
        return "a:" + self._anon_csrf

    def csrf_token(self) -> str:
        return hmac.new(self.rt.config.csrf_secret, self._csrf_binding().encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, form: dict[str, str]) -> None:
        sent = form.get("csrf_token", "")
        binding_cookie = self.session_token if self.session else self.cookies.get(self.cookie_name("csrf"))
        if not sent or not binding_cookie or not hmac.compare_digest(sent.encode(), self.csrf_token().encode()):
            raise CsrfFailed()

    # --- forms -------------------------------------------------------------------
    def form(self, fields: dict[str, int]) -> dict[str, str]:
        """Parse an urlencoded body, check CSRF, and return the known fields (missing → "").

        ``fields`` maps each accepted name to its maximum length in characters.
        """
        values = self._posted(fields)
        self.check_csrf(values)
        errors = {
            name: f"Ce champ est trop long ({limit} caractères au plus)."
            for name, limit in fields.items()
            if len(values.get(name, "")) > limit
        }
        if errors:
            raise ValidationError(errors)
        return {name: values.get(name, "") for name in fields}

    def form_of_expired_session(self, fields: dict[str, int]) -> dict[str, str] | None:
        """What a session that ran out on this request posted, if its CSRF token is that
        session's own (the form was shown to it); None otherwise. Over-long values are cut."""
        expired, token = self.expired_session, self.session_token
        if expired is None or not token:
            return None
        try:
            values = self._posted(fields)
        except DomainError:
            return None
        expected = hmac.new(self.rt.config.csrf_secret, ("s:" + token).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(values.get("csrf_token", "").encode(), expected.encode()):
            return None
        return {name: values.get(name, "")[:limit] for name, limit in fields.items()}

    def _posted(self, fields: dict[str, int]) -> dict[str, str]:
        """The urlencoded body's known fields and its CSRF token, unchecked."""
        raw = self.request.raw_body or b""
        if len(raw) > MAX_FORM_BYTES:
            raise PayloadTooLarge()
        try:
            text = raw.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
        except (UnicodeDecodeError, ValueError) as error:
            raise BadEncoding() from error
        values: dict[str, str] = {}
        for name, value in pairs:
            if name in fields or name == "csrf_token":
                values.setdefault(name, value)
        return values

    def query(self, name: str, max_length: int = 200) -> str:
        value = (self.request.query_params or {}).get(name, "")
        return value if len(value) <= max_length else ""


def parse_cookies(header: str | None) -> dict[str, str]:
    if not header:
        return {}
    jar = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {k: v.value for k, v in jar.items()}


def context_for(request) -> RequestContext:
    """The context of this request, created on first use."""
    ctx = getattr(request, "_adhesions_ctx", None)
    if ctx is None:
        ctx = RequestContext(request, get_runtime(), parse_cookies(request.headers.get("cookie")))
        request._adhesions_ctx = ctx
    return ctx


def render(ctx: RequestContext, template: str, status: int = 200, **values) -> Response:
    """A full HTML page with the shared layout context."""
    rt = ctx.rt
    try:
        association = rt.association()
    except Exception:  # the error page itself must render when settings cannot be read
        association = None
    body = rt.templates.page(
        template,
        association=association,
        session=ctx.session,
        csrf_token=ctx.csrf_token(),
        is_local=rt.config.is_local,
        path=current_path(ctx.request),
        **values,
    )
    return Response(body=body, status_code=status, headers={"Content-Type": "text/html; charset=utf-8"})


def current_path(request) -> str:
    """The concrete path asked for, rebuilt from the route and its parameters."""
    path = request.path
    for name, value in (request.uri_params or {}).items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path


def redirect(location: str, status: int = 303) -> Response:
    return Response(body="", status_code=status, headers={"Location": location})


def login_redirect(next_path: str, second_factor: bool = False) -> Response:
    return redirect(f"{SECOND_FACTOR_PATH if second_factor else '/connexion'}?suite=" + quote(next_path, safe="/"))


_LOCAL_PATH = re.compile(r"/(?![/\\])[\x21-\x5b\x5d-\x7e]*")  # printable ASCII but the backslash (0x5c)


def safe_next(value: str) -> str:
    """Only a plain local path is followed after login: one leading ``/`` (not ``//``), then
    printable ASCII without spaces, controls or backslashes. A TAB, CR or LF (which browsers
    drop or which break the header), ``//host`` or ``/\\host`` all give "" (the default page)."""
    if _LOCAL_PATH.fullmatch(value):
        return value
    return ""
