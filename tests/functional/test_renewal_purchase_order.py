"""The purchase order sent later from « Mes adhésions »: number and PDF, checked by content."""
from __future__ import annotations

import boto3
import pytest

from chalicelib.domain.renewal import RequestState
from chalicelib.services import renewal
from tests.conftest import sent_emails
from tests.functional.conftest import MEMBER, STAFF
from tests.functional.renewal_support import FORM, MEMBERSHIPS, answers, field_error

PO_PATH = "/mon-compte/adhesions/bon-de-commande"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
BOUNDARY = "----formulaire7MA4YWxkTrZu0gW"


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> bytes:
    body = b""
    for name, value in fields.items():
        body += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode() \
            + value.encode() + b"\r\n"
    for name, (filename, data) in files.items():
        body += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                 "Content-Type: application/pdf\r\n\r\n").encode() + data + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def send_po(browser, number: str = "", pdf: bytes | None = PDF, filename: str = "bon-de-commande.pdf",
            year: str = "2027", csrf: str | None = None):
    browser.get(MEMBERSHIPS)
    fields = {"csrf_token": csrf if csrf is not None else browser.csrf(), "annee": year,
              "purchase_order_number": number}
    files = {"purchase_order_file": (filename, pdf)} if pdf is not None else {}
    return browser.post(PO_PATH, multipart(fields, files),
                        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})



@pytest.fixture
def awaiting(browser, campaign_open, rt):
    """Ville de Montclair asked us to wait for its purchase order."""
    browser.login(MEMBER)
    browser.get(FORM)
    browser.post(FORM, answers(wait_for_purchase_order="yes"))
    return browser


def stored_purchase_orders(rt) -> list[str]:
    s3 = boto3.client("s3", region_name=rt.config.region)
    listing = s3.list_objects_v2(Bucket=rt.config.documents_bucket, Prefix="purchase-orders/")
    return [o["Key"] for o in listing.get("Contents", [])]


def test_mes_adhesions_offers_the_purchase_order_form_while_one_is_awaited(awaiting):
    awaiting.get(MEMBERSHIPS)
    html = awaiting.text()
    assert "Transmettre le bon de commande" in html
    assert 'enctype="multipart/form-data"' in html
    assert 'type="file"' in html and "4 Mo au plus" in html


def test_number_and_pdf_get_the_request_invoiced(awaiting, rt):
    response = send_po(awaiting, number="EJ-2027-0042")
    assert response.status_code == 303
    assert response.headers["Location"] == "/mon-compte/adhesions/demande/2027?bon_de_commande=1"
    request = rt.renewals.latest("org-montclair", 2027)
    assert request.state is RequestState.INVOICED  # the PO was all the invoice waited for
    assert request.purchase_order_number == "EJ-2027-0042"
    assert rt.documents.by_number(request.invoice_number).content.po_number == "EJ-2027-0042"
    [key] = stored_purchase_orders(rt)
    assert key == request.purchase_order_file
    assert key.startswith("purchase-orders/org-montclair/") and key.endswith(".pdf")
    assert "bon-de-commande" not in key  # the server chose the key, not the file name
    assert rt.storage.get(key) == PDF
    awaiting.get(response.headers["Location"])
    assert "Votre bon de commande est enregistré." in awaiting.text()
    assert "Facturée" in awaiting.text()
    assert "Transmettre le bon de commande" not in awaiting.text()
    staff = next(m for m in sent_emails() if m.recipients == (STAFF,) and "Bon de commande reçu" in m.subject)
    assert "EJ-2027-0042" in staff.text and "EJ-2027-0042" in staff.html


def test_the_uploaded_pdf_is_downloaded_through_a_short_lived_link(awaiting, rt):
    send_po(awaiting, number="EJ-1")
    response = awaiting.get("/mon-compte/adhesions/bon-de-commande/2027")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "X-Amz-Expires=300" in location and "attachment" in location
    assert rt.renewals.latest("org-montclair", 2027).purchase_order_file.split("/")[-1] in location


