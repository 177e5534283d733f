"""Demo data: an association, tariff grids, members with history (``load_demo_data``, the
tests' fixture), and for ``make run`` (``load_demo``) renewal requests around the season open
on the app's today, whatever the day: one organisation still to renew, one request awaiting
its purchase order, one invoiced, one paid, and the last two seasons for the dashboard."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from ..domain.association import AssociationSettings
from ..domain.campaign import campaign_season
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
from ..domain.renewal import initial_state
from ..domain.renewal_request import BillingDetails, HistoryEntry, RenewalRequest
from ..domain.season import CampaignOpening, campaign_opens_on
from ..domain.second_factor import recovery_hash
from ..runtime import PARIS, Runtime

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


GRID_FACTORS = {-2: Decimal("0.94"), -1: Decimal("0.97"), 0: Decimal("1"), 1: Decimal("1.03")}


def tier_amount(code: str, years_after_base: int) -> Decimal:
    """A tier's amount in the demo grid of ``base year + years_after_base`` (-2 … +1)."""
    amount = next(Decimal(a) for c, _, _, a in TIERS if c == code)
    return (amount * GRID_FACTORS[years_after_base]).quantize(Decimal("1"))


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
# The demo staff account comes with its second factor enrolled: add this key to an authenticator
# app, or read the current code on the local tasks page (/_dev/taches). Demo data only.
DEMO_TOTP_SECRET = "DEMOADHESIONSCITEVERTEJBSWY3DPEH"
DEMO_RECOVERY_CODES = ("DEMO1-AAAAA", "DEMO2-BBBBB", "DEMO3-CCCCC")


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


def load_demo_data(rt: Runtime, base_year: int | None = None) -> list[tuple[str, str, str]]:
    """Load everything; return the demo logins as (who, email, organisation or role).

    ``base_year`` is the year of the most recent memberships ("0 years ago", default: the
    calendar year); its grid is ``TIERS``, the years around it 3 % apart.
    """
    rt.settings.save_association(demo_association())
    _ = rt.document_id_key  # made once, as infra/bootstrap.py does on a deployed stage
    rt.forget_cached_settings()
    year = rt.today().year if base_year is None else base_year
    for grid_year in range(year - 2, year + 2):
        for rank, (code, category, label, _) in enumerate(TIERS):
            rt.tariffs.save_tier(grid_year, Tier(code, category, label, tier_amount(code, grid_year - year), rank))
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
    staff = Contact(rt.id_factory(), STAFF[1], STAFF[0], Role.STAFF, None, password_hash)
    rt.contacts.add(staff)
    rt.contacts.start_second_factor(staff.contact_id, DEMO_TOTP_SECRET)
    rt.contacts.confirm_second_factor(staff.contact_id, DEMO_TOTP_SECRET, 0,
                                      {recovery_hash(c) for c in DEMO_RECOVERY_CODES}, rt.clock())
    logins.append((STAFF[0], STAFF[1], "équipe (administration)"))
    return logins


# Renewal requests of the two seasons before the open one: (organisation, seasons before the
# last one, days after the campaign opened, days until paid — or None: cancelled after 40
# days). Montclair and Saint-Aubin, whose contacts the browser tests log in with, have none:
# their memberships were recorded directly, which the dashboard shows apart.
DEMO_REQUESTS = [
    ("org-val-fleuri", 1, 2, 30), ("org-durand", 1, 9, 45), ("org-beaulieu", 1, 38, 60),
    ("org-federation", 1, 50, 30), ("org-grand-port", 1, 66, None),
    ("org-val-fleuri", 0, 1, 25), ("org-beaulieu", 0, 14, 40), ("org-federation", 0, 21, 30),
    ("org-grand-port", 0, 45, 50),
]


def open_season(rt: Runtime) -> int:
    """The membership year whose renewals are open on the app's today (demo settings)."""
    return campaign_season(rt.today(), CampaignOpening.parse(demo_association().campaign_opening))


def load_demo(rt: Runtime) -> list[tuple[str, str, str]]:
    """What ``make run`` shows, built around the season open on the app's today.

    Everyone's last membership is the season before; Paysages Durand's is two seasons back
    (it renews the open season, whatever the day). The open season has three requests made
    through the app's own services: Ville de Grand-Port's awaits its purchase order, the
    Val Fleuri's is invoiced, the Fédération's is paid (invoice, payment, certificate).
    """
    # The demo's requests follow each other on a clock of their own: their tasks (invoice,
    # emails) are done at once, not left to the queue's consumer.
    rt = dataclasses.replace(rt, config=dataclasses.replace(rt.config, tasks_inline=True))
    season = open_season(rt)
    logins = load_demo_data(rt, base_year=season - 1)
    load_demo_requests(rt, season - 1)
    load_open_season_requests(rt, season)
    return logins


