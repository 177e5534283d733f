"""DynamoContacts keeps emails unique with a guard item written in the same transaction."""
from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.adapters.dynamo.contact_emails import ContactEmailTable
from chalicelib.adapters.dynamo.repositories import DynamoContacts
from chalicelib.adapters.dynamo.tables import ContactTable
from chalicelib.domain.errors import AlreadyExists, ConcurrentUpdate
from chalicelib.domain.model import Contact, Role


@pytest.fixture
def contacts(aws):
    return DynamoContacts()


def guards() -> dict[str, str]:
    return {g.email: g.contact_id for g in ContactEmailTable.scan()}


def test_adding_a_contact_writes_its_guard(contacts):
    contacts.add(Contact("c1", "Marie@Exemple.fr", "Marie", Role.CONTACT, "o1"))
    assert guards() == {"marie@exemple.fr": "c1"}


def test_a_second_contact_with_the_same_email_is_refused_and_nothing_is_written(contacts):
    contacts.add(Contact("c1", "marie@exemple.fr", "Marie", Role.CONTACT, "o1"))
    with pytest.raises(AlreadyExists, match="adresse e-mail"):
        contacts.add(Contact("c2", "MARIE@exemple.fr ", "Autre", Role.CONTACT, "o2"))
    assert [i.contact_id for i in ContactTable.scan()] == ["c1"]


def test_changing_an_email_moves_the_guard(contacts):
    before = Contact("c1", "a@exemple.fr", "A", Role.CONTACT, "o1", password_hash="hash")
    contacts.add(before)
    contacts.update(before, replace(before, email="b@exemple.fr", name="B"))
    assert guards() == {"b@exemple.fr": "c1"}
    saved = contacts.get("c1")
    assert (saved.email, saved.name, saved.password_hash) == ("b@exemple.fr", "B", "hash")
    contacts.add(Contact("c2", "a@exemple.fr", "Nouveau", Role.CONTACT, "o1"))  # the old address is free again


def test_moving_to_a_taken_email_is_refused_and_nothing_changes(contacts):
    a = Contact("c1", "a@exemple.fr", "A", Role.CONTACT, "o1")
    contacts.add(a)
    contacts.add(Contact("c2", "b@exemple.fr", "B", Role.CONTACT, "o1"))
    with pytest.raises(AlreadyExists):
        contacts.update(a, replace(a, email="b@exemple.fr"))
    assert contacts.get("c1").email == "a@exemple.fr"
    assert guards() == {"a@exemple.fr": "c1", "b@exemple.fr": "c2"}


def test_an_update_based_on_a_stale_email_is_refused(contacts):
    a = Contact("c1", "a@exemple.fr", "A", Role.CONTACT, "o1")
    contacts.add(a)
    contacts.update(a, replace(a, email="b@exemple.fr"))
    with pytest.raises(ConcurrentUpdate):
        contacts.update(a, replace(a, name="Stale"))


def test_a_contact_without_guard_gets_one_when_its_email_changes(contacts):
    ContactTable("old", email="old@exemple.fr", name="Old", role="contact", org_id="o1").save()
    old = contacts.get("old")
    contacts.update(old, replace(old, email="new@exemple.fr"))
    assert guards() == {"new@exemple.fr": "old"}


def test_role_change_to_staff_removes_the_organisation(contacts):
    a = Contact("c1", "a@exemple.fr", "A", Role.CONTACT, "o1")
    contacts.add(a)
    contacts.update(a, replace(a, role=Role.STAFF, org_id=None))
    saved = contacts.get("c1")
    assert saved.role is Role.STAFF and saved.org_id is None
    assert contacts.for_organisation("o1") == []
