"""Public pages: home, stylesheet, and a French 404 for every unknown address."""
from __future__ import annotations

from chalice import Blueprint, Response

from ..domain.errors import NotFound
from .http import context_for, render
from .routes import ALL_METHODS, ANY_BODY, route

bp = Blueprint(__name__)

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


@route(bp, "/")
def home():
    """The public home page: how to renew, with « Espace personnel » in the header."""
    return render(context_for(bp.current_request), "public/home.html")


@route(bp, "/static/{name}")
def static(name):
    """The stylesheet and images, from ``templates/static``."""
    ctx = context_for(bp.current_request)
    suffix = name[name.rfind("."):] if "." in name else ""
    if suffix not in STATIC_TYPES:
        raise NotFound()
    try:
        body = ctx.rt.templates.static(name)
    except (FileNotFoundError, OSError):
        raise NotFound() from None
    return Response(body=body.decode(), status_code=200, headers={
        "Content-Type": STATIC_TYPES[suffix], "Cache-Control": "public, max-age=3600",
    })


# Unknown addresses get the French 404 page instead of the gateway's English error.
# (One route per depth: the local server does not match greedy ``{proxy+}`` paths.)
def _not_found(**_):
    raise NotFound("Cette page n'existe pas.")


_CATCH_ALL = ["/{p1}", "/{p1}/{p2}", "/{p1}/{p2}/{p3}", "/{p1}/{p2}/{p3}/{p4}",
              "/{p1}/{p2}/{p3}/{p4}/{p5}", "/{p1}/{p2}/{p3}/{p4}/{p5}/{p6}"]
for _path in _CATCH_ALL:
    route(bp, _path, methods=ALL_METHODS, content_types=ANY_BODY, name=f"not_found_{_path.count('/')}")(_not_found)