def load_demo_requests(rt: Runtime, last_season: int | None = None) -> int:
    """Add the renewal requests of ``last_season`` and the one before (after ``load_demo_data``;
    default: the calendar year); return how many were stored.

    Requests are dated from each campaign's opening, and a step that would lie in the future
    is left out. Paid requests carry no invoice: these seasons issue no documents.
    """
    now = rt.clock()
    year = rt.today().year if last_season is None else last_season
    opening = CampaignOpening.parse(rt.association().campaign_opening)
    staff = rt.contacts.find_by_email(STAFF[1])
    stored = 0
    for org_id, seasons_ago, after_days, paid_after in DEMO_REQUESTS:
        season = year - seasons_ago
        opens = campaign_opens_on(season, opening) + timedelta(days=after_days)
        submitted = datetime.combine(opens, time(10, 15), PARIS)
        if submitted > now:
            continue
        org = rt.organisations.get(org_id)
        contact = rt.contacts.for_organisation(org_id)[0]
        membership = next(m for m in rt.memberships.for_organisation(org_id) if m.year in (season, season - 1))
        tier = rt.tariffs.grid(season).tier(membership.tier_code)
        state = initial_state(False, False, False)
        request = RenewalRequest(
            org_id=org_id, year=season, attempt=1, state=state, submitted_at=submitted,
            submitted_by=contact.contact_id, submitted_by_name=contact.name, organisation_name=org.name,
            category=org.category, public_buyer=org.public_buyer, billing=BillingDetails.of(org),
            tier_code=tier.code, tier_label=tier.label, amount=tier.amount, offered_tier_code=tier.code,
            payment_method="virement", updated_at=submitted,
            history=(HistoryEntry(submitted, "submitted", contact.contact_id, state),),
        )
        if paid_after is None:
            if submitted + timedelta(days=40) <= now:
                request = request.cancelled(submitted + timedelta(days=40), staff.contact_id,
                                            "Adhésion non reconduite cette année.")
        else:
            request = request.with_invoice("", submitted + timedelta(minutes=1))
            if submitted + timedelta(days=paid_after) <= now:
                request = request.paid(submitted + timedelta(days=paid_after), staff.contact_id)
        rt.renewals.add(request)
        stored += 1
    return stored


def load_open_season_requests(rt: Runtime, season: int) -> None:
    """Grand-Port awaits its purchase order, Val Fleuri is invoiced, the Fédération is paid.

    Each step runs through the services, on a clock set between the campaign's opening and
    now, so the requests, documents, emails and journal are what the app itself makes.
    """
    from ..services.payments import record_payment
    from ..services.renewal import start_renewal, submit_renewal_request

    opening = CampaignOpening.parse(rt.association().campaign_opening)
    opened = datetime.combine(campaign_opens_on(season, opening), time(0, 0), PARIS)
    elapsed = rt.clock() - opened
    staff = rt.contacts.find_by_email(STAFF[1])
    plan = [("org-grand-port", "mandat_administratif", "yes", ""),
            ("org-val-fleuri", "mandat_administratif", "no", f"ENG-{season}-0042"),
            ("org-federation", "virement", "no", "")]
    for step, (org_id, method, wait, po_number) in enumerate(plan, start=1):
        at = opened + elapsed * step / (len(plan) + 1)
        then = dataclasses.replace(rt, clock=lambda at=at: at)
        contact = rt.contacts.for_organisation(org_id)[0]
        offer = start_renewal(then, org_id, contact.contact_id)
        answers = dataclasses.asdict(offer.form) | {
            "payment_method": method, "wait_for_purchase_order": wait, "purchase_order_number": po_number}
        request = submit_renewal_request(then, org_id, contact.contact_id, answers).request
        if org_id == "org-federation":
            record_payment(then, org_id, season, recorded_by=staff.contact_id, fields={
                "amount": str(request.amount).replace(".", ","), "paid_on": at.astimezone(PARIS).strftime("%d/%m/%Y"),
                "method": "virement", "reference": f"VIR FRP {season}"})
