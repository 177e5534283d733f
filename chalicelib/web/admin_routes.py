"""Staff pages under ``/admin`` (staff role only)."""
from __future__ import annotations

from chalice import Blueprint

from .http import context_for, render
from .routes import route

bp = Blueprint(__name__)


@route(bp, "/admin")
def staff_home():
    """The staff home page."""
    ctx = context_for(bp.current_request)
    session = ctx.require_staff()
    me = ctx.rt.contacts.get(session.contact_id)
    return render(ctx, "admin/home.html", me=me)
