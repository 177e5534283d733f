"""Rules of staff forms: organisations, contacts, tariff tiers and association settings."""
from __future__ import annotations

from dataclasses import fields
from decimal import Decimal

import pytest

from chalicelib.domain.association import AssociationSettings
from chalicelib.domain.errors import ValidationError
from chalicelib.domain.members import check_contact_fields, check_organisation, organisation_values, with_changes
from chalicelib.domain.model import Address, Category, Contact, PublicBuyerRequirement, Role, Tier
from chalicelib.domain.settings_form import check_settings, form_fields, settings_diff, settings_values
from chalicelib.domain.tariffs import add_tier, check_percent, check_tier, remove_tier, revalued

TIERS = {"COL-1": Category.COLLECTIVITE, "ENT-1": Category.ENTREPRISE}
ORG = {"name": "Ville A", "category": "collectivite", "siret": "732 829 320 00074", "address_line1": "2 rue X",
       "postcode": "44000", "city": "Nantes", "invoice_email": "Compta@A.example", "current_tier": "col-1",
       "public_buyer": "oui", "service_code": "", "buyer_requirement": "engagement"}


def test_a_good_organisation_form_gives_a_clean_organisation():
    org = check_organisation(ORG, TIERS, org_id="org-1")
    assert org.siret == "73282932000074" and org.invoice_email == "compta@a.example"
    assert org.current_tier == "COL-1" and org.public_buyer
    assert org.buyer_requirement is PublicBuyerRequirement.ENGAGEMENT
    assert check_organisation(organisation_values(org), TIERS, org_id="org-1") == org


@pytest.mark.parametrize("changes, field", [
    ({"name": ""}, "name"), ({"category": "x"}, "category"), ({"siret": "123"}, "siret"),
    ({"postcode": "4400"}, "postcode"), ({"invoice_email": "nope"}, "invoice_email"),
    ({"current_tier": "ENT-1"}, "current_tier"), ({"current_tier": "ZZZ"}, "current_tier"),
    ({"public_buyer": "", "buyer_requirement": "both"}, "buyer_requirement"),
    ({"buyer_requirement": "service_code"}, "service_code"),
])
def test_bad_organisation_values_are_refused_next_to_their_field(changes, field):
    with pytest.raises(ValidationError) as raised:
        check_organisation({**ORG, **changes}, TIERS, org_id="org-1")
    assert field in raised.value.errors


def test_contact_form_needs_a_name_and_a_valid_email():
    assert check_contact_fields({"name": " Marie ", "email": "M@A.example"}) == ("Marie", "m@a.example")
    with pytest.raises(ValidationError) as raised:
        check_contact_fields({"name": "", "email": "x"})
    assert set(raised.value.errors) == {"name", "email"}


def test_staff_changes_never_touch_the_password():
    contact = Contact("c", "a@b.example", "A", Role.CONTACT, "o", password_hash="$argon2…")
    assert with_changes(contact, name="B").password_hash == "$argon2…"
    with pytest.raises(ValueError):
        with_changes(contact, password_hash="")


def test_tier_form_and_grid_changes():
    tier = check_tier({"code": "col-6", "category": "collectivite", "label": "Métropole", "amount": "2 500", "rank": ""})
    assert tier == Tier("COL-6", Category.COLLECTIVITE, "Métropole", Decimal("2500.00"), 0)
    with pytest.raises(ValidationError) as raised:
        check_tier({"code": "é!", "category": "", "label": "", "amount": "-1"})
    assert set(raised.value.errors) == {"code", "category", "label", "amount"}
    grid = add_tier((), tier)
    with pytest.raises(ValueError, match="existe déjà"):
        add_tier(grid, tier)
    assert remove_tier(grid, "COL-6") == ()


def test_revaluation_rounds_to_the_cent():
    tiers = (Tier("A", Category.ENTREPRISE, "a", Decimal("150.00")), Tier("B", Category.ENTREPRISE, "b", Decimal("99.99")))
    assert [t.amount for t in revalued(tiers, check_percent("2,5"))] == [Decimal("153.75"), Decimal("102.49")]
    assert [t.amount for t in revalued(tiers, check_percent("0"))] == [Decimal("150.00"), Decimal("99.99")]
    with pytest.raises(ValueError):
        check_percent("200")


SETTINGS = AssociationSettings(
    name="Cité Verte", address=Address("10 rue des Jardins", "49000", "Angers"), siret="73282932000074",
    contact_email="adherents@cite-verte.example", contact_phone="02 00 00 00 00",
    staff_notification_email="equipe@cite-verte.example", iban="FR1420041010050500013M02606", bic="BNPAFRPPXXX",
)


def test_settings_form_shows_every_simple_field_of_the_settings():
    shown = {f.name for f in form_fields()}
    simple = {f.name for f in fields(AssociationSettings) if f.name not in ("address", "logo", "extra")}
    assert simple <= shown


def test_settings_round_trip_and_changes():
    values = settings_values(SETTINGS)
    assert values["iban"] == "FR14 2004 1010 0505 0001 3M02 606"
    assert check_settings(values, SETTINGS) == SETTINGS
    changed = check_settings({**values, "campaign_opening": "11-15", "method_cheque": ""}, SETTINGS)
    assert changed.campaign_opening == "11-15" and changed.payment_methods == ("virement", "mandat_administratif")
    assert settings_diff(SETTINGS, changed) == {"campaign_opening": ("12-01", "11-15"), "method_cheque": ("1", "")}


def test_a_french_vat_number_with_its_right_key_is_accepted():
    settings = check_settings({**settings_values(SETTINGS), "vat_regime": "registered", "vat_number": "FR 44 732 829 320"},
                              SETTINGS)
    assert settings.vat_number == "FR44732829320"


@pytest.mark.parametrize("changes, field", [
    ({"iban": "FR1520041010050500013M02606"}, "iban"), ({"siret": "73282932000075"}, "siret"),
    ({"campaign_opening": "02-29"}, "campaign_opening"), ({"campaign_opening": "13-01"}, "campaign_opening"),
    ({"method_virement": "", "method_cheque": "", "method_mandat_administratif": ""}, "payment_methods"),
    ({"quote_validity_days": "0"}, "quote_validity_days"), ({"contact_email": "x"}, "contact_email"),
    ({"vat_regime": "registered", "vat_number": ""}, "vat_number"), ({"vat_regime": "autre"}, "vat_regime"),
    ({"vat_regime": "exempt", "vat_number": ""}, "vat_number"),
    ({"vat_regime": "registered", "vat_number": "FR45732829320"}, "vat_number"),  # wrong key for this SIREN
    ({"bic": "X"}, "bic"), ({"address_postcode": "123"}, "address_postcode"), ({"name": ""}, "name"),
])
def test_bad_settings_are_refused_next_to_their_field(changes, field):
    with pytest.raises(ValidationError) as raised:
        check_settings({**settings_values(SETTINGS), **changes}, SETTINGS)
    assert field in raised.value.errors
