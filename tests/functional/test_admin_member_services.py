"""Staff actions on organisations and contacts, one service call each, with their audit trail."""
from __future__ import annotations

import pytest

from chalicelib.adapters.dynamo.audit import AuditTable
from chalicelib.domain.errors import DomainError, NotFound, ValidationError
from chalicelib.domain.members import organisation_values
from chalicelib.domain.model import PublicBuyerRequirement, Role
from chalicelib.local.chorus_standin import UNKNOWN_SIRET
from chalicelib.services import admin_members as members
from tests.conftest import sent_emails

STAFF = "equipe@cite-verte.example"
NEW_ORG = {"name": "Ville de Belleville", "category": "collectivite", "siret": "73282932000074",
           "address_line1": "1 place de la Mairie", "postcode": "44100", "city": "Belleville",
           "invoice_email": "compta@belleville.example", "current_tier": "COL-2", "public_buyer": "oui",
           "service_code": "", "buyer_requirement": "none"}


@pytest.fixture(autouse=True)
def belleville_in_the_directory(chorus):
    """Ville de Belleville, a public buyer, is a structure of the Chorus Pro directory."""
    from chalicelib.local.chorus_standin import Service, Structure

    chorus.add_structure(Structure("73282932000074", "Ville de Belleville", engagement_required=True,
                                   services=[Service("COMPTA", "Comptabilité")]))


@pytest.fixture
def staff(rt, demo):
    return rt.contacts.find_by_email(STAFF).contact_id


def events(action):
    return [i for i in AuditTable.scan() if i.action == action]


def test_list_searches_names_without_accents_filters_and_pages(rt, staff):
    page = members.list_organisations(rt, query="lycee")
    assert [o.name for o in page.items] == ["Lycée horticole de Beaulieu"]
    page = members.list_organisations(rt, category="entreprise")
    assert [o.name for o in page.items] == ["Paysages Durand SARL"]
    assert members.list_organisations(rt, query="21440987600019").items[0].org_id == "org-montclair"
    everything = members.list_organisations(rt)
    assert everything.total == 7 and everything.pages == 1
    names = [o.name for o in everything.items]
    assert names == sorted(names, key=lambda n: n.lower().replace("é", "e"))


def test_list_is_paged(rt, staff, monkeypatch):
    monkeypatch.setattr(members, "PAGE_SIZE", 3)
    page = members.list_organisations(rt, page=3)
    assert (page.page, page.pages, len(page.items)) == (3, 3, 1)
    assert members.list_organisations(rt, page=99).page == 3


def test_create_organisation_records_its_values(rt, staff):
    org = members.create_organisation(rt, staff, NEW_ORG)
    assert rt.organisations.get(org.org_id).name == "Ville de Belleville"
    [event] = events("organisation.created")
    assert event.actor == staff and '"siret": "73282932000074"' in event.data


def test_a_public_buyer_is_checked_in_the_chorus_pro_directory(rt, staff, chorus):
    org = members.create_organisation(rt, staff, {**NEW_ORG, "service_code": "compta"})
    # the directory's requirement, not the form's « none »; the service code as the directory spells it
    assert (org.buyer_requirement, org.service_code) == (PublicBuyerRequirement.ENGAGEMENT, "COMPTA")
    with pytest.raises(ValidationError) as raised:
        members.create_organisation(rt, staff, {**NEW_ORG, "siret": UNKNOWN_SIRET, "name": "Inconnue"})
    assert "ne figure pas dans l'annuaire Chorus Pro" in raised.value.errors["siret"]
    with pytest.raises(ValidationError) as raised:
        members.update_organisation(rt, staff, org.org_id, {**NEW_ORG, "service_code": "VOIRIE"})
    assert "COMPTA" in raised.value.errors["service_code"]
    chorus.fail_next(count=50, status=503, path_contains="/structures/")
    from chalicelib.services.chorus import forget_directory

    forget_directory()  # the directory does not answer, nothing is kept of it: staff's setting stands
    from chalicelib.adapters.dynamo.chorus import ChorusDirectoryTable
    ChorusDirectoryTable("73282932000074").delete()
    org = members.update_organisation(rt, staff, org.org_id, {**NEW_ORG, "buyer_requirement": "les deux",
                                                               "service_code": "VOIRIE"})
    assert (org.buyer_requirement, org.service_code) == (PublicBuyerRequirement.BOTH, "VOIRIE")


