"""Staff work through renewal requests: the « Demandes » queue and one request with its actions."""
from __future__ import annotations

import importlib
import re
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from html import unescape

import pytest

from chalicelib.domain.documents import DocumentKind
from chalicelib.domain.renewal import RequestState
from chalicelib.services import payments, staff_requests
from tests.bench.common import DynamoCounter
from tests.conftest import sent_emails
from tests.functional.conftest import MEMBER, MEMBER_B, STAFF
from tests.functional.renewal_support import FORM, MEMBERSHIPS, answers, field_error, plain
from tests.functional.test_renewal_purchase_order import BOUNDARY, PDF, multipart

QUEUE = "/admin/demandes"
MONTCLAIR = f"{QUEUE}/org-montclair/2027"
SAINT_AUBIN = f"{QUEUE}/org-saint-aubin/2027"
SAINT_AUBIN_ANSWERS = answers(
    payment_method="virement", wait_for_purchase_order="no", address_line1="1 place de la Mairie",
    postcode="49170", city="Saint-Aubin-des-Prés", siret="21490123400015",
    invoice_email="mairie@saint-aubin.example", service_code="", buyer_requirement="none")
TIER_CHANGE = dict(tier_choice="change", requested_tier="COL-4", tier_comment="Nouvelle population INSEE : 52 000.")



@pytest.fixture
def member(new_browser, campaign_open):
    """A contact of Ville de Montclair, logged in."""
    browser = new_browser()
    assert browser.login(MEMBER).status_code == 303
    return browser


@pytest.fixture
def staff(browser, campaign_open):
    assert browser.login(STAFF).status_code == 303
    return browser


@contextmanager
def crash_in(monkeypatch, module: str, step: str):
    """``module.step`` fails while the block runs, and the block must fail with it."""
    def crash(*args, **kwargs):
        raise ConnectionError("service unavailable")

    with monkeypatch.context() as patch:
        # the module itself: ``chalicelib.services`` hands out stand-ins that monkeypatch cannot undo
        patch.setattr(importlib.import_module(module), step, crash)
        with pytest.raises(ConnectionError):
            yield


def submit(browser, values: dict):
    browser.get(FORM)
    response = browser.post(FORM, values)
    assert response.status_code == 303, browser.text()[:2000]
    return response


def montclair_submits(member, **overrides):
    return submit(member, answers(**overrides))


def saint_aubin_submits(new_browser):
    """Saint-Aubin confirms its tier and waits for no purchase order: invoiced at once."""
    other = new_browser()
    other.login(MEMBER_B)
    submit(other, SAINT_AUBIN_ANSWERS)
    return other


def latest(rt, org_id="org-montclair"):
    return rt.renewals.latest(org_id, 2027)


def member_state(member) -> str:
    """The request's state as « Mes adhésions » shows it."""
    member.get(MEMBERSHIPS)
    match = re.search(r'class="status status-request-[a-z_]+">([^<]+)<', member.last.body.decode())
    return unescape(match.group(1)) if match else plain(member.text())


def post_on_page(browser, path: str, action: str, data: dict):
    browser.get(path)
    return browser.post(f"{path}/{action}", data)


def send_po(browser, path: str, number: str = "", pdf: bytes | None = PDF):
    browser.get(path)
    files = {"purchase_order_file": ("bc.pdf", pdf)} if pdf is not None else {}
    body = multipart({"csrf_token": browser.csrf(), "purchase_order_number": number}, files)
    return browser.post(f"{path}/bon-de-commande", body,
                        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})


def hidden_payment_id(html: str) -> str:
    return re.search(r'name="payment_id" value="([^"]+)"', html).group(1)


def pay(browser, path: str, amount: str, paid_on: str = "2026-12-01", method: str = "virement",
        reference: str = "VIR-42", payment_id: str | None = None):
    browser.get(path)
    data = {"amount": amount, "paid_on": paid_on, "method": method, "reference": reference,
            "payment_id": payment_id or hidden_payment_id(browser.last.body.decode())}
    return browser.post(f"{path}/paiement", data)


def follow(browser, response):
    assert response.status_code == 303, browser.text()[:3000]
    browser.get(response.headers["Location"])
    return browser.text()


def confirm_on_page(browser, response):
    """Press the button of the confirmation page ``response`` shows: its form posted as it is."""
    assert response.status_code == 200, browser.text()[:3000]
    assert "Ce qui va se passer" in browser.text()
    html = browser.last.body.decode()
    [(action, body)] = [f for f in re.findall(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', html, re.S)
                        if 'name="confirmer"' in f[1]]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body))
    return browser.post(unescape(action), {name: unescape(value) for name, value in fields.items()})


