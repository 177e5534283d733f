"""Public buyers: the renewal form checks the buyer in the Chorus Pro directory; every invoice
and credit note is deposited (the stored Factur-X PDF, exactly once, also after a lost answer)
and followed to « Mise en paiement »; a rejection alerts staff and is corrected through a
credit note and a new invoice. Against the local Chorus Pro stand-in, as ``make run`` does."""
from __future__ import annotations

import hashlib

from chalicelib.domain.model import PublicBuyerRequirement
from chalicelib.local.chorus_standin import INACTIVE_SIRET, UNKNOWN_SIRET, Service, Structure
from chalicelib.services import chorus as chorus_service
from tests.conftest import at_once, sent_emails
from tests.functional.conftest import MEMBER, STAFF, Browser
from tests.functional.renewal_support import FORM, MEMBERSHIPS, answers, field_error, plain

MONTCLAIR = "org-montclair"
SIRET = "21440987600019"
BILLING = "factures@montclair.example"
STAFF_INBOX = "equipe@cite-verte.example"



def submit(browser, **overrides):
    browser.login(MEMBER)
    browser.get(FORM)
    return browser.post(FORM, answers(**{"wait_for_purchase_order": "no", "purchase_order_number": "EJ-2027-0042",
                                         **overrides}))


def request_of(rt):
    return rt.renewals.latest(MONTCLAIR, 2027)


def deposit_of(rt, number=None):
    return rt.chorus_deposits.get(number or request_of(rt).invoice_number)


def platform_invoices(chorus, number):
    return [i for i in chorus.invoices() if i["number"] == number]


def to(address):
    return [m for m in sent_emails() if address in m.recipients]


# --- the seed walk of a commune, to « Mise en paiement » -----------------------------------


def test_the_invoice_is_deposited_as_stored_and_followed_to_payment(browser, campaign_open, rt, chorus, client):
    response = submit(browser)
    assert response.status_code == 303, browser.text()[:1500]
    request = request_of(rt)
    stored = rt.documents.by_number(request.invoice_number)
    deposit = deposit_of(rt)
    assert deposit.flux and deposit.cpp_id and deposit.status == "MISE_A_DISPOSITION"
    [on_platform] = platform_invoices(chorus, stored.number)
    assert on_platform["buyer_siret"] == SIRET and on_platform["engagement"] == "EJ-2027-0042"
    assert on_platform["service_code"] == "ESPACES-VERTS"
    deposited = next(body for path, body in chorus.requests if path.endswith("/deposer/flux"))
    import base64
    assert hashlib.sha256(base64.b64decode(deposited["fichierFlux"])).hexdigest() == stored.sha256  # never re-rendered
    # the commune's accountant takes it on Chorus Pro: no email to the billing address
    assert not [m for m in to(BILLING) if stored.number in m.subject]
    notices = [m for m in sent_emails() if "Votre facture est disponible" in m.subject]
    assert notices and all("Chorus Pro" in m.text for m in notices)

    browser.get(MEMBERSHIPS)
    text = plain(browser.text())
    assert f"Facture déposée sur Chorus Pro le {campaign_open.now:%d/%m/%Y} — transmise à vos services" in text
    # « Historique des adhésions » speaks as the card does (no « Adhésion non encore enregistrée »)
    assert "Demande facturée : l'adhésion sera enregistrée à réception du paiement" in text

    for status in ("SERVICE_FAIT", "MANDATEE", "MISE_EN_PAIEMENT"):
        campaign_open.advance(days=2)
        chorus.move(stored.number, status)
    done = chorus_service.follow(rt)
    assert done["moved"] == 1
    deposit = deposit_of(rt)
    assert deposit.payment_expected and deposit.final
    assert [e.status for e in deposit.history] == ["DEPOSEE", "MISE_A_DISPOSITION", "SERVICE_FAIT", "MANDATEE",
                                                  "MISE_EN_PAIEMENT"]
    assert chorus_service.follow(rt) == {"deposited": 0, "moved": 0, "failed": 0}  # final: no longer polled

    browser.login(MEMBER)  # days went by: a new session
    browser.get(MEMBERSHIPS)
    assert "— mise en paiement" in plain(browser.text())
    staff = Browser(client, rt)
    staff.login(STAFF)
    staff.get(f"/admin/demandes/{MONTCLAIR}/2027")
    page = plain(staff.text())
    assert "Mise en paiement — paiement attendu" in page and deposit.flux in page
    staff.get("/admin/demandes?annee=2027&chorus=payment_expected")
    assert "Ville de Montclair" in staff.text() and "Chorus Pro : mise en paiement : 1" in plain(staff.text())
    staff.get("/admin/tableau-de-bord?annee=2027")
    assert "Mises en paiement (paiement attendu) : 1" in plain(staff.text())