def test_create_organisation_refuses_a_siret_already_used(rt, staff):
    members.create_organisation(rt, staff, NEW_ORG)
    with pytest.raises(ValidationError) as raised:
        members.create_organisation(rt, staff, {**NEW_ORG, "name": "Doublon"})
    assert "Ville de Belleville" in raised.value.errors["siret"]


def test_update_organisation_keeps_a_legacy_siret_and_audits_before_after(rt, staff):
    values = organisation_values(rt.organisations.get("org-montclair"))
    members.update_organisation(rt, staff, "org-montclair", {**values, "invoice_email": "Nouvelle@Montclair.example"})
    org = rt.organisations.get("org-montclair")
    assert org.invoice_email == "nouvelle@montclair.example" and org.siret == "21440987600019"
    [event] = events("organisation.updated")
    assert "factures@montclair.example" in event.data and "nouvelle@montclair.example" in event.data


def test_disable_and_enable_organisation(rt, staff):
    members.set_organisation_active(rt, staff, "org-durand", False)
    assert not rt.organisations.get("org-durand").active
    assert "Paysages Durand SARL" not in [o.name for o in members.list_organisations(rt).items]
    rt.clock.advance(seconds=1)  # audit events sort by time; equal times would sort by random id
    members.set_organisation_active(rt, staff, "org-durand", True)
    assert rt.organisations.get("org-durand").active
    assert [e.action for e in sorted(AuditTable.scan(), key=lambda i: i.sort_key)
            if e.action.startswith("organisation.")] == ["organisation.disabled", "organisation.enabled"]


def test_unknown_organisation_is_not_found(rt, staff):
    with pytest.raises(NotFound):
        members.organisation_detail(rt, "org-nope")


def test_add_contact_without_password_and_invite(rt, staff):
    contact = members.add_contact(rt, staff, "org-durand", {"name": "Léa Durand", "email": "Lea@Durand.example"},
                                  receives_notices=False, invite=True)
    stored = rt.contacts.get(contact.contact_id)
    assert stored.password_hash == "" and stored.org_id == "org-durand" and not stored.receives_notices
    [message] = sent_emails()
    assert message.recipients == ("lea@durand.example",)
    assert "Créez votre mot de passe" in message.subject
    assert "/mot-de-passe/nouveau?jeton=" in message.text and "valable 30 minutes" in message.text
    assert events("contact.added") and events("contact.invited")


def test_add_contact_refuses_an_email_already_used_with_a_field_message(rt, staff):
    with pytest.raises(ValidationError) as raised:
        members.add_contact(rt, staff, "org-durand", {"name": "X", "email": "M.Lefevre@montclair.example"})
    assert "existe déjà" in raised.value.errors["email"]


def test_update_contact_changes_login_email(rt, staff):
    contact = rt.contacts.find_by_email("s.garnier@montclair.example")
    members.update_contact(rt, staff, contact.contact_id, {"name": "Sophie Garnier-Roy", "email": "sgr@montclair.example"})
    assert rt.contacts.find_by_email("sgr@montclair.example").name == "Sophie Garnier-Roy"
    with pytest.raises(ValidationError):
        members.update_contact(rt, staff, contact.contact_id, {"name": "S", "email": "m.lefevre@montclair.example"})


def test_deactivate_contact_revokes_sessions_and_reactivate(rt, staff):
    from chalicelib.local.demo import DEMO_PASSWORD
    from chalicelib.services.auth import login, resolve_session

    session = login(rt, "s.garnier@montclair.example", DEMO_PASSWORD)
    contact = session.contact
    members.set_contact_active(rt, staff, contact.contact_id, False)
    assert resolve_session(rt, session.token) is None
    assert not rt.contacts.get(contact.contact_id).active
    members.set_contact_active(rt, staff, contact.contact_id, True)
    assert rt.contacts.get(contact.contact_id).active


