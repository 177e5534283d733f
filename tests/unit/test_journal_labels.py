"""The journal's French wording: every recorded action, field and value, and the fallbacks."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from chalicelib.domain import journal_labels as labels
from chalicelib.domain.audit import MASK, redact

ROOT = Path(__file__).resolve().parents[2]
RAW = re.compile(r"\b[a-z]+_[a-z_]+\b")  # a snake_case key or enum value left untranslated


def recorded_actions() -> set[str]:
    """Every action passed to ``record(…)`` or ``event(…)`` (an event written with its change) in the
    code, literal or through a helper."""
    found = set()
    for path in (ROOT / "chalicelib").rglob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r'\b(?:record|event)\(\s*(?:rt|ctx\.rt), "([a-z_.]+)"', text))
        found |= set(re.findall(r'_save_contact\(rt, actor, "([a-z_.]+)"', text))
        found |= set(re.findall(r'"((?:organisation|contact)\.(?:enabled|disabled))"', text))
    return found


def test_every_recorded_action_has_a_french_label():
    actions = recorded_actions()
    assert {"renewal.submitted", "chorus.status", "second_factor.reset", "contact.disabled"} <= actions
    missing = sorted(a for a in actions if a not in labels.ACTION_LABELS)
    assert not missing, missing
    assert labels.action_label("renewal.submitted") == "Demande d'adhésion enregistrée"


def test_unknown_actions_get_a_french_fallback():
    assert labels.action_label("renewal.reopened") == "Demande d'adhésion : autre action (reopened)"
    assert labels.action_label("contact") == "Contact"
    assert labels.action_label("frobnicate.now") == "Autre action (frobnicate.now)"
    assert labels.action_label("") == "Action non précisée"


def test_filter_choices_cover_every_label_sorted():
    choices = labels.action_choices()
    assert dict(choices) == dict(labels.ACTION_LABELS)
    assert [label for _, label in choices] == sorted(label for _, label in choices)


def test_actors_by_name_or_as_automatic_processes():
    names = {"c-1": "Camille Martin (equipe@cite-verte.example)"}
    assert labels.actor_label("c-1", names) == "Camille Martin (equipe@cite-verte.example)"
    assert labels.actor_label("system", names) == "Traitement automatique"
    assert labels.actor_label("chorus-pro", names) == "Chorus Pro"
    assert labels.actor_label("anonyme", names) == "Visiteur non connecté"
    assert labels.actor_label("typed@ailleurs.example", names) == "typed@ailleurs.example"
    assert labels.actor_label("c-unknown", names) == "Compte supprimé"


def test_renewal_fields_and_values_in_french():
    after = {"state": "awaiting_purchase_order", "tier": "COL-2", "requested_tier": "", "payment_method": "virement",
             "wait_for_purchase_order": True, "purchase_order_number": "BC-12"}
    shown = {c.label: c.after for c in labels.changes("renewal.submitted", {}, after)}
    assert shown == {"État de la demande": "En attente du bon de commande", "Tranche": "COL-2",
                     "Tranche demandée": "(vide)", "Mode de paiement": "Virement bancaire",
                     "Attendre le bon de commande": "oui", "N° de bon de commande ou d'engagement": "BC-12"}
    assert all(c.before == "" for c in labels.changes("renewal.submitted", {}, after))


def test_amounts_and_dates_in_french():
    details = dict(labels.details("payment.recorded", {
        "payment_id": "pay-123", "invoice_number": "FAC-2026-00001", "amount": "1234.5", "paid_on": "2026-12-01",
        "method": "mandat_administratif", "reference": "VIR 42"}))
    assert details == {"Facture": "FAC-2026-00001", "Montant": "1\u202f234,50\u00a0€", "Date du paiement": "1er décembre 2026",
                       "Mode de paiement": "Mandat administratif", "Référence du paiement": "VIR 42"}
    [change] = labels.changes("payment.recorded", {"paid_total": "0.00"}, {"paid_total": "300"})
    assert (change.label, change.before, change.after) == ("Total payé", "0,00\u00a0€", "300,00\u00a0€")
    # UTC as stored, Paris time as read (winter: +1 h)
    status = dict(labels.details("chorus.status", {"status": "MISE_EN_PAIEMENT", "at": "2026-12-03T08:30:00+00:00"}))
    assert status == {"Statut Chorus Pro": "Mise en paiement", "Date du statut": "3 décembre 2026 à 09:30"}
    assert labels.format_value("x.y", "when", datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc)) == "1er juillet 2026 à 12:00"


def test_tariff_amounts_by_tier_and_grid_year_not_as_money():
    [c] = labels.changes("tariff.tier_updated", {"amount": "185.00"}, {"amount": "200"})
    assert (c.label, c.before, c.after) == ("Montant", "185,00\u00a0€", "200,00\u00a0€")
    grid = labels.changes("tariff.version_published", {"COL-1": "185.00"}, {"COL-1": "190.00", "ENT-1": "400"})
    assert [(c.label, c.before, c.after) for c in grid] == [("Tranche COL-1", "185,00\u00a0€", "190,00\u00a0€"),
                                                           ("Tranche ENT-1", "", "400,00\u00a0€")]
    assert dict(labels.details("tariff.version_published", {"year": 2027})) == {"Année de la grille": "2027"}
    assert dict(labels.details("tariff.tier_added", {"year": 2027, "version": "draft"}))["Grille modifiée"] == \
        "nouvelle version en préparation"


def test_organisation_and_contact_fields():
    org = labels.changes("organisation.updated", {"category": "entreprise", "buyer_requirement": "none", "public_buyer": "non"},
                         {"category": "collectivite", "buyer_requirement": "both", "public_buyer": "oui"})
    assert [(c.label, c.before, c.after) for c in org] == [
        ("Catégorie", "Entreprise", "Collectivité"),
        ("Exigence de l'acheteur public", "Ni code service ni numéro d'engagement",
         "Code service et numéro d'engagement obligatoires"),
        ("Acheteur public", "non", "oui")]
    [active] = labels.changes("organisation.disabled", {"active": True}, {"active": False})
    assert (active.label, active.before, active.after) == ("Active", "oui", "non")
    names = {"org-a": "Ville de Montclair"}
    role = labels.changes("contact.role_changed", {"role": "staff", "org_id": None}, {"role": "contact", "org_id": "org-a"},
                          names)
    assert [(c.label, c.before, c.after) for c in role] == [
        ("Rôle", "Équipe de l'association", "Contact technique"), ("Structure", "aucune (équipe)", "Ville de Montclair")]


def test_settings_fields_by_their_form_label():
    shown = labels.changes("settings.updated", {"contact_phone": "01", "method_cheque": "1", "campaign_opening": "12-01"},
                           {"contact_phone": "02", "method_cheque": "", "campaign_opening": "11-15"})
    assert [(c.label, c.before, c.after) for c in shown] == [
        ("Téléphone de contact", "01", "02"), ("Mode de paiement proposé : Chèque", "oui", "(vide)"),
        ("Ouverture de la campagne (MM-JJ)", "1er décembre", "15 novembre")]


def test_security_events_reasons_and_masked_secrets():
    assert dict(labels.details("login.failure", {"ip": "203.0.113.9", "reason": "bad_password"})) == {
        "Adresse IP": "203.0.113.9", "Motif du refus": "mot de passe incorrect"}
    assert dict(labels.details("second_factor.success", {"method": "recovery_code", "recovery_codes_left": 9})) == {
        "Moyen utilisé": "code de secours", "Codes de secours restants": "9"}
    masked = redact({"link": "https://x.example/mot-de-passe/nouveau?jeton=abc", "note": "https://s3?X-Amz-Signature=1"})
    assert masked == {"link": MASK, "note": MASK}
    assert dict(labels.details("password.reset_requested", masked)) == {"Lien": "masqué", "Message à la structure": "masqué"}


def test_ids_and_fingerprints_are_never_shown():
    after = {"number": "FAC-2027-00001", "year": 2027, "total": "450.00", "sha256": "ab" * 32, "request_id": "r-1"}
    shown = labels.changes("document.invoice_issued", {}, after)
    assert [(c.label, c.after) for c in shown] == [("Numéro", "FAC-2027-00001"), ("Année", "2027"),
                                                  ("Montant TTC", "450,00\u00a0€")]
    assert labels.details("payment.recorded", {"payment_id": "p-1"}) == []


def test_import_counts_in_words():
    counts = {"organisation": {"create": 2, "update": 1, "unchanged": 0}, "contact": {"create": 0, "update": 0,
                                                                                       "unchanged": 4}}
    assert dict(labels.details("import.checked", {"counts": counts}))["Changements prévus"] == \
        "structures : 2 à créer, 1 à modifier ; contacts : 4 inchangées"


@pytest.mark.parametrize("value", [None, "", True, False, 3, "texte", ["a", "b"], {"k": {"deep": [1, None]}},
                                   "2026-13-45", "2026-02-30T25:00", "not-a-number", MASK])
def test_unknown_fields_and_odd_values_never_crash(value):
    [c] = labels.changes("mystery.action", {}, {"some_new_field": value})
    assert c.label == "Some new field" and isinstance(c.after, str) and c.after
    for key in ("amount", "state", "status", "category", "role", "payment_method", "paid_on", "org_id", "request",
                "counts", "percent", "version"):
        for action in ("payment.recorded", "renewal.submitted", "chorus.status", "contact.updated", "tariff.tier_added",
                       "import.checked", "settings.updated"):
            assert isinstance(labels.format_value(action, key, value), str)


def test_subjects_name_their_object_and_link_to_its_page():
    s = labels.subject("renewal.submitted", "org-a/2027/1", "org-a", "Ville de Montclair")
    assert (s.label, s.href) == ("Demande 2027 de Ville de Montclair", "/admin/demandes/org-a/2027")
    s = labels.subject("membership.paid", "org-a/2027", "org-a", "Ville de Montclair")
    assert s.href == "/admin/demandes/org-a/2027"
    s = labels.subject("document.invoice_issued", "FAC-2027-00003", "org-a", "Ville de Montclair", after={"year": 2027})
    assert (s.label, s.href) == ("Facture FAC-2027-00003 de Ville de Montclair", "/admin/demandes/org-a/2027")
    s = labels.subject("document.credit_note_issued", "AV-2027-00001", "org-a", "Ville de Montclair")
    assert (s.label, s.href) == ("Avoir AV-2027-00001 de Ville de Montclair", "/admin/structures/org-a")
    s = labels.subject("organisation.disabled", "Ville de Montclair", "org-a", "Ville de Montclair")
    assert (s.label, s.href) == ("Ville de Montclair", "/admin/structures/org-a")
    s = labels.subject("contact.email_changed", "c-9", "org-a", "Ville de Montclair", names={"c-9": "Léa Fabre (l@x.example)"})
    assert s.label == "Léa Fabre (l@x.example) (Ville de Montclair)" and "c-9" not in s.label
    s = labels.subject("tariff.tier_updated", "2027 COL-1", None, details_={"year": 2027})
    assert (s.label, s.href) == ("Grille tarifaire 2027, tranche COL-1", "/admin/tarifs/2027")
    s = labels.subject("campaign.started", "campagne 2027", None, details_={"season": 2027})
    assert (s.label, s.href) == ("Campagne de renouvellement 2027", "/admin/campagne")
    assert labels.subject("settings.updated", "association", None).href == "/admin/parametres"
    assert labels.subject("access.denied", "GET /admin/journal", None).label == "Page /admin/journal"
    s = labels.subject("renewal.submitted", "org-gone/2027/1", "org-gone", "")
    assert s.label == "Demande 2027 de structure supprimée"
    assert labels.subject("mystery.thing", "", None).label == "—"


def test_request_reference_in_words():
    assert labels.request_label("org-a/2027/1") == "demande 2027"
    assert labels.request_label("org-a/2027/2") == "demande 2027 (tentative n° 2)"
    assert labels.request_label("garbage") == "demande"


def test_no_label_is_a_raw_key():
    for action, label in labels.ACTION_LABELS.items():
        assert not RAW.search(label), (action, label)
    for key, label in labels._FIELD_LABELS.items():
        assert not RAW.search(label) and label != key, (key, label)


def test_fields_recorded_unchanged_are_left_out():
    shown = labels.changes("tariff.tier_updated", {"code": "COL-1", "amount": "185.00"}, {"code": "COL-1", "amount": "190"})
    assert [c.label for c in shown] == ["Montant"]
