"""The association's own settings: identity, contact details and wording.

Nothing about one association is hard-coded: these values are stored and edited by staff.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .logo import logo_src
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
    # vat_regime: "outside_scope" (default), "exempt", or "registered" (then vat_rate applies,
    # in percent as text since settings are JSON, and vat_number is the FR… VAT identifier).
    vat_rate: str = "20.00"
    vat_number: str = ""
    late_penalty_wording: str = (
        "En cas de retard de paiement, des pénalités sont exigibles au taux de trois fois le taux "
        "d'intérêt légal (article L441-10 du Code de commerce)."
    )
    early_payment_wording: str = "Pas d'escompte pour paiement anticipé."
    payment_methods: tuple[str, ...] = ("virement", "cheque", "mandat_administratif")
    campaign_opening: str = "12-01"  # MM-DD, in the year before the membership year
    # Renewal campaign (see domain.campaign): reminder cadences in days, SES sending rate
    # (messages per second, for the whole account) and organisations per queued chunk.
    reminder_no_request_days: int = 21  # after the notice, while no request is recorded
    reminder_po_days: int = 15  # after the request, while its purchase order is awaited
    reminder_unpaid_days_after_due: int = 7  # after an invoice's due date, while unpaid
    ses_max_per_second: int = 10
    campaign_chunk_size: int = 100
    quote_validity_days: int = 30
    invoice_due_days: int = 30
    # A PNG or JPEG as a ``data:`` URI, "" for none: uploaded on its own form (see domain.logo).
    logo: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def siren(self) -> str:
        return self.siret[:9]

    @property
    def logo_src(self) -> str:
        """The logo for an ``<img src>`` (a checked ``data:`` URI), or "" when there is none."""
        return logo_src(self.logo)


PAYMENT_METHOD_LABELS = {
    "virement": "Virement bancaire",
    "cheque": "Chèque",
    "mandat_administratif": "Mandat administratif",
}
