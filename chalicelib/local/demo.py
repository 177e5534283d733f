"""Demo data for ``make run``: an association, two tariff grids, members with history."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..domain.association import AssociationSettings
from ..domain.model import (
    Address,
    Category,
    Contact,
    Membership,
    MembershipStatus,
    Organisation,
    PublicBuyerRequirement,
    Role,
    Tier,
)
from ..runtime import Runtime

DEMO_PASSWORD = "Tilleul-Platane-Erable-2026"

C, E, S, F = Category.COLLECTIVITE, Category.ENTREPRISE, Category.ENSEIGNEMENT, Category.FEDERATION

# code, category, label, amount in the current year
TIERS = [
    ("COL-1", C, "Commune de moins de 5 000 habitants", "180.00"),
    ("COL-2", C, "Commune de 5 000 à 20 000 habitants", "390.00"),
    ("COL-3", C, "Commune de 20 000 à 50 000 habitants", "720.00"),
    ("COL-4", C, "Collectivité de 50 000 à 100 000 habitants", "1150.00"),
    ("COL-5", C, "Collectivité de plus de 100 000 habitants, intercommunalité, département", "1700.00"),
    ("ENT-1", E, "Entreprise de 1 à 9 salariés", "150.00"),
    ("ENT-2", E, "Entreprise de 10 à 49 salariés", "350.00"),
    ("ENT-3", E, "Entreprise de 50 salariés et plus", "700.00"),
    ("ENS-1", S, "Établissement d'enseignement", "200.00"),
    ("ENS-2", S, "Organisme de recherche", "450.00"),
    ("FED-1", F, "Fédération, association, syndicat professionnel", "250.00"),
]


@dataclass(frozen=True)
class DemoOrg:
    org: Organisation
    contacts: list[tuple[str, str]]  # (name, email)
    history: list[tuple[int, str, MembershipStatus]]  # (years ago, tier, status)


def _addr(line1: str, postcode: str, city: str) -> Address:
    return Address(line1, postcode, city)


def demo_organisations() -> list[DemoOrg]:
    P, V = MembershipStatus.PAID, MembershipStatus.VALIDATED
    return [
        DemoOrg(Organisation("org-saint-aubin", "Commune de Saint-Aubin-des-Prés", C,
                             _addr("1 place de la Mairie", "49170", "Saint-Aubin-des-Prés"),
                             "mairie@saint-aubin.example", "21490123400015", "COL-1", public_buyer=True),
                [("Julie Moreau", "j.moreau@saint-aubin.example")],
                [(2, "COL-1", P), (1, "COL-1", P), (0, "COL-1", P)]),
        DemoOrg(Organisation("org-montclair", "Ville de Montclair", C,
                             _addr("Hôtel de ville, 12 rue de la République", "44000", "Montclair"),
                             "factures@montclair.example", "21440987600019", "COL-3", public_buyer=True,
                             service_code="ESPACES-VERTS",
                             buyer_requirement=PublicBuyerRequirement.ENGAGEMENT),
                [("Marc Lefèvre", "m.lefevre@montclair.example"),
                 ("Sophie Garnier", "s.garnier@montclair.example"),
                 ("Ahmed Benali", "a.benali@montclair.example")],
                [(2, "COL-3", P), (1, "COL-3", P), (0, "COL-3", V)]),
        DemoOrg(Organisation("org-val-fleuri", "Communauté d'agglomération du Val Fleuri", C,
                             _addr("5 avenue des Tilleuls", "37000", "Tours"),
                             "comptabilite@valfleuri.example", "20004567800028", "COL-5", public_buyer=True,
                             service_code="DIR-NATURE", buyer_requirement=PublicBuyerRequirement.BOTH),
                [("Claire Dubois", "c.dubois@valfleuri.example"),
                 ("Thomas Petit", "t.petit@valfleuri.example")],
                [(2, "COL-4", P), (1, "COL-5", P), (0, "COL-5", P)]),
        DemoOrg(Organisation("org-durand", "Paysages Durand SARL", E,
                             _addr("ZA des Grands Champs, 8 rue des Artisans", "35000", "Rennes"),
                             "compta@paysages-durand.example", "48312345600027", "ENT-2"),
                [("Nicolas Durand", "n.durand@paysages-durand.example"),
                 ("Émilie Roche", "e.roche@paysages-durand.example")],
                [(2, "ENT-1", P), (1, "ENT-2", P)]),
        DemoOrg(Organisation("org-beaulieu", "Lycée horticole de Beaulieu", S,
                             _addr("Route de Beaulieu", "86000", "Poitiers"),
                             "intendance@lycee-beaulieu.example", "19860012300011", "ENS-1", public_buyer=True,
                             buyer_requirement=PublicBuyerRequirement.SERVICE_CODE, service_code="INTENDANCE"),
                [("Isabelle Roux", "i.roux@lycee-beaulieu.example"),
                 ("Paul Mercier", "p.mercier@lycee-beaulieu.example")],
                [(2, "ENS-1", P), (1, "ENS-1", P), (0, "ENS-1", P)]),
        DemoOrg(Organisation("org-federation", "Fédération régionale des paysagistes", F,
                             _addr("3 quai des Arts", "69002", "Lyon"),
                             "tresorerie@frp.example", "77567812300014", "FED-1"),
                [("Hélène Vidal", "h.vidal@frp.example")],
                [(1, "FED-1", P), (0, "FED-1", P)]),
        DemoOrg(Organisation("org-grand-port", "Ville de Grand-Port", C,
                             _addr("Place du Général de Gaulle", "76600", "Grand-Port"),
                             "finances@grand-port.example", "21760351200017", "COL-5", public_buyer=True,
                             service_code="PARCS", buyer_requirement=PublicBuyerRequirement.SERVICE_CODE),
                [("Laurent Fabre", "l.fabre@grand-port.example"),
                 ("Nadia Chevalier", "n.chevalier@grand-port.example")],
                [(2, "COL-5", P), (1, "COL-5", MembershipStatus.CANCELLED), (0, "COL-5", P)]),
    ]


STAFF = ("Camille Martin", "equipe@cite-verte.example")


def demo_association() -> AssociationSettings:
    return AssociationSettings(
        name="Cité Verte",
        address=Address("10 rue des Jardins", "49000", "Angers"),
        siret="44112233400027",
        contact_email="adherents@cite-verte.example",
        contact_phone="02 00 00 00 00",
        contact_person="Camille Martin, assistante administrative",
        staff_notification_email="equipe@cite-verte.example",
        website="https://www.cite-verte.example",
        iban="FR76 3000 4000 0500 0012 3456 789",
        bic="BNPAFRPPXXX",
    )


def load_demo_data(rt: Runtime) -> list[tuple[str, str, str]]:
    """Load everything; return the demo logins as (who, email, organisation or role)."""
    rt.settings.save_association(demo_association())
    rt.forget_cached_settings()
    year = rt.today().year
    for grid_year, factor in ((year - 2, Decimal("0.94")), (year - 1, Decimal("0.97")),
                              (year, Decimal("1")), (year + 1, Decimal("1.03"))):
        for rank, (code, category, label, amount) in enumerate(TIERS):
            value = (Decimal(amount) * factor).quantize(Decimal("1"))
            rt.tariffs.save_tier(grid_year, Tier(code, category, label, value, rank))
    password_hash = rt.hasher.hash(DEMO_PASSWORD)
    logins = []
    for demo in demo_organisations():
        rt.organisations.add(demo.org)
        for name, email in demo.contacts:
            rt.contacts.add(Contact(rt.id_factory(), email, name, Role.CONTACT, demo.org.org_id, password_hash))
            logins.append((name, email, demo.org.name))
        for years_ago, tier_code, status in demo.history:
            grid = rt.tariffs.grid(year - years_ago)
            tier = grid.tier(tier_code)
            rt.memberships.save(Membership(demo.org.org_id, year - years_ago, tier.code, tier.label,
                                           tier.amount, status))
    rt.contacts.add(Contact(rt.id_factory(), STAFF[1], STAFF[0], Role.STAFF, None, password_hash))
    logins.append((STAFF[0], STAFF[1], "équipe (administration)"))
    return logins