# --- the directory in the renewal form ----------------------------------------------------


def test_the_form_shows_the_structure_and_its_services_from_the_directory(browser, campaign_open):
    browser.login(MEMBER)
    browser.get(FORM)
    text = plain(browser.text())
    assert "Ville de Montclair (SIRET 21440987600019)" in text
    assert "numéro d'engagement obligatoire" in text
    assert "ESPACES-VERTS — Direction des espaces verts" in text and "FINANCES — Direction des finances" in text
    assert 'name="buyer_requirement"' not in browser.text()  # no longer asked of the member


def test_an_unknown_siret_is_refused_with_a_french_message(browser, campaign_open, rt):
    response = submit(browser, siret=UNKNOWN_SIRET)
    assert response.status_code == 400
    assert "ne figure pas dans l'annuaire Chorus Pro" in field_error(browser.text(), "siret")
    assert request_of(rt) is None


def test_an_inactive_structure_is_refused(browser, campaign_open, rt):
    response = submit(browser, siret=INACTIVE_SIRET)
    assert response.status_code == 400
    assert "inactive dans Chorus Pro" in field_error(browser.text(), "siret")
    assert request_of(rt) is None


def test_the_directory_not_staff_settings_decides_the_engagement_number(browser, campaign_open, rt):
    org = rt.organisations.get(MONTCLAIR)
    from dataclasses import replace
    rt.organisations.update(replace(org, buyer_requirement=PublicBuyerRequirement.NONE))  # staff's setting is out of date
    response = submit(browser, purchase_order_number="")
    assert response.status_code == 400
    assert "exige un numéro d'engagement" in field_error(browser.text(), "purchase_order_number")
    assert request_of(rt) is None


def test_a_service_code_the_structure_does_not_have_is_refused(browser, campaign_open, rt):
    response = submit(browser, service_code="INCONNU")
    assert response.status_code == 400
    message = field_error(browser.text(), "service_code")
    assert "n'existe pas (ou plus) chez Ville de Montclair" in message and "ESPACES-VERTS" in message


def test_an_unreachable_directory_falls_back_to_what_staff_recorded(browser, campaign_open, rt, chorus):
    chorus.fail_next(count=50, status=503, path_contains="/structures/")
    browser.login(MEMBER)
    browser.get(FORM)
    assert "L'annuaire Chorus Pro ne répond pas" in plain(browser.text())
    response = browser.post(FORM, answers(wait_for_purchase_order="no", purchase_order_number=""))
    assert response.status_code == 400  # the staff-set requirement (engagement) still applies
    assert "exige un numéro d'engagement" in field_error(browser.text(), "purchase_order_number")
    response = browser.post(FORM, answers(wait_for_purchase_order="no", purchase_order_number="EJ-1"))
    assert response.status_code == 303


# --- deposit: exactly once ------------------------------------------------------------------


def test_a_lost_deposit_answer_is_looked_up_not_deposited_again(browser, campaign_open, rt, chorus):
    chorus.lose_next_answer("/deposer/flux")
    assert submit(browser).status_code == 303
    number = request_of(rt).invoice_number
    waiting = deposit_of(rt)
    assert not waiting.flux and waiting.attempt_started_at is not None and waiting.last_error
    assert len(platform_invoices(chorus, number)) == 1  # the platform did take it
    campaign_open.advance(minutes=20)
    chorus_service.follow(rt)
    deposit = deposit_of(rt)
    assert deposit.cpp_id == platform_invoices(chorus, number)[0]["id"] and deposit.flux
    assert sum(1 for path, _ in chorus.requests if path.endswith("/deposer/flux")) == 1
    assert len(chorus.flows()) == 1


def test_an_outage_delays_the_deposit_which_is_retried_with_backoff(browser, campaign_open, rt, chorus):
    chorus.fail_next(count=3, status=503, path_contains="/deposer/flux")
    assert submit(browser).status_code == 303
    waiting = deposit_of(rt)
    assert not waiting.flux and "indisponible" in waiting.last_error and waiting.next_try_at > campaign_open.now
    assert chorus_service.follow(rt)["deposited"] == 0  # not due yet
    campaign_open.advance(minutes=6)
    assert chorus_service.follow(rt)["deposited"] == 1
    assert deposit_of(rt).status == "MISE_A_DISPOSITION"
    assert len(chorus.flows()) == 1


