"""What a contact sees of their organisation: « Mon compte » and « Mes adhésions »."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..domain.errors import Forbidden, NotFound
from ..domain.model import Contact, Membership, Organisation, last_validated
from ..domain.security import Session
from ..runtime import Runtime
from .documents import list_documents
from .renewal import RenewalStatus, renewal_status


@dataclass(frozen=True)
class AccountView:
    organisation: Organisation
    contacts: list[Contact]
    me: Contact | None
    current_tier_label: str


@dataclass(frozen=True)
class OrganisationName:
    """All « Mes adhésions » shows of the organisation itself."""

    org_id: str
    name: str


@dataclass(frozen=True)
class MembershipsView:
    organisation: OrganisationName
    year: int
    current: Membership | None
    last_validated: Membership | None
    history: list[Membership]
    # year → documents (label, url) shown in « Historique des adhésions »
    documents: dict[int, list] = field(default_factory=dict)
    # the season to renew, its request and any other open request (« Renouveler l'adhésion »)
    renewal: RenewalStatus | None = None
    deposits: dict = field(default_factory=dict)  # invoice number → its Chorus Pro deposit (public buyers)


def _member_organisation(rt: Runtime, session: Session) -> Organisation:
    """The session's own organisation: the only one a contact may ever see."""
    if session.org_id is None:
        raise Forbidden()
    org = rt.organisations.get(session.org_id)
    if org is None:
        raise NotFound()
    return org


def account_overview(rt: Runtime, session: Session) -> AccountView:
    org = _member_organisation(rt, session)
    contacts = rt.contacts.for_organisation(org.org_id)
    me = next((c for c in contacts if c.contact_id == session.contact_id), None)
    latest = last_validated(rt.memberships.for_organisation(org.org_id))
    tier_label = latest.tier_label if latest and latest.tier_code == org.current_tier else org.current_tier
    return AccountView(org, contacts, me, tier_label)


def memberships_overview(rt: Runtime, session: Session) -> MembershipsView:
    """« Mes adhésions » in four DynamoDB requests: the session (read before this), then one
    Query each on the organisation's memberships, renewal requests and documents (a public
    buyer with an invoice: a fifth, its Chorus Pro deposits).

    The organisation item is not read: the page shows only the organisation's name, and the
    session carries it from login (``Session.org_name``). A renaming by staff therefore shows
    on this page from the contact's next login (a session lasts 12 hours at most); every
    other page, and every document, reads the organisation itself. Sessions opened before
    ``org_name`` existed have none: the organisation is read then, as before.

    Considered and not chosen: keeping memberships, requests and documents in one table
    partition (one Query, but three repositories and the campaign's bulk reads would move
    to a shared table), and one BatchGetItem (none of the three lists can be read by key).
    """
    if session.org_id is None:
        raise Forbidden()
    org_id = session.org_id
    if session.org_name:
        org = OrganisationName(org_id, session.org_name)
    else:
        full = _member_organisation(rt, session)
        org = OrganisationName(full.org_id, full.name)
    history = rt.memberships.for_organisation(org_id)
    year = rt.today().year
    current = next((m for m in history if m.year == year), None)
    status = renewal_status(rt, org.org_id, history)
    return MembershipsView(org, year, current, last_validated(history), history,
                           documents=list_documents(rt, org_id), renewal=status,
                           deposits=member_deposits(rt, [status.request, *status.other_open] if status else []))


def member_deposits(rt: Runtime, requests) -> dict:
    """The Chorus Pro deposits of a public buyer's invoiced requests: one BatchGetItem, and
    only for a public buyer with an invoice (the other pages keep their four reads)."""
    from . import chorus

    numbers = [r.invoice_number for r in requests if r is not None and r.public_buyer and r.invoice_number]
    return chorus.for_numbers(rt, numbers) if numbers else {}