def cancel(browser, path: str, reason: str):
    """« Annuler la demande » on the request page, then « Confirmer » on the page that follows."""
    return confirm_on_page(browser, post_on_page(browser, path, "annulation", {"reason": reason}))


# --- the queue -------------------------------------------------------------------------


def test_the_queue_lists_the_seasons_requests_with_what_staff_need(staff, member, new_browser, rt):
    montclair_submits(member)  # waits for its purchase order
    saint_aubin_submits(new_browser)  # invoiced at once
    staff.get("/admin")
    assert 'href="/admin/demandes"' in staff.text()
    staff.get(QUEUE)
    html = plain(staff.text())
    assert "Demandes de renouvellement 2027" in html
    assert "2 demandes" in html
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", staff.last.body.decode(), re.S)
    assert len(rows) == 2
    first, second = (plain(row) for row in rows)
    assert "Commune de Saint-Aubin-des-Prés" in first and "Facturée" in first  # newest first
    assert "Ville de Montclair" in second and "En attente du bon de commande" in second
    assert "COL-3" in second and "742,00" in second and "Attendu" in second
    assert "1er décembre 2026" in second  # in that state since
    assert f'href="{MONTCLAIR}"' in staff.text()


@pytest.mark.parametrize("query, shown, hidden", [
    ("etat=awaiting_purchase_order", "Ville de Montclair", "Saint-Aubin"),
    ("etat=invoiced", "Saint-Aubin", "Ville de Montclair"),
    ("etat=cancelled", "Aucune demande ne correspond", "Ville de Montclair"),
    ("categorie=entreprise&etat=toutes", "Aucune demande ne correspond", "Saint-Aubin"),
    ("annee=2026", "Aucune demande ne correspond", "Ville de Montclair"),
    ("categorie=collectivite&etat=toutes", "Ville de Montclair", "Aucune demande ne correspond"),
])
def test_the_queue_filters_by_season_category_and_state(staff, member, new_browser, query, shown, hidden):
    montclair_submits(member)
    saint_aubin_submits(new_browser)
    assert staff.get(f"{QUEUE}?{query}").status_code == 200
    rows = "".join(re.findall(r"<tbody>.*?</tbody>", staff.last.body.decode(), re.S)) or staff.text()
    assert shown in plain(rows)
    assert hidden not in plain(rows)


def test_the_queue_counts_requests_by_state(staff, member, new_browser):
    montclair_submits(member)
    saint_aubin_submits(new_browser)
    staff.get(QUEUE)
    html = plain(staff.text())
    assert "En cours : 2" in html and "En attente du bon de commande : 1" in html and "Facturée : 1" in html
    assert "Payée : 0" in html and "Toutes : 2" in html


def test_unknown_filter_values_fall_back_to_the_defaults(staff, member):
    montclair_submits(member)
    response = staff.get(f"{QUEUE}?annee=abcd&etat=%3Cscript%3E&categorie=x&page=-3")
    assert response.status_code == 200
    assert "Ville de Montclair" in staff.text() and "<script>" not in response.body.decode()


def _stored_requests(rt, count: int):
    """``count`` requests of made-up organisations, one minute apart (the newest last)."""
    model = latest(rt)
    for n in range(count):
        rt.renewals.add(replace(model, org_id=f"org-test-{n:03d}", organisation_name=f"Structure test {n:03d}",
                                submitted_at=model.submitted_at + timedelta(minutes=n + 1), version=None))


