"""Adhésions en ligne: wires the blueprints, middleware and scheduled functions."""
from chalice import Chalice, Cron, Rate

from chalicelib import jobs
from chalicelib.config import CAMPAIGN_WORKERS, LOCAL_STAGE, campaign_queue_name, current_stage, tasks_queue_name
from chalicelib.web import (
    admin_data_routes,
    admin_requests_routes,
    admin_routes,
    admin_settings_routes,
    auth_routes,
    campaign_routes,
    dev_routes,
    document_routes,
    member_routes,
    public_routes,
    renewal_routes,
)
from chalicelib.web.middleware import http_middleware
from chalicelib.web.routes import BINARY_TYPES

app = Chalice(app_name="adhesions")
app.api.binary_types.extend(BINARY_TYPES)
app.register_middleware(http_middleware, "http")

app.register_blueprint(auth_routes.bp)
app.register_blueprint(member_routes.bp)
app.register_blueprint(admin_routes.bp)
app.register_blueprint(admin_settings_routes.bp)
app.register_blueprint(admin_data_routes.bp)
app.register_blueprint(admin_requests_routes.bp)
if current_stage() == LOCAL_STAGE:  # the mailbox and task pages exist in the local stage only
    app.register_blueprint(dev_routes.bp)
app.register_blueprint(campaign_routes.bp)
app.register_blueprint(renewal_routes.bp)
app.register_blueprint(document_routes.bp)
app.register_blueprint(public_routes.bp)


@app.schedule(Rate(5, unit=Rate.MINUTES))
def retry_pending_emails(event):
    """Send the outbox emails whose earlier attempt failed."""
    return jobs.retry_pending_emails()


@app.schedule(Rate(15, unit=Rate.MINUTES))
def issue_pending_invoices(event):
    """Issue the invoices of requests left ready to invoice (the automatic issue failed)."""
    return jobs.issue_pending_invoices()


@app.schedule(Rate(15, unit=Rate.MINUTES))
def follow_chorus_pro(event):
    """Deposit the public buyers' invoices still waiting, and follow each one to « Mise en paiement »."""
    return jobs.follow_chorus_pro()


@app.schedule(Cron(0, 5, "*", "*", "?", "*"))
def run_campaign_schedule(event):
    """Daily (05:00 UTC): open the renewal campaign on its date and queue the reminders due."""
    return jobs.run_campaign_schedule()


@app.on_sqs_message(queue=campaign_queue_name(), batch_size=1, maximum_concurrency=CAMPAIGN_WORKERS)
def process_campaign_chunk(event):
    """Send one queued chunk of campaign emails; a failure leaves the message for a later delivery."""
    return [jobs.process_campaign_chunk(record.body) for record in event]


@app.on_sqs_message(queue=tasks_queue_name(), batch_size=1)
def process_task(event):
    """Do one task queued by a request (e.g. mail « Mot de passe oublié »'s link) after its answer."""
    return [jobs.process_task(record.body) for record in event]
