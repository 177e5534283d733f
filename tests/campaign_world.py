"""Generated members for the campaign's tests and bench: every case the campaign must tell apart.

Organisation ``n`` of a world is one of these profiles (``PROFILES[n % len(PROFILES)]``):

- ``member``: paid the current year → due for renewal next season;
- ``validated``: current year validated, not paid → due;
- ``lapsed``: last paid the year before → due;
- ``former``: last paid three years ago → not due;
- ``renewed``: already paid next season → not due;
- ``inactive``: a member, but the organisation is inactive → skipped;
- ``opted_out``: a member whose only contact was switched off by staff → nobody to write to.

Members have 1 to 3 contacts; in each organisation with 3 contacts the last one does not
receive notices.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from chalicelib.domain.model import (
    Address,
    Category,
    Contact,
    Membership,
    MembershipStatus,
    Organisation,
    Role,
    Tier,
)
from chalicelib.local.demo import demo_association

PROFILES = ("member", "validated", "member", "lapsed", "former", "member", "renewed", "inactive",
            "member", "opted_out")
DUE = {"member", "validated", "lapsed", "opted_out"}
TIERS = [("COL-1", Category.COLLECTIVITE, "Commune de moins de 5 000 habitants", "180.00"),
         ("ENT-1", Category.ENTREPRISE, "Entreprise de 1 à 9 salariés", "150.00")]


@dataclass
class World:
    season: int
    organisations: list[Organisation] = field(default_factory=list)
    contacts: dict[str, list[Contact]] = field(default_factory=dict)  # org id → contacts
    profiles: dict[str, str] = field(default_factory=dict)  # org id → profile

    def recipients(self, org_ids=None) -> set[str]:
        """Emails that must receive the season's notice (of the given organisations, or all due ones)."""
        chosen = org_ids if org_ids is not None else [o for o, p in self.profiles.items() if p in DUE]
        return {c.email for o in chosen for c in self.contacts[o] if c.receives_notices}

    def due_organisations(self) -> list[str]:
        return [o for o, p in self.profiles.items() if p in DUE]

    def skipped_contacts(self) -> set[str]:
        return {c.email for cs in self.contacts.values() for c in cs} - self.recipients()


def plan(count: int, season: int = 2027) -> tuple[World, list[Membership]]:
    """The organisations, contacts and memberships of a world of ``count`` organisations (not stored)."""
    world = World(season)
    memberships: list[Membership] = []
    current = season - 1
    for n in range(count):
        profile = PROFILES[n % len(PROFILES)]
        org_id = f"org-{n:05d}"
        code, category, label, amount = TIERS[n % 2]
        org = Organisation(org_id, f"Structure {n:05d}", category, Address(f"{n} rue des Lilas", "49000", "Angers"),
                           f"factures-{n}@structure.example", current_tier=code, active=profile != "inactive")
        world.organisations.append(org)
        world.profiles[org_id] = profile
        size = 1 if profile == "opted_out" else 1 + n % 3
        world.contacts[org_id] = [
            Contact(f"c-{n:05d}-{k}", f"contact{k}@structure-{n:05d}.example", f"Contact {k} de {n}",
                    Role.CONTACT, org_id,
                    receives_notices=not (profile == "opted_out" or (size == 3 and k == 2)))
            for k in range(size)
        ]
        years = {"member": [(current - 1, "paid"), (current, "paid")],
                 "validated": [(current, "validated")],
                 "lapsed": [(current - 2, "paid"), (current - 1, "paid")],
                 "former": [(current - 3, "paid")],
                 "renewed": [(current, "paid"), (season, "paid")],
                 "inactive": [(current, "paid")],
                 "opted_out": [(current, "paid")]}[profile]
        for year, status in years:
            memberships.append(Membership(org_id, year, code, label, Decimal(amount), MembershipStatus(status)))
    return world, memberships


def store_settings_and_grids(rt, season: int = 2027) -> None:
    rt.settings.save_association(demo_association())
    rt.forget_cached_settings()
    for year, factor in ((season - 2, Decimal("0.97")), (season - 1, Decimal("1")), (season, Decimal("1.03"))):
        for rank, (code, category, label, amount) in enumerate(TIERS):
            rt.tariffs.save_tier(year, Tier(code, category, label, (Decimal(amount) * factor).quantize(Decimal("1")), rank))


def build(rt, count: int, season: int = 2027) -> World:
    """Store a world: settings and grids through the repositories, members in batch writes (fast)."""
    from chalicelib.adapters.dynamo.repositories import DynamoOrganisations
    from chalicelib.adapters.dynamo.tables import ContactTable, MembershipTable, OrganisationTable

    store_settings_and_grids(rt, season)
    world, memberships = plan(count, season)
    with OrganisationTable.batch_write() as batch:
        for org in world.organisations:
            batch.save(DynamoOrganisations._to_item(org))
    with ContactTable.batch_write() as batch:
        for contacts in world.contacts.values():
            for c in contacts:
                batch.save(ContactTable(c.contact_id, email=c.email, name=c.name, role=c.role.value,
                                        org_id=c.org_id, receives_notices=c.receives_notices, active=c.active))
    with MembershipTable.batch_write() as batch:
        for m in memberships:
            batch.save(MembershipTable(m.org_id, m.year, tier_code=m.tier_code, tier_label=m.tier_label,
                                       amount=str(m.amount), status=m.status.value))
    return world