def test_the_queue_is_paged_newest_first(staff, member, rt):
    montclair_submits(member)
    _stored_requests(rt, 54)  # 55 requests in all
    staff.get(QUEUE)
    html = staff.last.body.decode()
    assert "55 demandes — page 1 sur 2" in plain(staff.text())
    names = re.findall(r'<a href="/admin/demandes/[^"]+">([^<]+)</a>', html)
    assert len(names) == staff_requests.PAGE_SIZE == 50
    assert names[0] == "Structure test 053" and names[-1] == "Structure test 004"
    assert 'rel="next"' in html and 'rel="prev"' not in html
    next_page = re.search(r'href="([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    staff.get(next_page)
    names = re.findall(r'<a href="/admin/demandes/[^"]+">([^<]+)</a>', staff.last.body.decode())
    assert names == ["Structure test 003", "Structure test 002", "Structure test 001", "Structure test 000",
                     "Ville de Montclair"]
    assert "page 2 sur 2" in plain(staff.text()) and 'rel="prev"' in staff.last.body.decode()


def test_the_queue_makes_the_same_dynamodb_requests_for_5_or_50_rows(staff, member, rt):
    montclair_submits(member)
    _stored_requests(rt, 4)
    counter = DynamoCounter()
    with counter.installed():
        staff.get(QUEUE)
    few = dict(counter.calls)
    _stored_requests_more = [replace(latest(rt), org_id=f"org-more-{n}", version=None) for n in range(45)]
    for request in _stored_requests_more:
        rt.renewals.add(request)
    counter.reset()
    with counter.installed():
        staff.get(QUEUE)
    assert "50 demandes" in plain(staff.text())
    assert dict(counter.calls) == few
    assert few.get("BatchGetItem") == 1 and few.get("Query") == 6  # one BatchGetItem, one query per state


# --- one request -----------------------------------------------------------------------


def test_the_request_page_shows_the_organisation_request_history_and_documents(staff, new_browser, rt):
    saint_aubin_submits(new_browser)
    invoice = next(d for d in rt.documents.for_organisation("org-saint-aubin") if d.kind is DocumentKind.INVOICE)
    staff.get(SAINT_AUBIN)
    html = staff.last.body.decode()
    text = plain(staff.text())
    assert 'href="/admin/structures/org-saint-aubin"' in html
    assert "Commune de Saint-Aubin-des-Prés — demande 2027" in text
    assert "Statut : Facturée" in text
    assert "1 place de la Mairie" in text and "mairie@saint-aubin.example" in text and "21490123400015" in text
    assert "Demande enregistrée" in text and "Julie Moreau" in text
    assert "Facture émise" in text and "Automatique" in text and invoice.number in text
    assert f'href="/admin/documents/{invoice.document_id}"' in html
    assert "Aucun paiement enregistré." in text
    # only the actions of an invoiced request
    assert "Enregistrer un paiement" in text and "Annuler la demande et émettre l'avoir" in text
    assert "Décider de la tranche" not in text and "Émettre la facture (" not in text
    assert 'action="/admin/demandes/org-saint-aubin/2027/bon-de-commande"' not in html
    response = staff.get(f"/admin/documents/{invoice.document_id}")
    assert response.status_code == 302 and "X-Amz-Expires=300" in response.headers["Location"]


@pytest.mark.parametrize("path", [
    f"{QUEUE}/org-inconnue/2027", f"{QUEUE}/org-montclair/2031", f"{QUEUE}/org-montclair/27",
    f"{QUEUE}/org-montclair/abcd", f"{QUEUE}/org-montclair/2027/bon-de-commande", "/admin/documents/inconnu",
])
def test_unknown_organisation_year_or_document_is_a_404(staff, path):
    response = staff.get(path)
    assert response.status_code == 404
    assert "introuvable" in staff.text() or "n'existe pas" in staff.text() or "Aucune demande" in staff.text()


def test_members_get_403_and_anonymous_visitors_the_login_page(member, new_browser):
    montclair_submits(member)
    assert member.get(MONTCLAIR).status_code == 403
    assert member.get(QUEUE).status_code == 403
    member.get(MEMBERSHIPS)
    assert member.post(f"{MONTCLAIR}/annulation", {"reason": "x"}).status_code == 403
    assert member.post(f"{MONTCLAIR}/annulation", {"reason": "x", "confirmer": "1"}).status_code == 403
    anonymous = new_browser()
    response = anonymous.get(MONTCLAIR)
    assert response.status_code == 303 and response.headers["Location"].startswith("/connexion")


# --- deciding the tier -----------------------------------------------------------------


def test_staff_accept_the_tier_change_and_the_contacts_are_told(staff, member, rt):
    montclair_submits(member, **TIER_CHANGE)  # waits for a purchase order too
    assert member_state(member) == "Changement de tranche à l'étude"
    staff.get(MONTCLAIR)
    assert "Nouvelle population INSEE : 52 000." in staff.text()
    assert re.search(r'value="COL-4" checked>\s*<label[^>]*><strong>COL-4</strong>[^<]*<span class="tag">demandée',
                     staff.last.body.decode())
    assert 'value="ENT-1"' not in staff.last.body.decode()  # only the category's tiers
    response = staff.post(f"{MONTCLAIR}/tranche", {"tier_code": "COL-4", "note": "Accordé au vu du recensement."})
    text = follow(staff, response)
    assert "La décision sur la tranche est enregistrée" in text
    request = latest(rt)
    assert (request.state, request.tier_code, request.amount) == (
        RequestState.AWAITING_PURCHASE_ORDER, "COL-4", rt.tariffs.grid(2027).tier("COL-4").amount)
    assert "Changement de tranche accepté" in plain(text) and "Camille Martin (équipe)" in plain(text)
    mails = [m for m in sent_emails() if "Accordé au vu du recensement." in m.text]
    assert {m.recipients[0] for m in mails} >= {MEMBER}
    assert member_state(member) == "En attente du bon de commande"


def test_refusing_the_tier_change_requires_a_reason(staff, member, rt):
    montclair_submits(member, **TIER_CHANGE, wait_for_purchase_order="no", purchase_order_number="EJ-2027-7")
    response = post_on_page(staff, MONTCLAIR, "tranche", {"tier_code": "COL-3", "note": ""})
    assert response.status_code == 400
    assert "Expliquez votre décision" in field_error(staff.text(), "note")
    assert latest(rt).state is RequestState.TIER_DECISION_PENDING
    response = staff.post(f"{MONTCLAIR}/tranche", {"tier_code": "COL-3", "note": "Population 2025 : 48 000."})
    follow(staff, response)
    request = latest(rt)
    assert request.tier_code == "COL-3"
    assert request.state is RequestState.INVOICED  # nothing awaited any more: invoiced at once
    assert "Changement de tranche refusé" in plain(staff.text())
    assert member_state(member) == "Facturée"


@pytest.mark.parametrize("values, field, message", [
    ({"tier_code": "ENT-1", "note": "x"}, "tier_code", "Choisissez une tranche de la catégorie de la structure."),
    ({"tier_code": "COL-99", "note": "x"}, "tier_code", "Choisissez une tranche de la catégorie de la structure."),
    ({"tier_code": "", "note": "x"}, "tier_code", "Choisissez la tranche à facturer."),
    ({"tier_code": "COL-4", "note": "é" * 1001}, "note", "ne doit pas dépasser 1000 caractères"),
    ({"tier_code": "COL-4", "note": "x" * 2001}, "note", "trop long"),
])
def test_bad_tier_decisions_get_a_message_next_to_the_field(staff, member, rt, values, field, message):
    montclair_submits(member, **TIER_CHANGE)
    response = post_on_page(staff, MONTCLAIR, "tranche", values)
    assert response.status_code == 400
    assert message in field_error(staff.text(), field)
    assert latest(rt).state is RequestState.TIER_DECISION_PENDING


# --- purchase order --------------------------------------------------------------------


def test_staff_record_the_purchase_order_and_the_invoice_follows(staff, member, rt):
    montclair_submits(member)
    response = send_po(staff, MONTCLAIR, number="EJ-2027-0042")
    text = follow(staff, response)
    request = latest(rt)
    flux = rt.chorus_deposits.get(request.invoice_number).flux  # a commune: its invoice goes to Chorus Pro
    assert (f"Bon de commande enregistré. La facture {request.invoice_number} (742,00 €) a été émise et déposée sur "
            f"Chorus Pro (flux {flux}) ; les contacts de la structure en ont été prévenus par courriel.") in plain(text)
    assert request.purchase_order_number == "EJ-2027-0042" and rt.storage.get(request.purchase_order_file) == PDF
    assert request.state is RequestState.INVOICED
    assert "Bon de commande reçu" in plain(text)
    download = staff.get(f"{MONTCLAIR}/bon-de-commande")
    assert download.status_code == 302 and request.purchase_order_file.split("/")[-1] in download.headers["Location"]
    assert member_state(member) == "Facturée"


def test_a_number_alone_can_be_sent_without_a_file(staff, member, rt):
    montclair_submits(member)
    staff.get(MONTCLAIR)
    follow(staff, staff.post(f"{MONTCLAIR}/bon-de-commande", {"purchase_order_number": "EJ-9"}))
    assert latest(rt).purchase_order_number == "EJ-9"


@pytest.mark.parametrize("number, pdf, field, message", [
    ("EJ-1", b"GIF89a", "purchase_order_file", "Ce fichier n'est pas un PDF"),
    ("E" * 51, None, "purchase_order_number", "ne doit pas dépasser 50 caractères"),
    ("", None, "purchase_order_number", "Votre structure exige un numéro d'engagement"),
])
def test_a_bad_purchase_order_gets_a_message_next_to_the_field(staff, member, rt, number, pdf, field, message):
    montclair_submits(member)
    response = send_po(staff, MONTCLAIR, number=number, pdf=pdf)
    assert response.status_code == 400
    assert message in field_error(staff.text(), field)
    assert latest(rt).state is RequestState.AWAITING_PURCHASE_ORDER


# --- issuing the invoice ---------------------------------------------------------------


def storage_down(*args, **kwargs):
    raise ConnectionError("S3 unavailable")


@pytest.fixture
def invoice_failed(member, rt, monkeypatch):
    """Ville de Montclair's request is ready to invoice, but the storage was down when it became so."""
    with monkeypatch.context() as patch:
        patch.setattr(rt.storage, "put", storage_down)
        montclair_submits(member, wait_for_purchase_order="no", purchase_order_number="EJ-2027-0042")
    assert latest(rt).state is RequestState.READY_TO_INVOICE
    return member


def test_staff_issue_an_invoice_the_automatic_issue_missed(staff, invoice_failed, rt):
    assert member_state(invoice_failed) == "Facture en cours d'émission"
    staff.get(MONTCLAIR)
    assert "Émettre la facture (742,00" in plain(staff.text())
    text = follow(staff, staff.post(f"{MONTCLAIR}/facture", {}))
    request = latest(rt)
    assert f"Facture émise. La facture {request.invoice_number} (742,00 €) a été émise et déposée sur Chorus Pro" \
        in plain(text)
    assert request.state is RequestState.INVOICED
    invoice = rt.documents.by_number(request.invoice_number)
    assert invoice.kind is DocumentKind.INVOICE and invoice.content.po_number == "EJ-2027-0042"
    assert member_state(invoice_failed) == "Facturée"
    # a second click (another tab, or a retry after an error): the result, not a refusal; one invoice
    response = staff.post(f"{MONTCLAIR}/facture", {})
    assert response.status_code == 200
    assert f"La facture {request.invoice_number} est déjà émise : rien n'a été refait." in staff.text()
    assert "Action impossible" not in staff.text()
    invoices = [d for d in rt.documents.for_organisation("org-montclair") if d.kind is DocumentKind.INVOICE]
    assert len(invoices) == 1


def test_an_invoice_that_still_cannot_be_issued_gets_a_message_and_can_be_retried(staff, invoice_failed, rt,
                                                                                 monkeypatch):
    staff.get(MONTCLAIR)
    with monkeypatch.context() as patch:
        patch.setattr(rt.storage, "put", storage_down)
        response = staff.post(f"{MONTCLAIR}/facture", {})
    assert response.status_code == 503
    assert "La facture n'a pas pu être émise pour le moment" in staff.text()
    assert latest(rt).state is RequestState.READY_TO_INVOICE
    follow(staff, staff.post(f"{MONTCLAIR}/facture", {}))
    assert latest(rt).state is RequestState.INVOICED


# --- payments --------------------------------------------------------------------------


def test_partial_then_full_payment_settles_the_request(staff, new_browser, rt):
    other = saint_aubin_submits(new_browser)
    amount = latest(rt, "org-saint-aubin").amount  # 185.00
    staff.get(SAINT_AUBIN)
    assert 'name="amount" type="text" value="185,00"' in staff.last.body.decode()  # the balance, ready to confirm
    text = follow(staff, pay(staff, SAINT_AUBIN, "100,00", reference="Mandat 1"))
    assert "Le paiement a été enregistré." in text
    assert "reste à payer 85,00" in plain(text) and "Mandat 1" in text
    assert member_state(other) == "Facturée"
    text = follow(staff, pay(staff, SAINT_AUBIN, "85", reference="Mandat 2"))
    assert "la facture est soldée et l'adhésion renouvelée" in text
    request = latest(rt, "org-saint-aubin")
    assert request.state is RequestState.PAID and amount == 185
    assert "Statut : Payée" in plain(text) and "Aucune action possible" in plain(text)
    assert "Facture soldée" in plain(text)
    other.get(MEMBERSHIPS)
    assert "Votre adhésion est à jour" in other.text()


def test_a_double_submitted_payment_is_recorded_once(staff, new_browser, rt):
    saint_aubin_submits(new_browser)
    staff.get(SAINT_AUBIN)
    payment_id = hidden_payment_id(staff.last.body.decode())
    pay(staff, SAINT_AUBIN, "50", payment_id=payment_id)
    pay(staff, SAINT_AUBIN, "50", payment_id=payment_id)
    assert [p.amount for p in rt.payments.for_request("org-saint-aubin", 2027)] == [50]
    staff.get(SAINT_AUBIN)
    assert hidden_payment_id(staff.last.body.decode()) != payment_id  # each form shown gets its own


@pytest.mark.parametrize("values, field, message", [
    ({"amount": "185,01"}, "amount", "Le montant dépasse le reste à payer"),
    ({"amount": ""}, "amount", "Indiquez le montant reçu"),
    ({"amount": "-5"}, "amount", "supérieur à zéro"),
    ({"paid_on": "2027-01-15"}, "paid_on", "ne peut pas être dans le futur"),
    ({"paid_on": "hier"}, "paid_on", "Indiquez une date valide"),
    ({"method": "bitcoin"}, "method", "Choisissez le mode de paiement dans la liste."),
    ({"reference": "x" * 201}, "reference", "trop long"),
])
def test_bad_payments_get_a_message_next_to_the_field(staff, new_browser, rt, values, field, message):
    saint_aubin_submits(new_browser)
    response = pay(staff, SAINT_AUBIN, **{"amount": "185", **values})
    assert response.status_code == 400
    assert message in field_error(staff.text(), field)
    assert rt.payments.for_request("org-saint-aubin", 2027) == []


@pytest.mark.parametrize("module, step, left_in", [
    ("chalicelib.services.renewal", "mark_paid", RequestState.INVOICED),  # after the payment is written
    ("chalicelib.services.payments", "_extend_membership", RequestState.PAID),  # after the request is paid
])
def test_staff_finish_a_settlement_an_interruption_left_half_way(staff, new_browser, rt, monkeypatch,
                                                                 module, step, left_in):
    saint_aubin_submits(new_browser)

    with crash_in(monkeypatch, module, step):
        payments.record_payment(rt, "org-saint-aubin", 2027, recorded_by="staff", fields={
            "amount": "185", "paid_on": "2026-12-01", "method": "virement", "reference": "VIR-42"})
    assert latest(rt, "org-saint-aubin").state is left_in
    # The page offers to finish it, instead of a payment of 0 €
    staff.get(SAINT_AUBIN)
    text = plain(staff.text())
    assert "Finaliser le règlement" in text and "Enregistrer un paiement" not in text
    def paid_emails():
        return [m for m in sent_emails() if m.subject.startswith("Paiement reçu")]

    assert paid_emails() == []
    text = follow(staff, post_on_page(staff, SAINT_AUBIN, "finalisation", {}))
    assert "Le règlement est finalisé" in text and "Finaliser le règlement" not in plain(text)
    assert latest(rt, "org-saint-aubin").state is RequestState.PAID
    [membership] = [m for m in rt.memberships.for_organisation("org-saint-aubin") if m.year == 2027]
    assert membership.status.value == "paid"
    assert [d.kind for d in rt.documents.for_organisation("org-saint-aubin")].count(DocumentKind.CERTIFICATE) == 1
    assert len(paid_emails()) == 1  # Saint-Aubin has one contact
    # and once finished, there is nothing left to finish
    response = staff.post(f"{SAINT_AUBIN}/finalisation", {})
    assert response.status_code in (302, 303, 409)
    assert [d.kind for d in rt.documents.for_organisation("org-saint-aubin")].count(DocumentKind.CERTIFICATE) == 1
    assert len(paid_emails()) == 1


def test_nothing_to_finish_while_the_invoice_is_not_fully_paid(staff, new_browser, rt):
    saint_aubin_submits(new_browser)
    follow(staff, pay(staff, SAINT_AUBIN, "100"))
    response = post_on_page(staff, SAINT_AUBIN, "finalisation", {})
    assert response.status_code == 409
    assert "Rien à finaliser" in staff.text()
    assert latest(rt, "org-saint-aubin").state is RequestState.INVOICED


# --- cancelling ------------------------------------------------------------------------


def test_cancelling_an_open_request_lets_the_member_submit_again(staff, member, rt):
    montclair_submits(member)
    text = follow(staff, cancel(staff, MONTCLAIR, "Demande en double."))
    assert "La demande a été annulée." in text
    assert latest(rt).state is RequestState.CANCELLED
    assert "Demande annulée" in plain(text) and "Demande en double." in text
    assert not any(d.kind is DocumentKind.CREDIT_NOTE for d in rt.documents.for_organisation("org-montclair"))
    member.get(MEMBERSHIPS)
    assert "a été annulée" in member.text() and "Renouveler l'adhésion" in member.text()
    montclair_submits(member)
    staff.get(MONTCLAIR)
    assert "tentative n° 2" in plain(staff.text()) and "tentative n° 1" in plain(staff.text())


def test_cancelling_an_invoiced_request_issues_its_credit_note(staff, new_browser, rt):
    other = saint_aubin_submits(new_browser)
    invoice_number = latest(rt, "org-saint-aubin").invoice_number
    text = follow(staff, cancel(staff, SAINT_AUBIN, "Adhésion résiliée par courrier."))
    assert "La demande a été annulée et l'avoir de la facture a été émis." in text
    [credit_note] = [d for d in rt.documents.for_organisation("org-saint-aubin") if d.kind is DocumentKind.CREDIT_NOTE]
    assert credit_note.related_number == invoice_number
    assert f"(annule {invoice_number})" in plain(text)
    assert latest(rt, "org-saint-aubin").state is RequestState.CANCELLED
    other.get(MEMBERSHIPS)
    assert "a été annulée" in other.text()


@pytest.mark.parametrize("module, step", [
    ("chalicelib.services.documents", "issue_credit_note"),
    ("chalicelib.services.renewal", "cancel_request"),
])
def test_a_cancellation_that_failed_half_way_can_be_retried_and_gives_one_credit_note(
        staff, new_browser, rt, monkeypatch, module, step):
    saint_aubin_submits(new_browser)

    with crash_in(monkeypatch, module, step):
        staff_requests.cancel_with_credit_note(rt, "org-saint-aubin", 2027, by="staff", reason="Résiliation.")
    assert latest(rt, "org-saint-aubin").state is RequestState.INVOICED  # so the action is still offered
    follow(staff, cancel(staff, SAINT_AUBIN, "Résiliation."))
    credit_notes = [d for d in rt.documents.for_organisation("org-saint-aubin") if d.kind is DocumentKind.CREDIT_NOTE]
    assert len(credit_notes) == 1
    assert latest(rt, "org-saint-aubin").state is RequestState.CANCELLED


def test_cancelling_first_says_what_will_happen_and_changes_nothing(staff, new_browser, rt):
    saint_aubin_submits(new_browser)
    invoice_number = latest(rt, "org-saint-aubin").invoice_number
    emails_before = len(sent_emails())
    response = post_on_page(staff, SAINT_AUBIN, "annulation", {"reason": "Adhésion résiliée par courrier."})
    assert response.status_code == 200
    text = plain(staff.text())
    assert "Annuler la demande 2027 de Commune de Saint-Aubin-des-Prés ?" in text
    assert f"La facture {invoice_number} (" in text and "sera annulée par un avoir du même montant" in text
    assert "« Adhésion résiliée par courrier. »" in text
    assert "L'avoir sera déposé sur Chorus Pro pour Commune de Saint-Aubin-des-Prés." in text
    assert "Les contacts de la structure ne sont pas prévenus par courriel" in text
    html = staff.last.body.decode()
    assert 'name="confirmer" value="1"' in html and 'name="csrf_token"' in html
    assert f'name="facture" value="{invoice_number}"' in html
    assert "Confirmer l'annulation et émettre l'avoir" in text and f'href="{SAINT_AUBIN}"' in html  # « Retour »
    # nothing done yet
    assert latest(rt, "org-saint-aubin").state is RequestState.INVOICED
    assert not any(d.kind is DocumentKind.CREDIT_NOTE for d in rt.documents.for_organisation("org-saint-aubin"))
    assert len(sent_emails()) == emails_before
    # « Confirmer » acts
    assert "La demande a été annulée et l'avoir de la facture a été émis." in follow(staff, confirm_on_page(staff, response))
    assert latest(rt, "org-saint-aubin").state is RequestState.CANCELLED


def test_an_open_request_s_confirmation_says_no_credit_note(staff, member, rt):
    montclair_submits(member)
    response = post_on_page(staff, MONTCLAIR, "annulation", {"reason": "Doublon."})
    text = plain(staff.text())
    assert response.status_code == 200 and "Aucune facture n'a été émise : aucun avoir ne sera émis." in text
    assert latest(rt).state is RequestState.AWAITING_PURCHASE_ORDER


def test_a_confirmation_made_stale_by_an_invoice_issued_since_is_refused(staff, member, rt):
    montclair_submits(member)  # awaiting its purchase order: no invoice yet
    confirmation = post_on_page(staff, MONTCLAIR, "annulation", {"reason": "Doublon."})
    assert 'name="facture" value="aucune"' in staff.last.body.decode()
    page = staff.last
    follow(staff, send_po(staff, MONTCLAIR, number="EJ-7"))  # a colleague records the PO: invoiced
    assert latest(rt).state is RequestState.INVOICED
    staff.last = page
    response = confirm_on_page(staff, confirmation)
    assert response.status_code == 409
    assert f"la facture {latest(rt).invoice_number} a été émise entre-temps" in staff.text()
    assert latest(rt).state is RequestState.INVOICED
    assert not any(d.kind is DocumentKind.CREDIT_NOTE for d in rt.documents.for_organisation("org-montclair"))


def test_another_organisation_s_request_is_not_cancelled_by_its_confirmation(staff, member, new_browser, rt):
    montclair_submits(member)
    saint_aubin_submits(new_browser)
    invoice_number = latest(rt, "org-saint-aubin").invoice_number
    # Saint-Aubin's confirmed form sent to Montclair's request: the server checks, not the page
    response = post_on_page(staff, MONTCLAIR, "annulation", {"reason": "x", "confirmer": "1", "facture": invoice_number})
    assert response.status_code == 409
    assert latest(rt).state is RequestState.AWAITING_PURCHASE_ORDER
    assert latest(rt, "org-saint-aubin").state is RequestState.INVOICED
    # and a member can neither see the confirmation nor confirm, for another organisation or their own
    other = new_browser()
    other.login(MEMBER_B)
    other.get(MEMBERSHIPS)
    for data in ({"reason": "x"}, {"reason": "x", "confirmer": "1", "facture": "aucune"}):
        assert other.post(f"{MONTCLAIR}/annulation", data).status_code == 403
        assert other.post(f"{SAINT_AUBIN}/annulation", data).status_code == 403
    assert latest(rt).state is RequestState.AWAITING_PURCHASE_ORDER
    assert latest(rt, "org-saint-aubin").state is RequestState.INVOICED


@pytest.mark.parametrize("reason, message", [
    ("", "Indiquez le motif de l'annulation."),
    ("  ", "Indiquez le motif de l'annulation."),
    ("x" * 501, "ne doit pas dépasser 500 caractères"),
])
def test_a_cancellation_needs_a_reason(staff, member, rt, reason, message):
    montclair_submits(member)
    response = post_on_page(staff, MONTCLAIR, "annulation", {"reason": reason})
    assert response.status_code == 400
    assert message in field_error(staff.text(), "reason")
    assert latest(rt).state is RequestState.AWAITING_PURCHASE_ORDER


# --- actions the state does not allow ----------------------------------------------------


@pytest.mark.parametrize("action, data, message", [
    ("tranche", {"tier_code": "COL-4", "note": "ok"}, "Action impossible (« Accepter le changement de tranche »)"),
    ("facture", {}, "Action impossible (« Émettre la facture »)"),
    ("paiement", {"amount": "10", "paid_on": "2026-12-01", "method": "virement", "reference": "",
                  "payment_id": "abc"}, "Cette demande n'attend pas de paiement"),
])
def test_an_action_the_state_does_not_allow_is_refused_with_the_reason(staff, member, rt, action, data, message):
    montclair_submits(member)  # awaiting its purchase order
    response = post_on_page(staff, MONTCLAIR, action, data)
    assert response.status_code == 409
    assert message in staff.text()
    assert "Statut : En attente du bon de commande" in plain(staff.text())  # the page, with what is possible
    assert latest(rt).state is RequestState.AWAITING_PURCHASE_ORDER


def test_an_invoiced_request_takes_no_purchase_order_and_a_cancelled_one_no_action(staff, new_browser, rt):
    saint_aubin_submits(new_browser)
    response = send_po(staff, SAINT_AUBIN, number="EJ-1")
    assert response.status_code == 409
    assert "Action impossible (« Enregistrer le bon de commande »)" in staff.text()
    follow(staff, cancel(staff, SAINT_AUBIN, "Doublon."))
    assert "Aucune action possible" in plain(staff.text())
    response = staff.post(f"{SAINT_AUBIN}/annulation", {"reason": "Encore.", "confirmer": "1"})  # pressed again
    assert response.status_code == 200 and "La demande est déjà annulée : rien n'a été refait." in staff.text()
    response = pay(staff, SAINT_AUBIN, "10", payment_id="p1")
    assert response.status_code == 409 and "elle est annulée" in staff.text()


def test_hostile_values_are_shown_escaped(staff, member, rt):
    montclair_submits(member, **{**TIER_CHANGE, "tier_comment": "<script>alert(1)</script>"})
    follow(staff, post_on_page(staff, MONTCLAIR, "tranche", {"tier_code": "COL-3", "note": "<b>non</b>"}))
    html = staff.last.body.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>non</b>" not in html and "&lt;b&gt;non&lt;/b&gt;" in html


def test_a_tier_decision_pressed_twice_shows_the_decision_not_a_refusal(staff, member, rt):
    montclair_submits(member, **TIER_CHANGE)
    follow(staff, post_on_page(staff, MONTCLAIR, "tranche", {"tier_code": "COL-4", "note": "ok"}))
    decided = latest(rt)
    response = staff.post(f"{MONTCLAIR}/tranche", {"tier_code": "COL-4", "note": "ok"})
    assert response.status_code == 200
    assert f"La tranche est déjà décidée ({decided.tier_label}) : rien n'a été refait." in staff.text()
    assert len([h for h in latest(rt).history if h.action.startswith("tier_")]) == 1
