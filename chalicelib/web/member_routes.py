"""« Mon compte » and « Mes adhésions » for the contacts of member organisations."""
from __future__ import annotations

from chalice import Blueprint

from ..services import account
from .http import context_for, render
from .routes import route

bp = Blueprint(__name__)


@route(bp, "/mon-compte")
def my_account():
    """« Mon compte »: the organisation, its contacts, and the way to « Mes adhésions »."""
    ctx = context_for(bp.current_request)
    view = account.account_overview(ctx.rt, ctx.require_member())
    return render(ctx, "member/account.html", view=view, password_changed=ctx.query("mot_de_passe_change") == "1")


@route(bp, "/mon-compte/adhesions")
def my_memberships():
    """« Mes adhésions »: this year's status and « Historique des adhésions »."""
    ctx = context_for(bp.current_request)
    view = account.memberships_overview(ctx.rt, ctx.require_member())
    return render(ctx, "member/memberships.html", view=view, cancelled=ctx.query("demande_annulee") == "1",
                  deposits=view.deposits)
