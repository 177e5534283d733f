"""The pure Chorus Pro rules: what the directory's answer allows, and where a deposit stands."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from chalicelib.domain.chorus import (
    BuyerService,
    BuyerStructure,
    Deposit,
    DirectoryAnswer,
    StatusEvent,
    check_buyer,
    counts,
    matches,
    retry_delay,
)
from chalicelib.domain.model import PublicBuyerRequirement as R

T0 = datetime(2027, 1, 5, 23, 30, tzinfo=timezone.utc)
CITY = BuyerStructure("21440987600019", "Ville de Montclair", True, False, True,
                      services=(BuyerService("ESPACES-VERTS", "Espaces verts"),))


def found(structure=CITY):
    return DirectoryAnswer("found", structure.siret, structure)


def test_the_directory_sets_the_requirement_and_spells_the_service_code():
    errors = {}
    assert check_buyer(found(), "espaces-verts", errors, fallback=R.NONE) == ("ESPACES-VERTS", R.ENGAGEMENT)
    assert errors == {}


def test_unknown_inactive_and_foreign_service_are_refused():
    errors = {}
    check_buyer(DirectoryAnswer("unknown", "1"), "", errors, fallback=R.NONE)
    assert "ne figure pas dans l'annuaire" in errors["siret"]
    errors = {}
    check_buyer(found(replace(CITY, active=False)), "", errors, fallback=R.NONE)
    assert "inactive" in errors["siret"]
    errors = {}
    check_buyer(found(), "VOIRIE", errors, fallback=R.NONE)
    assert "ESPACES-VERTS" in errors["service_code"]
    errors = {}
    check_buyer(found(replace(CITY, service_code_required=True)), "", errors, fallback=R.NONE)
    assert "exige un code service" in errors["service_code"]


def test_without_an_answer_staffs_setting_applies():
    errors = {}
    assert check_buyer(DirectoryAnswer("unavailable", "1"), "", errors, fallback=R.BOTH) == ("", R.BOTH)
    assert "code service" in errors["service_code"]
    assert BuyerStructure("1", "S", True, False, False, True).requirement is R.EITHER


def test_retries_back_off_to_six_hours():
    assert [retry_delay(n) for n in (1, 2, 3)] == [timedelta(minutes=5), timedelta(minutes=10), timedelta(minutes=20)]
    assert retry_delay(30) == timedelta(hours=6)


def deposit(**changes):
    return replace(Deposit("FAC-2027-00001", "d1", "invoice", "org", 2027, T0), **changes)


def test_stages_labels_and_filters():
    waiting = deposit()
    failing = deposit(attempts=3, last_error="HTTP 503")
    sent = deposit(flux="F1", deposited_at=T0)
    rejected = deposit(flux="F1", deposited_at=T0, cpp_id=1, status="REJETEE",
                       history=(StatusEvent("REJETEE", T0, "EJ inconnu"),))
    paying = deposit(flux="F1", deposited_at=T0, cpp_id=1, status="MISE_EN_PAIEMENT")
    replaced = replace(rejected, resolved_by="AV-2027-00001")
    assert waiting.staff_label == "À déposer" and not waiting.needs_action
    assert failing.needs_action and matches(failing, "action")
    assert sent.member_label == "Facture déposée sur Chorus Pro le 06/01/2027 — en cours d'intégration"  # Paris date
    assert rejected.needs_action and rejected.final and rejected.reason == "EJ inconnu"
    assert paying.payment_expected and paying.staff_label == "Mise en paiement — paiement attendu"
    assert not replaced.needs_action and "annulée par l'avoir AV-2027-00001" in replaced.member_label
    assert counts([waiting, failing, sent, rejected, paying, replaced]) == {
        "waiting": 1, "in_progress": 1, "action": 2, "payment_expected": 1}
    assert [matches(d, "in_progress") for d in (waiting, sent, paying)] == [False, True, False]


def test_the_history_only_grows():
    d = deposit(history=(StatusEvent("DEPOSEE", T0),))
    later = [StatusEvent("DEPOSEE", T0), StatusEvent("MISE_A_DISPOSITION", T0 + timedelta(minutes=1))]
    assert d.new_events(later) == later[1:]
    assert d.new_events([]) == []
