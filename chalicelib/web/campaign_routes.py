"""Staff control of the renewal campaign: preview (nothing sent), the notice as it will be sent
for a chosen organisation, and start by hand after a confirmation page."""
from __future__ import annotations

from chalice import Blueprint

from ..domain.errors import NotFound, ValidationError
from ..services import campaign
from .http import context_for, redirect, render
from .routes import FORM, route

bp = Blueprint(__name__)


def _season(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) != 4:
        raise ValidationError({"season": "Indiquez une année sur quatre chiffres."})
    return int(text)


def _season_asked(ctx, required: bool = False) -> int | None:
    """The season of ``?saison=``, one the campaign offers (404 otherwise; None if not given and
    not ``required``)."""
    try:
        season = _season(ctx.query("saison", 10))
    except ValidationError:
        raise NotFound("Cette campagne n'existe pas.") from None
    if (season is None and required) or (season is not None and season not in campaign.seasons_offered(ctx.rt)):
        raise NotFound("Cette campagne n'existe pas.")
    return season


@route(bp, "/admin/campagne")
def campaign_page():
    """The campaign of a season: recipients and counts (nothing is sent), and its runs."""
    ctx = context_for(bp.current_request)
    ctx.require_staff()
    season = _season_asked(ctx)
    preview = campaign.preview_campaign(ctx.rt, season)
    started = ctx.query("lancee", 4) == "1"
    chosen = ctx.query("apercu", 100) or next((line.org_id for line in preview.lines), "")
    notice_preview = campaign.preview_notice(ctx.rt, preview.season, chosen) if chosen else None
    return render(ctx, "admin/campaign.html", preview=preview, started=started, errors={},
                  notice_preview=notice_preview, chosen=chosen)


def _refused(ctx, errors: dict):
    preview = campaign.preview_campaign(ctx.rt)
    return render(ctx, "admin/campaign.html", status=400, preview=preview, started=False,
                  errors=errors, notice_preview=None, chosen="")


@route(bp, "/admin/campagne/lancer")
def confirm_start_campaign():
    """« Démarrer la campagne » asks first: which season, how many organisations and contacts."""
    ctx = context_for(bp.current_request)
    ctx.require_staff()
    season = _season_asked(ctx, required=True)
    try:
        campaign.check_startable(ctx.rt, season)
    except ValidationError as error:
        return _refused(ctx, error.errors)
    preview = campaign.preview_campaign(ctx.rt, season)
    return render(ctx, "admin/campaign_start.html", preview=preview)


@route(bp, "/admin/campagne/lancer", methods=["POST"], content_types=FORM)
def start_campaign():
    """Queue the notice of the chosen season for every organisation due (staff only), once the
    confirmation page's button is pressed; any other post only leads to that page."""
    ctx = context_for(bp.current_request)
    session = ctx.require_staff()
    form = ctx.form({"season": 10, "confirmation": 10})
    me = ctx.rt.contacts.get(session.contact_id)
    try:
        season = _season(form["season"])
        if season is None:
            raise ValidationError({"season": "Choisissez la campagne à lancer."})
        if form["confirmation"] != "oui":
            campaign.check_startable(ctx.rt, season)
            return redirect(f"/admin/campagne/lancer?saison={season}")
        run = campaign.start_campaign(ctx.rt, season, by=me)
    except ValidationError as error:
        return _refused(ctx, error.errors)
    return redirect(f"/admin/campagne?saison={run.season}&lancee=1")