def test_workers_depositing_at_once_deposit_once(browser, campaign_open, rt, chorus):
    chorus.fail_next(count=3, status=503, path_contains="/deposer/flux")
    submit(browser)
    number = request_of(rt).invoice_number
    campaign_open.advance(minutes=10)
    at_once(*[lambda: chorus_service.deposit(rt, number)] * 3)
    assert len(chorus.flows()) == 1 and deposit_of(rt).flux


def test_an_expired_token_is_renewed_without_failing_the_call(browser, campaign_open, rt, chorus):
    chorus.expire_tokens()
    assert submit(browser).status_code == 303
    assert deposit_of(rt).flux


# --- rejection, alert, correction ----------------------------------------------------------


def test_a_rejection_alerts_staff_once_and_is_replaced_by_a_credit_note_and_a_new_invoice(
        browser, campaign_open, rt, chorus, client):
    submit(browser)
    first = request_of(rt).invoice_number
    campaign_open.advance(days=3)
    chorus.move(first, "REJETEE", "Numéro d'engagement EJ-2027-0042 inconnu dans Chorus")
    chorus_service.follow(rt)
    chorus_service.follow(rt)
    alerts = [m for m in to(STAFF_INBOX) if "Chorus Pro" in m.subject]
    assert len(alerts) == 1 and "rejetée" in alerts[0].subject
    assert "Numéro d'engagement EJ-2027-0042 inconnu" in alerts[0].text
    assert deposit_of(rt, first).needs_action

    staff = Browser(client, rt)
    staff.login(STAFF)
    staff.get("/admin/demandes?annee=2027&chorus=action")
    assert "Ville de Montclair" in staff.text()
    staff.get(f"/admin/demandes/{MONTCLAIR}/2027")
    page = plain(staff.text())
    assert "Action requise" in page and "Numéro d'engagement EJ-2027-0042 inconnu" in page
    response = staff.post(f"/admin/demandes/{MONTCLAIR}/2027/remplacement", {
        "facture": first, "reason": "Rejet Chorus Pro : numéro d'engagement erroné",
        "purchase_order_number": "EJ-2027-0043", "service_code": "ESPACES-VERTS"})
    assert response.status_code == 303, staff.text()[:1500]
    request = request_of(rt)
    second = request.invoice_number
    assert second != first and request.purchase_order_number == "EJ-2027-0043"
    credit = next(d for d in rt.documents.for_organisation(MONTCLAIR) if d.related_number == first)
    assert deposit_of(rt, first).resolved_by == credit.number and not deposit_of(rt, first).needs_action
    assert deposit_of(rt, credit.number).flux and deposit_of(rt, second).flux
    kinds = {(i["number"], i["kind"]) for i in chorus.invoices()}
    assert {(first, "FACTURE"), (credit.number, "AVOIR"), (second, "FACTURE")} <= kinds
    assert platform_invoices(chorus, second)[0]["engagement"] == "EJ-2027-0043"
    # pressed again (double click): nothing issued twice
    again = staff.post(f"/admin/demandes/{MONTCLAIR}/2027/remplacement", {
        "facture": first, "reason": "Rejet Chorus Pro : numéro d'engagement erroné",
        "purchase_order_number": "EJ-2027-0043", "service_code": "ESPACES-VERTS"})
    assert again.status_code == 303 and request_of(rt).invoice_number == second
    assert len([d for d in rt.documents.for_organisation(MONTCLAIR) if d.kind.value == "invoice" and d.year == 2027]) == 2
    staff.get("/admin/demandes?annee=2027&chorus=action")
    assert "Chorus Pro : action requise : 0" in plain(staff.text())


def test_a_flow_the_platform_rejects_alerts_staff_with_its_reason(browser, campaign_open, rt, chorus):
    chorus.fail_next(count=50, status=503, path_contains="/structures/")  # the form cannot check it…
    chorus.add_structure(Structure(SIRET, "Ville de Montclair", active=False))  # …and the buyer closed
    assert submit(browser).status_code == 303
    deposit = deposit_of(rt)
    assert deposit.flow_rejected and deposit.needs_action and deposit.final
    [alert] = [m for m in to(STAFF_INBOX) if "Chorus Pro" in m.subject]
    assert "rejetée" in alert.subject and deposit.reason in alert.text
    browser.get(MEMBERSHIPS)
    assert "refusée par la plateforme : nous la corrigeons" in plain(browser.text())


