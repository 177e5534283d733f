"""What each Lambda function may touch: the one list to edit when the code starts using something new.

``infra.build`` turns these grants into one IAM policy per function, naming only the tables
(and their indexes), bucket prefixes, queues and SES identity listed here. Names are the
code's own: table names as in the pynamodb models' ``_meta("...")``, queue names without
the ``<app>-<stage>-`` prefix. The build fails when the app has a function missing here, or
when a grant names a table or queue the code does not declare, so the two cannot drift.
"""
from __future__ import annotations

from dataclasses import dataclass

EVERY_TABLE = ("*",)

# Key prefixes of the documents bucket, as the code writes them (``<prefix>/.../<random>``):
# uploaded purchase orders (renewal requests), issued PDFs (documents), staff's CSV imports.
# A test reads every ``new_key(...)`` call of the code and checks its prefix is here.
PURCHASE_ORDERS = "purchase-orders/"
DOCUMENTS = "documents/"
IMPORTS = "imports/"
BUCKET_PREFIXES = (PURCHASE_ORDERS, DOCUMENTS, IMPORTS)


@dataclass(frozen=True)
class Access:
    """The grants of one function.

    ``tables`` may read and write; ``read_tables`` may only read (Get, Query, Scan); both
    include the tables' indexes. ``bucket_read``/``bucket_write`` are key prefixes.
    ``send_to_queues`` may send to (and count) those queues; a function triggered by a
    queue may always consume it, without being listed. ``read_secrets`` are SSM parameters
    of ``infra/build.py`` ``SECRETS`` (e.g. ``csrf-secret``) it may read and decrypt.
    """

    tables: tuple[str, ...] = ()
    read_tables: tuple[str, ...] = ()
    bucket_read: tuple[str, ...] = ()
    bucket_write: tuple[str, ...] = ()
    send_email: bool = False
    send_to_queues: tuple[str, ...] = ()
    read_secrets: tuple[str, ...] = ()


FUNCTIONS: dict[str, Access] = {
    # Every page: member and staff pages use every table; uploads and downloads use the bucket.
    "api_handler": Access(
        tables=EVERY_TABLE,
        bucket_read=BUCKET_PREFIXES,
        bucket_write=BUCKET_PREFIXES,
        send_email=True,
        send_to_queues=("campaign", "tasks"),
        # The only function with forms (CSRF); the Chorus Pro directory behind the public buyers' forms.
        read_secrets=("csrf-secret", "chorus-pro-credentials"),
    ),
    # The outbox's retries: reads due messages through the ``pending`` index, sends them.
    "retry_pending_emails": Access(tables=("outbox",), send_email=True),
    # Catch-up of automatic invoices: requests ready to invoice (``by_state`` index), the
    # documents series and records, the PDF upload, the « facture disponible » emails, and the
    # invoice email to the billing address with the stored PDF (read back, never re-rendered);
    # The key of document ids (``settings``) is read only: infra/bootstrap.py stores it;
    # then the reconciler (services/reconcile.py): a fully paid invoice settles (request PAID,
    # membership PAID, certificate, « Paiement reçu »), and lost invoice emails are sent.
    # The reconciler also lists purchase-order files and deletes those no request holds.
    # A public buyer's invoice is recorded as waiting for Chorus Pro and its deposit queued.
    "issue_pending_invoices": Access(
        tables=("renewal_requests", "documents", "document_counters", "outbox", "audit", "memberships",
                "chorus_deposits"),
        read_tables=("settings", "organisations", "contacts", "payment_totals"),
        bucket_read=(DOCUMENTS, PURCHASE_ORDERS),
        bucket_write=(DOCUMENTS, PURCHASE_ORDERS),
        send_email=True,
        send_to_queues=("tasks",),
    ),
    # Work queued by a request or a function and done after the answer (services/tasks.py):
    # « Mot de passe oublié »'s link (the contact looked up, a token stored or the pending one's
    # email sent again); after « Enregistrer ma demande », the invoice (series, record, PDF
    # upload, the request marked invoiced) and the emails; a quote prepared ahead of the click;
    # a public buyer's invoice deposited on Chorus Pro (the stored PDF read back), and its structure
    # looked up in the Chorus Pro directory ahead of its form (kept in ``chorus_directory``).
    "process_task": Access(
        tables=("reset_tokens", "outbox", "audit", "renewal_requests", "documents", "document_counters",
                "chorus_deposits", "chorus_directory"),
        read_tables=("settings", "contacts", "organisations", "memberships", "tariffs", "payment_totals"),
        bucket_read=(DOCUMENTS,),
        bucket_write=(DOCUMENTS,),
        send_email=True,
        send_to_queues=("tasks",),  # a deposit queued by an invoice issued in a task
        read_secrets=("chorus-pro-credentials",),
    ),
    # Every 15 minutes: deposits still waiting (the stored PDF read back) and the open ones' statuses
    # (the ``open`` index); a rejection or a suspension emails staff through the outbox.
    "follow_chorus_pro": Access(
        tables=("chorus_deposits", "outbox", "audit"),
        read_tables=("settings", "organisations", "documents"),
        bucket_read=(DOCUMENTS,),
        send_email=True,
        read_secrets=("chorus-pro-credentials",),
    ),
    # Daily: opens the campaign on its date, records the run, queues one message per chunk of
    # the active organisations (a keys-only Scan).
    "run_campaign_schedule": Access(
        tables=("campaign_ledger",),
        read_tables=("settings", "organisations", "tariffs"),
        send_to_queues=("campaign",),
    ),
    # One chunk: claims each message in the ledger, sends it through the outbox, re-queues the
    # rest. Reminders follow each organisation's request and invoices (and what is already
    # paid on an unpaid one: ``payment_totals``).
    "process_campaign_chunk": Access(
        tables=("campaign_ledger", "outbox"),
        read_tables=("settings", "organisations", "contacts", "memberships", "tariffs", "renewal_requests",
                     "documents", "payment_totals"),
        send_email=True,
        send_to_queues=("campaign", "tasks"),  # the rest of a chunk; the quotes to prepare
    ),
}
