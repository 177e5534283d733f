"""The import plan: what a CSV file would create or change, line by line, written nowhere."""
from __future__ import annotations

from decimal import Decimal
from itertools import count

from chalicelib.domain.csv_io import read_csv
from chalicelib.domain.member_import import ExistingState, plan_import
from chalicelib.domain.model import (
    Address,
    Category,
    Contact,
    MembershipStatus,
    Organisation,
    Role,
    Tier,
)

SIRET_A = "73282932000074"
SIRET_B = "21490123400015"  # invalid Luhn, but stored already (grandfathered)
HEADER = ("SIRET;Nom de la structure;Catégorie;Adresse;Code postal;Ville;E-mail de facturation;"
          "Contact : nom;Contact : e-mail;Adhésion : année;Adhésion : tranche;Adhésion : statut\n")
GRID = {2026: {"COL-1": Tier("COL-1", Category.COLLECTIVITE, "Petite commune", Decimal("180.00")),
               "ENT-1": Tier("ENT-1", Category.ENTREPRISE, "TPE", Decimal("150.00"))}}
EXISTING = Organisation("org-b", "Commune B", Category.COLLECTIVITE, Address("1 place", "49000", "Angers"),
                        "mairie@b.example", SIRET_B, "COL-1")


def state(orgs=(), contacts=(), memberships=None) -> ExistingState:
    return ExistingState(tuple(orgs), tuple(contacts), memberships or {}, GRID)


def ids():
    numbers = count(1)
    return lambda: f"new-{next(numbers)}"


def plan(text: str, st: ExistingState):
    return plan_import(read_csv(text.encode()), st, ids())


LINE_A = f"{SIRET_A};Ville A;Collectivité;2 rue X;44000;Nantes;compta@a.example;Marie Dupont;m.dupont@a.example;2026;COL-1;Payée\n"


def test_a_new_organisation_with_contact_and_membership_is_planned_for_creation():
    result = plan(HEADER + LINE_A, state())
    assert not result.has_errors
    assert result.counts() == {"organisation": {"create": 1, "update": 0, "unchanged": 0},
                               "contact": {"create": 1, "update": 0, "unchanged": 0},
                               "membership": {"create": 1, "update": 0, "unchanged": 0}}
    _, org = result.organisations[SIRET_A]
    assert org.name == "Ville A" and org.current_tier == "COL-1"
    _, contact = result.contacts["m.dupont@a.example"]
    assert contact.org_id == org.org_id and contact.role is Role.CONTACT and contact.password_hash == ""
    _, membership = result.memberships[(SIRET_A, 2026)]
    assert membership.amount == Decimal("180.00") and membership.status is MembershipStatus.PAID


def test_importing_what_is_stored_changes_nothing():
    first = plan(HEADER + LINE_A, state())
    (_, org), (_, contact), (_, membership) = (first.organisations[SIRET_A], first.contacts["m.dupont@a.example"],
                                               first.memberships[(SIRET_A, 2026)])
    again = plan(HEADER + LINE_A, state([org], [contact], {org.org_id: (membership,)}))
    assert not again.has_errors
    assert again.writes == 0
    assert all(c.action == "unchanged" for line in again.lines for c in line.changes)


def test_empty_cells_leave_stored_values_and_filled_ones_show_a_diff():
    text = HEADER + f"{SIRET_B};Commune B renommée;;;;;;;;;;\n"
    result = plan(text, state([EXISTING]))
    [line] = result.lines
    [change] = line.changes
    assert change.action == "update"
    assert change.diff == (("Nom", "Commune B", "Commune B renommée"),)
    _, after = result.organisations[SIRET_B]
    assert after.org_id == "org-b" and after.invoice_email == "mairie@b.example"


def test_every_line_error_is_reported_in_french_with_its_column():
    text = HEADER + (
        "123;X;Collectivité;a;44000;b;c@d.example;;;;;\n"                      # bad SIRET
        f"{SIRET_A};;Inconnue;;4400;;pas-un-email;;;;;\n"                      # many bad org fields
        f"{SIRET_B};;;;;;;Jean;jean@;2026;ZZZ;Peut-être\n"                     # bad contact & membership
    )
    result = plan(text, state([EXISTING]))
    errors = {line.line: line.errors for line in result.lines}
    assert "SIRET : Le SIRET doit comporter 14 chiffres" in errors[2][0]
    assert any(e.startswith("Nom de la structure :") for e in errors[3])
    assert any(e.startswith("Catégorie : Catégorie inconnue") for e in errors[3])
    assert any(e.startswith("Code postal :") for e in errors[3])
    assert any(e.startswith("E-mail de facturation :") for e in errors[3])
    assert any(e.startswith("Contact : e-mail :") for e in errors[4])
    assert result.has_errors and result.error_count >= 6


def test_membership_needs_a_tier_of_that_years_grid_and_of_the_category():
    text = HEADER + f"{SIRET_B};;;;;;;;;2026;ENT-1;Payée\n" + f"{SIRET_B};;;;;;;;;2025;COL-1;Payée\n"
    result = plan(text, state([EXISTING]))
    assert "n'est pas une tranche de la catégorie" in result.lines[0].errors[0]
    assert "n'existe pas dans la grille tarifaire 2025" in result.lines[1].errors[0]


def test_a_contact_of_another_organisation_or_of_the_team_is_refused():
    other = Contact("c1", "x@b.example", "X", Role.CONTACT, "org-other")
    staff = Contact("c2", "team@b.example", "T", Role.STAFF, None)
    text = HEADER + f"{SIRET_B};;;;;;;X;x@b.example;;;\n{SIRET_B};;;;;;;T;TEAM@b.example;;;\n"
    result = plan(text, state([EXISTING], [other, staff]))
    assert "autre structure" in result.lines[0].errors[0]
    assert "équipe" in result.lines[1].errors[0]


def test_several_lines_of_one_organisation_must_agree():
    text = HEADER + LINE_A + f"{SIRET_A};;;;;;;Paul;p@a.example;;;\n" + f"{SIRET_A};Autre nom;;;;;;;;;;\n"
    result = plan(text, state())
    assert not result.lines[1].errors
    assert result.counts()["contact"]["create"] == 2
    assert "diffèrent de la ligne 2" in result.lines[2].errors[0]


def test_missing_siret_column_is_a_file_error():
    result = plan("Nom;Ville\nA;B\n", state())
    assert result.file_errors and "SIRET" in result.file_errors[0]


def test_unknown_columns_are_ignored_with_a_warning():
    result = plan("SIRET;Couleur préférée\n" + SIRET_B + ";vert\n", state([EXISTING]))
    assert "couleur_preferee" in result.warnings[0]
    assert not result.has_errors
