"""The association settings: edited by staff, checked, saved with optimistic locking."""
from __future__ import annotations

import re
from html import unescape

import pytest

from chalicelib.adapters.dynamo.audit import AuditTable
from chalicelib.domain.errors import ConcurrentUpdate, ValidationError
from chalicelib.services import admin_settings
from tests.functional.conftest import STAFF


@pytest.fixture
def staff(rt, demo):
    return rt.contacts.find_by_email(STAFF).contact_id


def test_save_settings_changes_them_for_every_page_and_audits(rt, staff):
    form = admin_settings.settings_form(rt)
    rt.association()  # cached
    values = {**form.values, "version": str(form.version), "contact_phone": "02 41 00 00 01",
              "campaign_opening": "11-15", "iban": "FR14 2004 1010 0505 0001 3M02 606"}
    saved = admin_settings.save_settings(rt, staff, values)
    assert saved.campaign_opening == "11-15" and saved.iban == "FR1420041010050500013M02606"
    assert rt.association().contact_phone == "02 41 00 00 01"  # cache forgotten
    [event] = [i for i in AuditTable.scan() if i.action == "settings.updated"]
    assert "02 00 00 00 00" in event.data and "02 41 00 00 01" in event.data


def test_a_stale_form_is_refused(rt, staff):
    form = admin_settings.settings_form(rt)
    values = {**form.values, "version": str(form.version)}
    admin_settings.save_settings(rt, staff, {**values, "contact_person": "Quelqu'un d'autre"})
    with pytest.raises(ConcurrentUpdate):
        admin_settings.save_settings(rt, staff, {**values, "contact_phone": "02 41 00 00 02"})
    assert rt.settings.association().contact_phone == "02 00 00 00 00"


def test_bad_values_are_refused_and_nothing_saved(rt, staff):
    form = admin_settings.settings_form(rt)
    with pytest.raises(ValidationError) as raised:
        admin_settings.save_settings(rt, staff, {**form.values, "version": str(form.version),
                                                 "iban": "FR00 1234", "campaign_opening": "31-12"})
    assert {"iban", "campaign_opening"} <= set(raised.value.errors)
    assert rt.settings.association().campaign_opening == "12-01"


def test_settings_page_round_trip(browser, rt):
    browser.login(STAFF)
    html = browser.get("/admin/parametres").body.decode()
    for label in ("Nom de l'association", "IBAN", "Modes de paiement proposés", "Ouverture de la campagne",
                  "Validité des devis", "Échéance des factures", "E-mail de notification de l'équipe"):
        assert label in browser.text()
    values = dict(re.findall(r'<input id="f-[^"]+" name="([a-z_0-9]+)" type="(?:text|email|tel|url)" value="([^"]*)"', html))
    values.update(re.findall(r'name="(version)" value="(\d+)"', html))
    values.update({"vat_regime": "outside_scope", "method_virement": "1", "method_cheque": "1",
                   "vat_wording": "TVA non applicable.", "late_penalty_wording": "Pénalités.",
                   "early_payment_wording": "Pas d'escompte."})
    values = {k: unescape(v) for k, v in values.items()}
    response = browser.post("/admin/parametres", {**values, "quote_validity_days": "45"})
    assert response.status_code == 303, browser.text()[:3000]
    assert rt.settings.association().quote_validity_days == 45
    assert rt.settings.association().payment_methods == ("virement", "cheque")
    response = browser.post("/admin/parametres", {**values, "version": "1", "quote_validity_days": "0"})
    assert response.status_code in (400, 409)
    response = browser.post("/admin/parametres", {**values, "version": str(int(values["version"]) + 1),
                                                  "quote_validity_days": "0", "method_virement": "",
                                                  "method_cheque": ""})
    assert response.status_code == 400
    page = browser.text()
    assert "Choisissez au moins un mode de paiement." in page
    assert 'id="f-quote_validity_days-error"' in response.body.decode()
