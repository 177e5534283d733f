"""Shared by the renewal tests: Ville de Montclair's answers and page helpers."""
from __future__ import annotations

import re

MEMBER_2 = "s.garnier@montclair.example"  # a second contact of Ville de Montclair
FORM = "/mon-compte/adhesions/renouveler"
MEMBERSHIPS = "/mon-compte/adhesions"


def answers(**overrides) -> dict:
    """Ville de Montclair's answers as the pre-filled form sends them, plus the member's choices."""
    values = {
        "tier_choice": "confirm", "requested_tier": "", "tier_comment": "",
        "payment_method": "mandat_administratif", "wait_for_purchase_order": "yes",
        "purchase_order_number": "",
        "address_line1": "Hôtel de ville, 12 rue de la République", "address_line2": "",
        "postcode": "44000", "city": "Montclair", "siret": "21440987600019",
        "invoice_email": "factures@montclair.example", "service_code": "ESPACES-VERTS",
        "buyer_requirement": "engagement",
    }
    values.update(overrides)
    return values


def plain(html: str) -> str:
    """The page's text without tags, spaces collapsed."""
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", "", html))


def field_error(html: str, field_id: str) -> str:
    """The message shown next to the field whose id is ``f-<field_id>``."""
    match = re.search(rf'id="f-{field_id}-error">([^<]*)<', html)
    return match.group(1) if match else ""
