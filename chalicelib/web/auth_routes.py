"""« Espace personnel »: login, the staff second factor, logout, « Mot de passe oublié ? » and the
new-password page."""
from __future__ import annotations

from chalice import Blueprint

from ..domain.errors import ValidationError
from ..domain.second_factor import grouped
from ..services import auth, second_factor
from .http import SECOND_FACTOR_PATH, context_for, login_redirect, redirect, render, safe_next
from .routes import FORM, route

bp = Blueprint(__name__)

LOGIN_FIELDS = {"email": 254, "password": 1024, "suite": 500}
EMAIL_FIELDS = {"email": 254}
NEW_PASSWORD_FIELDS = {"jeton": 200, "password": 1024, "confirmation": 1024}


def _home_for(session_role: str) -> str:
    return "/admin" if session_role == "staff" else "/mon-compte"


@route(bp, "/connexion")
def login_form():
    """The login form (email, password) with « Mot de passe oublié ? »."""
    ctx = context_for(bp.current_request)
    if ctx.session is not None:
        if ctx.session.awaits_second_factor:
            return login_redirect(safe_next(ctx.query("suite", 500)) or "/admin", second_factor=True)
        return redirect(_home_for(ctx.session.role))
    return render(ctx, "auth/login.html", email="", suite=safe_next(ctx.query("suite", 500)), errors={},
                  password_changed=ctx.query("nouveau_mot_de_passe") == "1", expired=ctx.query("expiree") == "1")


@route(bp, "/connexion", methods=["POST"], content_types=FORM)
def login_submit():
    """Check the credentials; success opens a new session, failure says the same for all."""
    ctx = context_for(bp.current_request)
    try:
        form = ctx.form(LOGIN_FIELDS)
    except ValidationError as error:
        return render(ctx, "auth/login.html", status=400, email="", suite="", errors=error.errors)
    suite = safe_next(form["suite"])
    try:
        auth.validate_login_form(form["email"], form["password"])
        result = auth.login(ctx.rt, form["email"], form["password"], ctx.source_ip)
    except ValidationError as error:
        return render(ctx, "auth/login.html", status=400, email=form["email"], suite=suite, errors=error.errors)
    except auth.LoginFailed as error:
        return render(ctx, "auth/login.html", status=400, email=form["email"], suite=suite,
                      errors={"form": error.message})
    auth.logout(ctx.rt, ctx.session_token)  # a login always gets a new session id
    ctx.start_session(result.token)
    if result.contact.is_staff:  # the password is not enough for staff pages
        return login_redirect(suite or "/admin", second_factor=True)
    return redirect(suite or _home_for(result.contact.role.value))


CODE_FIELDS = {"code": 40, "suite": 500}


def _second_factor_page(ctx, session, suite: str, errors: dict, status: int = 200):
    enrolment = second_factor.enrolment(ctx.rt, session)
    if enrolment is None:
        return render(ctx, "auth/second_factor.html", status=status, suite=suite, errors=errors)
    import segno

    account = enrolment.contact.email
    qr = segno.make(enrolment.factor.provisioning_uri(account), error="m")
    return render(ctx, "auth/second_factor_enrol.html", status=status, suite=suite, errors=errors,
                  qr_svg=qr.svg_inline(scale=4, title="Code QR à scanner avec votre application"),
                  secret=grouped(enrolment.factor.secret), account=account)


def _elsewhere(ctx, suite: str):
    """Where a visit to the second-factor page goes instead when there is no code to ask for:
    the login (no session), or on (the factor already given, or a member); None otherwise."""
    session = ctx.session
    if session is None:
        return login_redirect(suite or "/admin")
    if not session.awaits_second_factor:
        return redirect(suite or _home_for(session.role))
    return None


@route(bp, SECOND_FACTOR_PATH)
def second_factor_form():
    """Staff, after their password: the code from their app, or its enrolment on a first login."""
    ctx = context_for(bp.current_request)
    suite = safe_next(ctx.query("suite", 500))
    return _elsewhere(ctx, suite) or _second_factor_page(ctx, ctx.session, suite, {})