def test_staff_cannot_deactivate_or_demote_themselves(rt, staff):
    with pytest.raises(ValidationError, match="formulaire"):
        members.set_contact_active(rt, staff, staff, False)
    with pytest.raises(ValidationError):
        members.change_contact_role(rt, staff, staff, "contact", "org-durand")


def test_notices_flag(rt, staff):
    contact = rt.contacts.find_by_email("a.benali@montclair.example")
    members.set_contact_notices(rt, staff, contact.contact_id, False)
    assert not rt.contacts.get(contact.contact_id).receives_notices
    [event] = events("contact.notices_changed")
    assert '"receives_notices": true' in event.data and '"receives_notices": false' in event.data


def test_role_change_moves_between_organisation_and_team(rt, staff):
    contact = rt.contacts.find_by_email("a.benali@montclair.example")
    members.change_contact_role(rt, staff, contact.contact_id, "staff")
    promoted = rt.contacts.get(contact.contact_id)
    assert promoted.role is Role.STAFF and promoted.org_id is None
    assert contact.contact_id in [c.contact_id for c in members.staff_members(rt)]
    with pytest.raises(ValidationError) as raised:
        members.change_contact_role(rt, staff, contact.contact_id, "contact", "")
    assert "org_id" in raised.value.errors
    members.change_contact_role(rt, staff, contact.contact_id, "contact", "org-durand")
    demoted = rt.contacts.get(contact.contact_id)
    assert demoted.role is Role.CONTACT and demoted.org_id == "org-durand"
    with pytest.raises(ValidationError):
        members.change_contact_role(rt, staff, contact.contact_id, "superuser")


def test_invite_refuses_a_deactivated_contact(rt, staff):
    contact = rt.contacts.find_by_email("a.benali@montclair.example")
    members.set_contact_active(rt, staff, contact.contact_id, False)
    with pytest.raises(ValidationError):
        members.invite_contact(rt, staff, contact.contact_id)
    assert sent_emails() == []


def test_add_staff_member(rt, staff):
    member = members.add_staff_member(rt, staff, {"name": "Alex Petit", "email": "alex@cite-verte.example"}, invite=True)
    assert rt.contacts.get(member.contact_id).role is Role.STAFF
    assert sent_emails()[0].recipients == ("alex@cite-verte.example",)


def test_the_last_active_staff_account_cannot_go(rt, staff):
    other = members.add_staff_member(rt, staff, {"name": "Alex Petit", "email": "alex@cite-verte.example"})
    members.set_contact_active(rt, staff, other.contact_id, False)
    members.set_contact_active(rt, staff, other.contact_id, True)
    members.set_contact_active(rt, other.contact_id, staff, False)  # another staff member may do it
    with pytest.raises(ValidationError, match="formulaire"):
        members.change_contact_role(rt, staff, other.contact_id, "contact", "org-durand")


def test_an_email_change_hands_the_account_over(rt, staff, clock, client):
    """The former holder's session and a reset link mailed to the old address stop working;
    both addresses are told; the journal says so."""
    from chalicelib.local.demo import DEMO_PASSWORD
    from chalicelib.services import auth
    from tests.functional.conftest import Browser

    old, new = "s.garnier@montclair.example", "sgr@montclair.example"
    contact = rt.contacts.find_by_email(old)
    former = Browser(client)
    former.login(old)
    assert former.get("/mon-compte").status_code == 200
    auth.request_password_reset(rt, old)
    [reset_mail] = [m for m in sent_emails() if m.recipients == (old,)]
    token = reset_mail.text.split("/mot-de-passe/nouveau?jeton=")[1].split()[0]
    clock.advance(minutes=1)

    members.update_contact(rt, staff, contact.contact_id, {"name": contact.name, "email": new})

    assert former.get("/mon-compte").status_code in (302, 303)  # the old session is gone: back to login
    with pytest.raises(DomainError):  # the link mailed to the old address is void
        auth.reset_password(rt, token, "Une cabane au fond des bois fleuris", "Une cabane au fond des bois fleuris")
    told = {m.recipients[0] for m in sent_emails() if m.subject.startswith("Adresse de connexion modifiée")}
    assert told == {old, new}
    assert events("contact.email_changed")
    # the account itself works under the new address, with the same password
    assert auth.login(rt, new, DEMO_PASSWORD).contact.contact_id == contact.contact_id
