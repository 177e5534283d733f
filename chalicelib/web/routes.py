"""Route conventions shared by the blueprints."""
from __future__ import annotations

FORM = ["application/x-www-form-urlencoded"]
# Bodies that must reach the app byte for byte (invalid UTF-8 is answered, not crashed on).
BINARY_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "application/pdf"]
ANY_BODY = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data",
            "text/plain", "application/octet-stream", "application/xml", "text/html"]
ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def route(bp, path: str, **options):
    """Register a view on ``bp`` so that its errors reach the middleware's error map.

    Chalice turns any exception raised in a view into its own English 500 before
    middleware sees it, except ``ChaliceUnhandledError``: views raise through that.
    """
    from functools import wraps

    from chalice.app import ChaliceUnhandledError

    def register(view):
        @wraps(view)
        def guarded(**kwargs):
            try:
                return view(**kwargs)
            except Exception as error:
                raise ChaliceUnhandledError(type(error).__name__) from error

        bp.route(path, **options)(guarded)
        return view

    return register