def test_a_suspension_asks_for_action_and_completion_clears_it(browser, campaign_open, rt, chorus):
    submit(browser)
    number = request_of(rt).invoice_number
    chorus.move(number, "SUSPENDUE", "Pièce jointe manquante : bon de commande")
    chorus_service.follow(rt)
    assert deposit_of(rt).needs_action and not deposit_of(rt).final
    assert [m for m in to(STAFF_INBOX) if "suspendue" in m.subject]
    chorus.move(number, "COMPLETEE")
    chorus_service.follow(rt)
    assert not deposit_of(rt).needs_action and deposit_of(rt).status == "COMPLETEE"


def test_a_private_buyer_is_never_deposited(rt, demo):
    from chalicelib.services import documents

    invoice = documents.issue_invoice(rt, org_id="org-durand", year=2026, tier_code="ENT-2", tier_label="ENT-2",
                                      amount="350.00")
    assert rt.chorus_deposits.get(invoice.number) is None
    assert [m for m in sent_emails() if "compta@paysages-durand.example" in m.recipients]


# --- the CSV import ---------------------------------------------------------------------------

IMPORT_HEADER = ("SIRET;Nom de la structure;Catégorie;Adresse;Code postal;Ville;E-mail de facturation;"
                 "Acheteur public;Code service;Exigence de l'acheteur public\r\n")


def test_an_import_checks_new_public_buyers_in_the_directory(rt, demo, chorus):
    from chalicelib.services import imports

    staff = rt.contacts.find_by_email(STAFF).contact_id
    chorus.add_structure(Structure("73282932000074", "Ville de Belleville", service_code_required=True,
                                   services=[Service("FIN", "Finances")]))
    good = "73282932000074;Ville de Belleville;Collectivité;1 place;44100;Belleville;c@belleville.example;oui;fin;aucune\r\n"
    unknown = (f"{UNKNOWN_SIRET};Commune inconnue;Collectivité;1 place;44100;Nulle-Part;c@nulle.example;oui;;aucune\r\n")
    check = imports.check_import(rt, staff, "a.csv", (IMPORT_HEADER + good + unknown).encode())
    assert any("Commune inconnue" in e and "ne figure pas dans l'annuaire Chorus Pro" in e for e in check.plan.file_errors)
    check = imports.check_import(rt, staff, "a.csv", (IMPORT_HEADER + good).encode())
    assert not check.plan.has_errors
    imports.confirm_import(rt, staff, check.upload.import_id)
    org = next(o for o in rt.organisations.all() if o.siret == "73282932000074")
    assert (org.buyer_requirement, org.service_code) == (PublicBuyerRequirement.SERVICE_CODE, "FIN")


def test_the_organisation_page_links_the_requests_documents_deposits_and_payments(browser, campaign_open, rt,
                                                                                     client):
    from chalicelib.services import payments

    submit(browser)
    request = request_of(rt)
    staff = Browser(client, rt)
    staff.login(STAFF)
    payments.record_payment(rt, MONTCLAIR, 2027, recorded_by=rt.contacts.find_by_email(STAFF).contact_id, fields={
        "amount": "100,00", "paid_on": "2026-12-01", "method": "virement", "reference": "VIR MONTCLAIR"})
    staff.get(f"/admin/structures/{MONTCLAIR}")
    html = staff.text()
    stored = rt.documents.by_number(request.invoice_number)
    assert f'href="/admin/demandes/{MONTCLAIR}/2027"' in html and f"facture {request.invoice_number}" in html
    assert f'href="/admin/documents/{stored.document_id}"' in html
    assert "Mise à disposition de l'acheteur" in html and "VIR MONTCLAIR" in html


def test_a_structure_found_is_kept_a_day_so_forms_seldom_wait_for_the_platform(rt, demo, chorus, clock):
    from chalicelib.services import documents

    calls = lambda: sum(1 for path, _ in chorus.requests if path.endswith("/rechercher/services"))  # noqa: E731
    documents.prepare_quote(rt, MONTCLAIR)  # after the campaign notice: the structure looked up ahead
    assert calls() == 1
    chorus_service.forget_directory()  # another Lambda process
    assert chorus_service.look_up(rt, SIRET).structure.name == "Ville de Montclair"
    assert calls() == 1  # read from DynamoDB, not asked again
    clock.advance(days=1, minutes=1)
    chorus_service.forget_directory()
    assert chorus_service.look_up(rt, SIRET).found and calls() == 2  # a day later: asked again
    searches = lambda: sum(1 for path, _ in chorus.requests if path.endswith("/structures/v1/rechercher"))  # noqa: E731
    before = searches()
    assert chorus_service.look_up(rt, UNKNOWN_SIRET).outcome == "unknown"
    chorus_service.forget_directory()
    chorus_service.look_up(rt, UNKNOWN_SIRET)
    assert searches() == before + 2  # an unknown SIRET is not kept beyond the process (it may be registered tomorrow)
