"""The member side of the domain: organisations, contacts, tariffs and memberships."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum


class Role(str, Enum):
    CONTACT = "contact"
    STAFF = "staff"

    @property
    def label(self) -> str:
        return {"contact": "Contact technique", "staff": "Équipe de l'association"}[self.value]


class Category(str, Enum):
    COLLECTIVITE = "collectivite"
    ENTREPRISE = "entreprise"
    ENSEIGNEMENT = "enseignement_recherche"
    FEDERATION = "federation_association"

    @property
    def label(self) -> str:
        return CATEGORY_LABELS[self]


CATEGORY_LABELS = {
    Category.COLLECTIVITE: "Collectivité",
    Category.ENTREPRISE: "Entreprise",
    Category.ENSEIGNEMENT: "Enseignement / recherche",
    Category.FEDERATION: "Fédération / association",
}


class PublicBuyerRequirement(str, Enum):
    """What a public buyer's Chorus Pro structure requires on an invoice."""

    NONE = "none"
    SERVICE_CODE = "service_code"
    ENGAGEMENT = "engagement"
    BOTH = "both"
    EITHER = "either"  # a service code or an engagement number, at least one

    @property
    def label(self) -> str:
        return {
            "none": "Ni code service ni numéro d'engagement",
            "service_code": "Code service obligatoire",
            "engagement": "Numéro d'engagement obligatoire",
            "both": "Code service et numéro d'engagement obligatoires",
            "either": "Code service ou numéro d'engagement obligatoire",
        }[self.value]


class MembershipStatus(str, Enum):
    """A membership exists only once validated; it is extended by explicit events only."""

    VALIDATED = "validated"
    PAID = "paid"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return {"validated": "Validée", "paid": "Payée", "cancelled": "Annulée"}[self.value]


@dataclass(frozen=True)
class Address:
    line1: str
    postcode: str
    city: str
    line2: str = ""
    country: str = "FR"

    def lines(self) -> list[str]:
        return [x for x in (self.line1, self.line2, f"{self.postcode} {self.city}".strip()) if x]


@dataclass(frozen=True)
class Organisation:
    org_id: str
    name: str
    category: Category
    billing_address: Address
    invoice_email: str
    siret: str = ""
    current_tier: str = ""
    public_buyer: bool = False
    service_code: str = ""
    buyer_requirement: PublicBuyerRequirement = PublicBuyerRequirement.NONE
    active: bool = True
    # The invoice and credit note PDFs go to invoice_email as attachments, unless the
    # organisation asked for the email alone (staff switch it off on its page).
    attach_invoices: bool = True

    @property
    def siren(self) -> str:
        return self.siret[:9]


@dataclass(frozen=True)
class Contact:
    contact_id: str
    email: str
    name: str
    role: Role
    org_id: str | None
    password_hash: str = ""
    receives_notices: bool = True
    active: bool = True
    password_changed_at: datetime | None = None

    @property
    def is_staff(self) -> bool:
        return self.role is Role.STAFF


@dataclass(frozen=True)
class Tier:
    code: str
    category: Category
    label: str
    amount: Decimal
    rank: int = 0


@dataclass(frozen=True)
class TariffGrid:
    year: int
    tiers: tuple[Tier, ...] = field(default_factory=tuple)

    def tier(self, code: str) -> Tier | None:
        return next((t for t in self.tiers if t.code == code), None)

    def for_category(self, category: Category) -> list[Tier]:
        return sorted((t for t in self.tiers if t.category is category), key=lambda t: t.rank)


@dataclass(frozen=True)
class Membership:
    org_id: str
    year: int
    tier_code: str
    tier_label: str
    amount: Decimal
    status: MembershipStatus

    @property
    def counts(self) -> bool:
        """Validated or paid: the basis of the next quote and renewal."""
        return self.status in (MembershipStatus.VALIDATED, MembershipStatus.PAID)


def last_validated(memberships: list[Membership]) -> Membership | None:
    """The most recent membership that was validated or paid."""
    valid = [m for m in memberships if m.counts]
    return max(valid, key=lambda m: m.year) if valid else None
