"""Entry points of the scheduled functions: each builds nothing itself and calls one service."""
from __future__ import annotations

from .runtime import Runtime, get_runtime
from .services import campaign, chorus, mail, reconcile, renewal, tasks


def retry_pending_emails(rt: Runtime | None = None) -> dict:
    sent = mail.retry_pending_emails(rt or get_runtime())
    return {"sent": sent}


def issue_pending_invoices(rt: Runtime | None = None) -> dict:
    """Every 15 minutes: the invoices the automatic hook could not issue, then whatever a crash
    left half-done (settlements, follow-ups of a payment, invoice emails)."""
    rt = rt or get_runtime()
    return {"invoiced": renewal.issue_pending_invoices(rt), **reconcile.reconcile(rt)}


def run_campaign_schedule(rt: Runtime | None = None) -> dict:
    run = campaign.run_campaign_schedule(rt or get_runtime())
    return {"season": run.season, "organisations": run.organisations, "chunks": run.chunks,
            "kinds": [k.value for k in run.kinds]}


def process_campaign_chunk(body: str, rt: Runtime | None = None) -> dict:
    return campaign.process_chunk(rt or get_runtime(), body).as_dict()


def drain_campaign_queue(rt: Runtime | None = None) -> dict:
    """Local stage only: SQS delivers nothing to the local server, so the queue is drained here."""
    result = campaign.drain_queue(rt or get_runtime())
    return {"chunks": result.chunks, "sent": dict(result.sent)}


def process_task(body: str, rt: Runtime | None = None) -> dict:
    return {"task": tasks.process(rt or get_runtime(), body)}


def follow_chorus_pro(rt: Runtime | None = None) -> dict:
    """Every 15 minutes: deposit what waits on Chorus Pro, read what moved there."""
    return chorus.follow(rt or get_runtime())
