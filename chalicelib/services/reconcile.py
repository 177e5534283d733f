"""Finish what a crash or an AWS outage left half-done, from the state alone, without staff.

Every step below is idempotent (fixed outbox ids, conditional writes, one document per
request or payment), so running this as often as we like changes only what is unfinished:

- an invoice fully paid whose request is still « Facturée » becomes « Payée » (``settle``);
- a request paid lately gets whatever of its follow-ups is missing: the membership recorded
  as paid, the certificate, « Paiement reçu » to each contact;
- an invoice issued lately whose email to the billing address never reached the outbox is
  sent (with the contacts' notices, each once), even when it was paid at once;
- a credit note issued lately that never reached its payer (email or Chorus Pro deposit) is sent;
- a request saved lately whose submission emails never reached the outbox (its task was never
  queued: the save's answer was lost, and pressing again found it saved) gets them;
- a PDF uploaded by an issuer that stopped before writing its record (the series' counter
  names it) is deleted, unless the record exists after all; and any document PDF of the last
  two days, over an hour old, that no record holds (the counter's note lost in an outage);

Requests are read by state (six queries a season). "Lately" is ``RECENT``: the job runs every
15 minutes, so a crash is found within minutes; two days leave room for an outage, and keep each
run to the requests that can still be unfinished.
« Finaliser le règlement » stays on the staff page for the older ones.
"""
from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from ..domain.renewal import RequestState
from ..runtime import Runtime
from . import documents, payments, renewal

log = logging.getLogger(__name__)

RECENT = timedelta(days=2)
SUBMISSION_GRACE = timedelta(minutes=10)


def reconcile(rt: Runtime, seasons: tuple[int, ...] = ()) -> dict[str, int]:
    """One pass over the requests of ``seasons`` (default: the calendar year and the next one);
    returns what it finished, by kind."""
    today = rt.today()
    seasons = seasons or (today.year, today.year + 1)
    now = rt.clock()
    since = now - RECENT
    done: Counter[str] = Counter()
    for year in seasons:
        for request in rt.renewals.for_season(year):
            recent = (request.updated_at or request.submitted_at) >= since
            if request.state is not RequestState.INVOICED and not recent:
                continue
            try:
                _finish(rt, request, year, recent, now, done)
            except Exception:
                log.exception("request %s: not reconciled, next run tries again", request.reference)
    done["orphan_uploads_removed"] += documents.remove_orphan_uploads(rt)
    for kind, sweep in (("unrecorded_uploads_removed", documents.remove_unrecorded_uploads),
                        ("orphan_purchase_orders_removed", renewal.remove_orphan_purchase_orders)):
        try:
            done[kind] += sweep(rt)
        except Exception:
            log.exception("%s: sweep failed; next run tries again", kind)
    return dict(done)


def _finish(rt: Runtime, request, year: int, recent: bool, now, done: Counter) -> None:
    """What ``request`` may still lack, by state; each step idempotent."""
    if request.state is RequestState.INVOICED:
        settled = payments.settle(rt, request.org_id, year)
        if settled is not None and settled.state is RequestState.PAID:
            done["settled"] += 1
        elif recent:
            done["invoices_announced"] += documents.ensure_announced(rt, request.invoice_number)
    elif request.state is RequestState.PAID:
        if not payments.settlement_finished(rt, request):
            payments.settle(rt, request.org_id, year)  # only what is missing, each at most once
            done["paid_finished"] += 1
        done["invoices_announced"] += documents.ensure_announced(rt, request.invoice_number)  # paid at once
    elif request.state is RequestState.CANCELLED and request.invoice_number:
        done["credit_notes_delivered"] += documents.ensure_credit_note_sent(rt, request.invoice_number)
    # The submission's own task normally sends these within seconds: only a request older than
    # that, whose task was never queued, is the reconciler's.
    if request.submitted_at <= now - SUBMISSION_GRACE:
        done["submissions_announced"] += renewal.ensure_submission_emails(rt, request)
