"""Finish what a crash or an AWS outage left half-done, from the state alone, without staff.

Every step below is idempotent (fixed outbox ids, conditional writes, one document per
request or payment), so running this as often as we like changes only what is unfinished:

- an invoice fully paid whose request is still « Facturée » becomes « Payée » (``settle``);
- a request paid lately gets whatever of its follow-ups is missing: the membership recorded
  as paid, the certificate, « Paiement reçu » to each contact;
- an invoice issued lately whose email to the billing address never reached the outbox is
  sent (with the contacts' notices, each once);
- a PDF uploaded by an issuer that stopped before writing its record (the series' counter
  names it) is deleted, unless the record exists after all.

"Lately" is ``RECENT``: the job runs every 15 minutes, so a crash is found within minutes; two
days leave room for an outage, and keep each run to the requests that can still be unfinished.
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


def reconcile(rt: Runtime, seasons: tuple[int, ...] = ()) -> dict[str, int]:
    """One pass over the invoiced and the recently paid requests of ``seasons`` (default: the
    calendar year and the next one); returns what it finished, by kind."""
    today = rt.today()
    seasons = seasons or (today.year, today.year + 1)
    since = rt.clock() - RECENT
    done: Counter[str] = Counter()
    for year in seasons:
        for request in rt.renewals.in_state(RequestState.INVOICED, year, limit=5000):
            try:
                settled = payments.settle(rt, request.org_id, year)
                if settled is not None and settled.state is RequestState.PAID:
                    done["settled"] += 1
                elif request.updated_at is None or request.updated_at >= since:
                    done["invoices_announced"] += documents.ensure_announced(rt, request.invoice_number)
            except Exception:
                log.exception("request %s: not reconciled, next run tries again", request.reference)
        for request in rt.renewals.in_state(RequestState.PAID, year, limit=5000):
            if request.updated_at is not None and request.updated_at < since:
                continue
            try:
                if not payments.settlement_finished(rt, request):
                    payments.settle(rt, request.org_id, year)  # only what is missing, each at most once
                    done["paid_finished"] += 1
            except Exception:
                log.exception("request %s: follow-ups not finished, next run tries again", request.reference)
    done["orphan_uploads_removed"] += documents.remove_orphan_uploads(rt)
    try:
        done["orphan_purchase_orders_removed"] += renewal.remove_orphan_purchase_orders(rt)
    except Exception:
        log.exception("purchase-order sweep failed; next run tries again")
    return dict(done)