def test_a_number_alone_is_enough(awaiting, rt):
    send_po(awaiting, number="EJ-2027-0042", pdf=None)
    request = rt.renewals.latest("org-montclair", 2027)
    assert request.state is RequestState.INVOICED and request.purchase_order_file == ""


@pytest.mark.parametrize("pdf, status, message", [
    (b"GIF89a fake image with a pdf name", 400, "Ce fichier n'est pas un PDF"),
    (b"%PDF-1.4\n" + b"0" * 5000, 400, "Ce PDF semble incomplet ou endommagé"),
    (b"%PDF-1.4\n" + b"0" * (4 * 1024 * 1024) + b"\n%%EOF\n", 413, "Ce fichier dépasse 4 Mo"),
])
def test_a_bad_file_gets_a_message_next_to_the_field_and_nothing_is_stored(awaiting, rt, pdf, status, message):
    response = send_po(awaiting, number="EJ-2027-0042", pdf=pdf)
    assert response.status_code == status
    assert message in field_error(awaiting.text(), "po-file-2027")
    assert 'value="EJ-2027-0042"' in awaiting.text()  # what was typed is kept
    request = rt.renewals.latest("org-montclair", 2027)
    assert request.state is RequestState.AWAITING_PURCHASE_ORDER and not request.purchase_order_given
    assert stored_purchase_orders(rt) == []


def test_an_over_long_number_gets_a_message_next_to_the_field(awaiting, rt):
    response = send_po(awaiting, number="E" * 51)
    assert response.status_code == 400
    assert "ne doit pas dépasser 50 caractères" in field_error(awaiting.text(), "po-number-2027")
    assert stored_purchase_orders(rt) == []
    assert not rt.renewals.latest("org-montclair", 2027).purchase_order_given


def test_a_buyer_requiring_an_engagement_number_must_give_it(awaiting, rt):
    response = send_po(awaiting, number="")
    assert response.status_code == 400
    assert "exige un numéro d'engagement" in field_error(awaiting.text(), "po-number-2027")
    assert stored_purchase_orders(rt) == []


def test_the_form_without_a_token_is_refused(awaiting, rt):
    response = send_po(awaiting, number="EJ-1", csrf="0" * 64)
    assert response.status_code == 403
    assert stored_purchase_orders(rt) == []


def test_a_purchase_order_no_longer_awaited_is_refused(browser, campaign_open, rt):
    browser.login(MEMBER)
    browser.get(FORM)
    browser.post(FORM, answers(wait_for_purchase_order="no", purchase_order_number="EJ-9"))
    response = send_po(browser, number="EJ-10")
    assert response.status_code == 409
    assert "n'attend plus de bon de commande" in browser.text()
    assert stored_purchase_orders(rt) == []


def test_a_year_that_is_not_a_year_is_404(awaiting):
    assert send_po(awaiting, number="EJ-1", year="20x7").status_code == 404
    assert awaiting.get("/mon-compte/adhesions/bon-de-commande/2027").status_code == 404  # nothing sent yet


def test_staff_may_record_a_purchase_order_while_the_tier_is_decided(rt, demo, campaign_open):
    contact = rt.contacts.find_by_email(MEMBER)
    renewal.submit_renewal_request(rt, "org-montclair", contact.contact_id, answers(
        tier_choice="change", requested_tier="COL-4", tier_comment="52 000 habitants"))
    after = renewal.record_purchase_order(rt, "org-montclair", 2027, actor_id="staff", number="EJ-77",
                                          pdf=PDF, by_staff=True)
    assert after.state is RequestState.TIER_DECISION_PENDING  # the decision comes first
    decided = renewal.decide_tier(rt, "org-montclair", 2027, "COL-4", decided_by="staff")
    assert decided.state is RequestState.INVOICED  # the PO is already there: invoiced at once