@route(bp, SECOND_FACTOR_PATH, methods=["POST"], content_types=FORM)
def second_factor_submit():
    """Check the code; success renews the session (new id) with staff access."""
    ctx = context_for(bp.current_request)
    form = ctx.form(CODE_FIELDS)
    suite = safe_next(form["suite"])
    if (elsewhere := _elsewhere(ctx, suite)) is not None:
        return elsewhere
    session = ctx.session
    try:
        passed = second_factor.verify(ctx.rt, session, ctx.session_token, form["code"], ctx.source_ip)
    except second_factor.WrongCode as error:
        return _second_factor_page(ctx, session, suite, {"code": error.message}, status=400)
    ctx.start_session(passed.token)
    if passed.recovery_codes:
        return render(ctx, "auth/recovery_codes.html", codes=passed.recovery_codes, suite=suite or "/admin")
    if passed.recovery_left is not None:
        suite = "/admin?fait=code-de-secours"
    return redirect(suite or "/admin")


@route(bp, "/deconnexion", methods=["POST"], content_types=FORM)
def logout():
    """Revoke the session on the server and clear the cookie."""
    ctx = context_for(bp.current_request)
    ctx.form({})
    auth.logout(ctx.rt, ctx.session_token, ctx.session)
    ctx.end_session()
    return redirect("/connexion?deconnecte=1")


@route(bp, "/mot-de-passe-oublie")
def forgot_form():
    """Ask for a reset link by email."""
    ctx = context_for(bp.current_request)
    return render(ctx, "auth/forgot.html", email="", errors={}, sent=False)


@route(bp, "/mot-de-passe-oublie", methods=["POST"], content_types=FORM)
def forgot_submit():
    """Mail a link if the address has an account; the answer is the same either way."""
    ctx = context_for(bp.current_request)
    form = ctx.form(EMAIL_FIELDS)
    email = form["email"].strip()
    if not email or "@" not in email:
        return render(ctx, "auth/forgot.html", status=400, email=email, sent=False,
                      errors={"email": "Indiquez une adresse e-mail valide, par exemple nom@exemple.fr."})
    auth.request_password_reset(ctx.rt, email, ctx.source_ip)
    return render(ctx, "auth/forgot.html", email="", errors={}, sent=True)


@route(bp, "/mot-de-passe/nouveau")
def new_password_form():
    """The page a reset link opens: choose a new password."""
    ctx = context_for(bp.current_request)
    token = ctx.query("jeton")
    auth.check_reset_token(ctx.rt, token)
    response = render(ctx, "auth/new_password.html", jeton=token, errors={})
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in this page's URL
    return response


@route(bp, "/mot-de-passe/nouveau", methods=["POST"], content_types=FORM)
def new_password_submit():
    """Set the new password, revoke every session, and send the notification."""
    ctx = context_for(bp.current_request)
    form = ctx.form(NEW_PASSWORD_FIELDS)
    try:
        auth.reset_password(ctx.rt, form["jeton"], form["password"], form["confirmation"])
    except ValidationError as error:
        response = render(ctx, "auth/new_password.html", status=400, jeton=form["jeton"], errors=error.errors)
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
    ctx.end_session()
    return redirect("/connexion?nouveau_mot_de_passe=1")


PASSWORD_CHANGE_FIELDS = {"current": 1024, "password": 1024, "confirmation": 1024}


@route(bp, "/mon-compte/mot-de-passe")
def password_change_form():
    """« Changer mon mot de passe » (any logged-in account)."""
    ctx = context_for(bp.current_request)
    ctx.require_login()
    return render(ctx, "auth/change_password.html", errors={})


@route(bp, "/mon-compte/mot-de-passe", methods=["POST"], content_types=FORM)
def password_change_submit():
    """Check the current password, set the new one, end every session and open a new one here."""
    ctx = context_for(bp.current_request)
    session = ctx.require_login()
    form = ctx.form(PASSWORD_CHANGE_FIELDS)
    try:
        token = auth.change_password(ctx.rt, session, form["current"], form["password"], form["confirmation"])
    except ValidationError as error:
        return render(ctx, "auth/change_password.html", status=400, errors=error.errors)
    ctx.start_session(token)
    return redirect(("/admin" if session.role == "staff" else "/mon-compte") + "?mot_de_passe_change=1")
