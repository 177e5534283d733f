"""Adhésions en ligne: wires the blueprints, middleware and scheduled functions."""
from chalice import Chalice, Rate

from chalicelib import jobs
from chalicelib.web import admin_routes, auth_routes, dev_routes, member_routes, public_routes
from chalicelib.web.middleware import http_middleware
from chalicelib.web.routes import BINARY_TYPES

app = Chalice(app_name="adhesions")
app.api.binary_types.extend(BINARY_TYPES)
app.register_middleware(http_middleware, "http")

app.register_blueprint(auth_routes.bp)
app.register_blueprint(member_routes.bp)
app.register_blueprint(admin_routes.bp)
app.register_blueprint(dev_routes.bp)
app.register_blueprint(public_routes.bp)


@app.schedule(Rate(5, unit=Rate.MINUTES))
def retry_pending_emails(event):
    """Send the outbox emails whose earlier attempt failed."""
    return jobs.retry_pending_emails()
