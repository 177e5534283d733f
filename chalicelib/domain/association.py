"""The association's own settings: identity, contact details and wording.

Nothing about one association is hard-coded: these values are stored and edited by staff.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .model import Address


@dataclass(frozen=True)
class AssociationSettings:
    name: str
    address: Address
    siret: str
    contact_email: str
    contact_phone: str
    staff_notification_email: str
    contact_person: str = ""
    website: str = ""
    iban: str = ""
    bic: str = ""
    vat_regime: str = "outside_scope"
    vat_wording: str = "TVA non applicable, article 261-7-1° du CGI (cotisation d'adhésion)."
    payment_methods: tuple[str, ...] = ("virement", "cheque", "mandat_administratif")
    campaign_opening: str = "12-01"  # MM-DD, in the year before the membership year
    quote_validity_days: int = 30
    invoice_due_days: int = 30
    extra: dict = field(default_factory=dict)

    @property
    def siren(self) -> str:
        return self.siret[:9]


PAYMENT_METHOD_LABELS = {
    "virement": "Virement bancaire",
    "cheque": "Chèque",
    "mandat_administratif": "Mandat administratif",
}
