"""Local stage only: the development mailbox (every email sent through moto's SES) and the
scheduled tasks run by hand, since the local server runs no schedule and SQS delivers nothing to it.
"""
from __future__ import annotations

import dataclasses
from datetime import date, datetime, time

from chalice import Blueprint

from .. import jobs
from ..domain.errors import NotFound
from ..runtime import PARIS, running_from
from .http import context_for, render
from .routes import FORM, route

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


@route(bp, "/_dev/courriels/{message_id}/pj/{index}")
def mailbox_attachment(message_id, index):
    """An email's attachment, as received (the invoice PDF sent to a billing address)."""
    from chalice import Response

    ctx = context_for(bp.current_request)
    message = _mailbox(ctx).message(message_id)
    if message is None or not index.isdigit() or int(index) >= len(message.attachments):
        raise NotFound("Cette pièce jointe n'existe pas.")
    name, data = message.attachments[int(index)]
    safe_name = "".join(c for c in name if c.isalnum() or c in "-_.") or "piece-jointe"
    return Response(body=data, status_code=200, headers={
        "Content-Type": "application/pdf", "Content-Disposition": f'attachment; filename="{safe_name}"'})


TASKS = {
    "quotidienne": "Tâche quotidienne de la campagne",
    "file": "File d'envoi de la campagne",
    "quotidienne_et_file": "Tâche quotidienne puis file d'envoi",
    "courriels": "Nouvel essai des courriels en échec",
    "chorus": "Suivi Chorus Pro (dépôts en attente, statuts)",
}
# The Chorus Pro stand-in of ``make run`` (set by the local server): its invoices can be moved
# through their statuses here, as a buyer's services and accountant would on the real platform.
STANDIN = None


def _local_only(ctx) -> None:
    if not ctx.rt.config.is_local:
        raise NotFound("Cette page n'existe pas.")


def _runtime_on(rt, day: date | None):
    """``rt``, or a copy whose clock starts on ``day`` at 06:00 (Paris) and runs from there."""
    if day is None:
        return rt
    return dataclasses.replace(rt, clock=running_from(datetime.combine(day, time(6, 0), PARIS)))


def _demo_code(rt) -> str:
    """The demo staff account's current second-factor code (the demo's key is public)."""
    import pyotp

    from ..domain.second_factor import STEP_SECONDS
    from ..local.demo import DEMO_TOTP_SECRET

    return pyotp.TOTP(DEMO_TOTP_SECRET, interval=STEP_SECONDS).at(rt.clock())


def _tasks_page(ctx, **values):
    from ..local.chorus_standin import INVOICE_STATUSES

    values.setdefault("chorus_errors", {})
    return render(ctx, "dev/tasks.html", demo_code=_demo_code(ctx.rt), tasks=TASKS,
                  chorus_invoices=list(reversed(STANDIN.invoices())) if STANDIN else [],
                  chorus_statuses=INVOICE_STATUSES, **values)


@route(bp, "/_dev/taches")
def tasks():
    """Buttons that run the scheduled functions and drain the campaign queue here."""
    ctx = context_for(bp.current_request)
    _local_only(ctx)
    return _tasks_page(ctx, results=None, errors={}, day="")


@route(bp, "/_dev/taches", methods=["POST"], content_types=FORM)
def run_task():
    """Run one task now, optionally as if today were another day (campaign dates)."""
    from ..domain.campaign import MessageKind  # loaded here only: this page is for the local stage
    from ..services.campaign import ChunkFailed

    ctx = context_for(bp.current_request)
    _local_only(ctx)
    form = ctx.form({"task": 40, "jour": 10})
    errors = {}
    if form["task"] not in TASKS:
        errors["task"] = "Choisissez une tâche."
    try:
        day = date.fromisoformat(form["jour"]) if form["jour"] else None
    except ValueError:
        day, errors["jour"] = None, "Indiquez une date au format AAAA-MM-JJ."
    if day is not None and not 2000 <= day.year <= 2100:
        errors["jour"] = "Indiquez une date entre 2000 et 2100."
    if errors:
        return _tasks_page(ctx, status=400, results=None, errors=errors, day=form["jour"])
    rt = _runtime_on(ctx.rt, day)
    results = []
    if form["task"] in ("quotidienne", "quotidienne_et_file"):
        run = jobs.run_campaign_schedule(rt)
        kinds = ", ".join(MessageKind(k).label.lower() for k in run["kinds"])
        results.append(f"Tâche quotidienne : campagne {run['season']}, {run['organisations']} structure(s) "
                       f"mises en file en {run['chunks']} lot(s) ; messages possibles : {kinds}.")
    if form["task"] in ("file", "quotidienne_et_file"):
        try:
            drained = jobs.drain_campaign_queue(rt)
        except ChunkFailed as error:  # as in AWS, the chunk stays queued for a later try
            results.append(f"File d'envoi : un lot a échoué et reste dans la file ({error}).")
        else:
            detail = ", ".join(f"{MessageKind(k).label.lower()} : {n}" for k, n in drained["sent"].items())
            results.append(f"File d'envoi : {drained['chunks']} lot(s) traité(s), "
                           f"{sum(drained['sent'].values())} courriel(s) envoyé(s){f' ({detail})' if detail else ''}.")
    if form["task"] == "courriels":
        results.append(f"Courriels en échec : {jobs.retry_pending_emails(rt)['sent']} envoyé(s).")
    if form["task"] == "chorus":
        done = jobs.follow_chorus_pro(rt)
        results.append(f"Suivi Chorus Pro : {done['deposited']} dépôt(s), {done['moved']} statut(s) mis à jour, "
                       f"{done['failed']} échec(s).")
    return _tasks_page(ctx, results=results, errors={}, day=form["jour"])


@route(bp, "/_dev/chorus", methods=["POST"], content_types=FORM)
def chorus_move():
    """Move an invoice deposited on the stand-in to a status (with the buyer's comment), then
    run the follow-up so that the app sees it at once."""
    ctx = context_for(bp.current_request)
    _local_only(ctx)
    form = ctx.form({"numero": 40, "statut": 40, "commentaire": 500})
    errors = {}
    if STANDIN is None:
        errors["numero"] = "Le Chorus Pro simulé ne tourne pas dans ce processus."
    else:
        try:
            STANDIN.move(form["numero"], form["statut"], form["commentaire"])
        except ValueError as error:
            errors["statut"] = f"Impossible : {error}"
    if errors:
        return _tasks_page(ctx, status=400, results=None, errors={}, chorus_errors=errors, day="")
    done = jobs.follow_chorus_pro(ctx.rt)
    return _tasks_page(ctx, results=[f"{form['numero']} : « {form['statut']} » sur Chorus Pro (simulé) ; "
                                     f"suivi : {done['moved']} statut(s) mis à jour."], errors={}, day="")
