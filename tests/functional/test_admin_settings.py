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


# --- four sections, each saved on its own ----------------------------------------------------


def test_the_page_has_four_sections_with_a_table_of_contents(browser):
    browser.login(STAFF)
    html = browser.get("/admin/parametres").body.decode()
    for key, title in (("identite", "Identité de l&#39;association"), ("facturation", "Facturation"),
                       ("campagne", "Campagne de renouvellement"), ("limites", "Limites techniques")):
        assert f'<a href="#{key}">{title}</a>' in html
        assert f'<section class="card" id="{key}"' in html and f'name="section" value="{key}"' in html
    assert html.count('<form method="post" action="/admin/parametres"') == 4
    identity = html[html.index('id="identite"'):html.index('id="facturation"')]
    assert 'name="contact_email"' in identity and 'name="address_city"' in identity and 'name="iban"' not in identity
    billing = html[html.index('id="facturation"'):html.index('id="campagne"')]
    assert 'name="iban"' in billing and 'name="method_virement"' in billing and 'name="invoice_due_days"' in billing
    campaign = html[html.index('id="campagne"'):html.index('id="limites"')]
    assert 'name="campaign_opening"' in campaign and 'name="reminder_po_days"' in campaign
    assert 'name="ses_max_per_second"' not in campaign
    assert 'name="ses_max_per_second"' in html[html.index('id="limites"'):]


def _section_form(html: str, key: str) -> dict[str, str]:
    """What the browser would post from one section's form, as shown."""
    start = html.index(f'<section class="card" id="{key}"')
    part = html[start:html.index("</section>", start)]
    values = dict(re.findall(r'name="([a-z_0-9]+)" type="(?:text|email|tel|url|hidden)" value="([^"]*)"', part))
    values.update(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', part))
    values.update({name: "1" for name in re.findall(r'name="(method_[a-z_]+)" type="checkbox" value="1" checked', part)})
    for name, body in re.findall(r'<textarea id="f-[^"]+" name="([a-z_]+)"[^>]*>([^<]*)</textarea>', part):
        values[name] = body
    for name, chosen in re.findall(r'<select id="f-[^"]+" name="([a-z_]+)".*?<option value="([^"]*)" selected', part, re.S):
        values[name] = chosen
    return {k: unescape(v) for k, v in values.items()}


def test_each_section_saved_on_its_own_keeps_the_others(browser, rt):
    browser.login(STAFF)
    before = rt.settings.association()
    html = browser.get("/admin/parametres").body.decode()
    response = browser.post("/admin/parametres", {**_section_form(html, "campagne"), "reminder_po_days": "21"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/parametres?fait=parametres#campagne"
    after = rt.settings.association()
    assert after.reminder_po_days == 21
    assert after.payment_methods == before.payment_methods and after.iban == before.iban
    assert after.address == before.address and after.name == before.name
    assert after.ses_max_per_second == before.ses_max_per_second

    html = browser.get("/admin/parametres").body.decode()
    response = browser.post("/admin/parametres", {**_section_form(html, "identite"), "contact_phone": "02 41 00 00 09"})
    assert response.status_code == 303
    after = rt.settings.association()
    assert after.contact_phone == "02 41 00 00 09" and after.reminder_po_days == 21
    assert after.payment_methods == before.payment_methods and after.vat_regime == before.vat_regime

    html = browser.get("/admin/parametres").body.decode()
    billing = _section_form(html, "facturation")
    assert billing["method_virement"] == "1"
    billing.pop("method_cheque", None)
    response = browser.post("/admin/parametres", {**billing, "invoice_due_days": "45"})
    assert response.status_code == 303
    after = rt.settings.association()
    assert after.invoice_due_days == 45 and "cheque" not in after.payment_methods
    assert after.contact_phone == "02 41 00 00 09" and after.reminder_po_days == 21

    html = browser.get("/admin/parametres").body.decode()
    response = browser.post("/admin/parametres", {**_section_form(html, "limites"), "campaign_chunk_size": "50"})
    assert response.status_code == 303
    after = rt.settings.association()
    assert after.campaign_chunk_size == 50 and after.invoice_due_days == 45 and after.contact_phone == "02 41 00 00 09"


def test_a_section_with_an_error_shows_it_and_the_other_sections_keep_their_saved_values(browser, rt):
    browser.login(STAFF)
    html = browser.get("/admin/parametres").body.decode()
    response = browser.post("/admin/parametres", {**_section_form(html, "facturation"), "invoice_due_days": "x"})
    assert response.status_code == 400
    page = response.body.decode()
    assert 'href="#f-invoice_due_days"' in page and 'id="f-invoice_due_days-error"' in page
    assert _section_form(page, "identite")["contact_email"] == rt.settings.association().contact_email
    assert _section_form(page, "campagne")["campaign_opening"] == "12-01"
    assert _section_form(page, "facturation")["invoice_due_days"] == "x"  # as typed
    response = browser.post("/admin/parametres",
                            {"section": "nulle-part", "version": _section_form(html, "campagne")["version"]})
    assert response.status_code == 400 and "Cette partie des paramètres n&#39;existe pas" in response.body.decode()


def test_saving_one_section_never_reads_the_fields_of_another(rt, staff):
    form = admin_settings.settings_form(rt)
    # A forged post of the campaign section carrying another section's field changes nothing there
    admin_settings.save_settings(rt, staff, {**form.values, "version": str(form.version), "section": "campagne",
                                             "reminder_po_days": "30", "iban": "", "name": ""})
    saved = rt.settings.association()
    assert saved.reminder_po_days == 30 and saved.name == "Cité Verte" and saved.iban
