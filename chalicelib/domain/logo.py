"""The association's logo: a small PNG or JPEG kept in the settings, shown as a ``data:`` URI.

Where it is stored, and why there: the checked image is kept, base64-encoded, in the settings
item itself (``AssociationSettings.logo``, a ``data:image/png;base64,…`` text), and pages
show it as ``<img src="data:…">``. The alternative, a file in the documents bucket served
through a redirect to a presigned link, needs more and breaks more easily:

- the pages' ``img-src 'self' data:`` policy already allows a ``data:`` image, while an image
  redirected to the bucket would be blocked unless the policy named the bucket's origin too;
- no binary body crosses API Gateway (it mangles them unless configured), no new route,
  no new bucket prefix for the function to be granted, no file to sweep once replaced;
- the logo changes with the settings' version (optimistic locking, one write), so a page
  never shows a logo the settings no longer name.

The price is size: 100 KB of image are about 137 KB of text, well under DynamoDB's 400 KB
per item, and only the home page carries it. Only PNG and JPEG are accepted, recognised by
their first bytes, never by the file's name or announced type; SVG (which can carry
scripts), GIF and everything else are refused.
"""
from __future__ import annotations

import base64

from .errors import ValidationError

MAX_LOGO_BYTES = 100 * 1024
MAX_LOGO_LABEL = "100 Ko"
LOGO_LABEL = "Logo de l'association"
NO_LOGO = "aucun"

# Magic bytes → (MIME type, name shown to staff).
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "PNG"),
    (b"\xff\xd8\xff", "image/jpeg", "JPEG"),
)
_PREFIXES = {f"data:{mime};base64,": name for _, mime, name in _SIGNATURES}

NOT_AN_IMAGE = ("Le logo doit être une image PNG ou JPEG. Les autres formats (SVG, GIF, WebP, PDF…) ne sont "
                "pas acceptés : enregistrez l'image au format PNG ou JPEG puis recommencez.")


def check_logo(data: bytes) -> str:
    """The ``data:`` URI of an uploaded logo, or ValidationError (field ``logo``) in French."""
    if not data:
        raise ValidationError({"logo": "Choisissez le fichier du logo (PNG ou JPEG)."})
    if len(data) > MAX_LOGO_BYTES:
        raise ValidationError({"logo": f"Le logo dépasse {MAX_LOGO_LABEL} : enregistrez-le en plus petit "
                                       "(par exemple 400 pixels de large) puis recommencez."})
    for signature, mime, _ in _SIGNATURES:
        if data.startswith(signature) and len(data) > len(signature):
            return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    raise ValidationError({"logo": NOT_AN_IMAGE})


def logo_src(stored: str) -> str:
    """``stored`` if it is a logo ``check_logo`` made (a PNG or JPEG ``data:`` URI), else ""."""
    if not any(stored.startswith(prefix) for prefix in _PREFIXES):
        return ""
    payload = stored.partition(",")[2]
    if not payload or payload.strip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="):
        return ""
    return stored


def logo_summary(stored: str) -> str:
    """« PNG, 12 Ko » for the journal and the settings page; « aucun » without a logo."""
    if not logo_src(stored):
        return NO_LOGO
    prefix, _, payload = stored.partition(",")
    size = len(payload) * 3 // 4 - payload.count("=")
    return f"{_PREFIXES[prefix + ',']}, {max(1, round(size / 1024))} Ko"
