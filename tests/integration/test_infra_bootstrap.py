"""infra/bootstrap.py: a new stage gets the association's identity and an invited first staff member."""
from __future__ import annotations

from infra.bootstrap import bootstrap
from tests.conftest import sent_emails

IDENTITY = {"name": "Cité Verte", "siret": "12345678900012", "address": "12 rue des Tilleuls",
            "postcode": "49000", "city": "Angers", "contact_email": "adherents@cite-verte.example",
            "contact_phone": "02 00 00 00 00"}


def test_a_new_stage_gets_its_settings_and_an_invitation_for_its_first_staff_member(rt):
    # Given a freshly deployed stage: empty tables
    # When it is bootstrapped
    done = bootstrap(rt, IDENTITY, "Camille Martin", "camille.martin@cite-verte.example")
    # Then the association's identity is stored and the staff member is invited by email
    settings = rt.settings.association()
    assert settings.name == "Cité Verte" and settings.contact_email == "adherents@cite-verte.example"
    staff = rt.contacts.find_by_email("camille.martin@cite-verte.example")
    assert staff.role.value == "staff" and not staff.password_hash
    invitation = next(m for m in sent_emails() if "camille.martin@cite-verte.example" in m.recipients)
    assert f"{rt.config.base_url}/mot-de-passe/nouveau" in invitation.text
    assert done[0] == "association settings saved"
    assert done[1] == "document id key present" and len(rt.settings.document_id_key("unused")) == 64


def test_bootstrapping_again_changes_nothing(rt):
    bootstrap(rt, IDENTITY, "Camille Martin", "camille.martin@cite-verte.example")
    # When someone runs it a second time, with other values
    done = bootstrap(rt, {**IDENTITY, "name": "Autre"}, "Camille Martin", "camille.martin@cite-verte.example")
    # Then the settings and the account are left as they were
    assert rt.settings.association().name == "Cité Verte"
    assert done[0].startswith("association settings already present")
    assert done[2].startswith("staff account not created")
    assert len([m for m in sent_emails() if "camille.martin@cite-verte.example" in m.recipients]) == 1
