"""The development mailbox: every email sent through (moto's) SES, in the local stage only."""
from __future__ import annotations

from chalice import Blueprint

from ..domain.errors import NotFound
from .http import context_for, render
from .routes import route

bp = Blueprint(__name__)


def _mailbox(ctx):
    if not ctx.rt.config.is_local:
        raise NotFound("Cette page n'existe pas.")
    from ..adapters.dev_mailbox import LocalMailbox

    return LocalMailbox(ctx.rt.config.region)


@route(bp, "/_dev/courriels")
def mailbox():
    """The list of sent emails, newest first."""
    ctx = context_for(bp.current_request)
    return render(ctx, "dev/mailbox.html", messages=_mailbox(ctx).messages())


@route(bp, "/_dev/courriels/{message_id}")
def mailbox_message(message_id):
    """One email with its text and HTML parts."""
    ctx = context_for(bp.current_request)
    message = _mailbox(ctx).message(message_id)
    if message is None:
        raise NotFound("Ce courriel n'existe pas.")
    return render(ctx, "dev/message.html", message=message)
