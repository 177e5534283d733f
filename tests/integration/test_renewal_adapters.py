"""The renewal adapters against moto: the requests table and the documents bucket."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from botocore.exceptions import ClientError

from chalicelib.domain.errors import AlreadyExists, ConcurrentUpdate
from chalicelib.domain.model import Address, Category, Organisation, PublicBuyerRequirement
from chalicelib.domain.renewal import RequestState
from chalicelib.domain.renewal_request import BillingDetails, HistoryEntry, RenewalRequest

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
ORG = Organisation("org-a", "Ville d'A", Category.COLLECTIVITE, Address("1 place", "49000", "A"),
                   "f@a.example", siret="21440987600019", public_buyer=True, service_code="PARCS",
                   buyer_requirement=PublicBuyerRequirement.ENGAGEMENT)


def a_request(org_id: str = "org-a", year: int = 2027, attempt: int = 1, **changes) -> RenewalRequest:
    base = RenewalRequest(
        org_id=org_id, year=year, attempt=attempt, state=RequestState.AWAITING_PURCHASE_ORDER,
        submitted_at=NOW, submitted_by="c-1", submitted_by_name="Marc Lefèvre", organisation_name="Ville d'A",
        category=Category.COLLECTIVITE, public_buyer=True, billing=BillingDetails.of(ORG),
        tier_code="COL-3", tier_label="20 000 à 50 000 habitants", amount=Decimal("742.50"),
        offered_tier_code="COL-3", requested_tier_code="COL-4", requested_tier_label="50 000 à 100 000",
        requested_amount=Decimal("1184.00"), tier_comment="Population\nen hausse « 🌳 »",
        payment_method="mandat_administratif", wait_for_purchase_order=True, updated_at=NOW,
        history=(HistoryEntry(NOW, "submitted", "c-1", RequestState.AWAITING_PURCHASE_ORDER),),
    )
    return replace(base, **changes)


def test_a_request_reads_back_exactly_as_written(rt):
    stored = rt.renewals.add(a_request())
    assert stored.version == 1
    assert rt.renewals.get("org-a", 2027, 1) == stored
    assert rt.renewals.latest("org-a", 2027) == stored
    assert isinstance(stored.amount, Decimal) and str(rt.renewals.get("org-a", 2027, 1).amount) == "742.50"


def test_the_same_season_and_attempt_cannot_be_written_twice(rt):
    rt.renewals.add(a_request())
    with pytest.raises(AlreadyExists):
        rt.renewals.add(a_request(payment_method="virement"))
    assert rt.renewals.latest("org-a", 2027).payment_method == "mandat_administratif"


def test_billing_details_are_saved_with_the_request_or_not_at_all(rt):
    rt.organisations.add(ORG)
    moved = replace(ORG, billing_address=Address("2 rue Neuve", "49100", "A"), invoice_email="new@a.example")
    rt.renewals.add(a_request(), moved)
    assert rt.organisations.get("org-a").billing_address.line1 == "2 rue Neuve"
    again = replace(ORG, invoice_email="other@a.example")
    with pytest.raises(AlreadyExists):
        rt.renewals.add(a_request(payment_method="virement"), again)
    assert rt.organisations.get("org-a").invoice_email == "new@a.example"


def test_a_change_made_on_stale_data_is_refused(rt):
    stored = rt.renewals.add(a_request())
    moved = rt.renewals.update(replace(stored, state=RequestState.READY_TO_INVOICE, purchase_order_number="EJ-1"))
    assert moved.version == 2
    with pytest.raises(ConcurrentUpdate):
        rt.renewals.update(replace(stored, state=RequestState.CANCELLED))
    assert rt.renewals.latest("org-a", 2027).state is RequestState.READY_TO_INVOICE


def test_the_latest_attempt_of_the_season_is_the_one_that_counts(rt):
    rt.renewals.add(a_request(attempt=1, state=RequestState.CANCELLED))
    rt.renewals.add(a_request(attempt=2))
    rt.renewals.add(a_request(year=2026, attempt=1, state=RequestState.PAID))
    rt.renewals.add(a_request(org_id="org-b"))
    assert rt.renewals.latest("org-a", 2027).attempt == 2
    assert rt.renewals.latest("org-a", 2028) is None
    assert [(r.year, r.attempt) for r in rt.renewals.for_organisation("org-a")] == [(2027, 2), (2027, 1), (2026, 1)]


def test_requests_are_listed_by_state_oldest_first(rt):
    for i, org in enumerate(("org-c", "org-a", "org-b")):
        rt.renewals.add(a_request(org_id=org, submitted_at=NOW + timedelta(minutes=i),
                                  state=RequestState.READY_TO_INVOICE))
    rt.renewals.add(a_request(org_id="org-d", year=2026, state=RequestState.READY_TO_INVOICE))
    rt.renewals.add(a_request(org_id="org-e"))
    assert [r.org_id for r in rt.renewals.in_state(RequestState.READY_TO_INVOICE, 2027)] == ["org-c", "org-a", "org-b"]
    assert len(rt.renewals.in_state(RequestState.READY_TO_INVOICE)) == 4
    assert [r.org_id for r in rt.renewals.in_state(RequestState.AWAITING_PURCHASE_ORDER)] == ["org-e"]


# --- the documents bucket --------------------------------------------------------------


def test_files_are_stored_under_fresh_server_chosen_keys(rt):
    keys = {rt.storage.new_key("purchase-orders", "org-a") for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        prefix, org, name = key.split("/")
        assert (prefix, org) == ("purchase-orders", "org-a") and name.endswith(".pdf") and len(name) >= 40
    for unsafe in ("../x", "org a", "a/../b", ""):
        with pytest.raises(ValueError):
            rt.storage.new_key("purchase-orders", unsafe)


def test_a_file_is_put_read_back_and_deleted(rt):
    key = rt.storage.new_key("purchase-orders", "org-a")
    rt.storage.put(key, b"%PDF-1.7 ... %%EOF")
    assert rt.storage.get(key) == b"%PDF-1.7 ... %%EOF"
    rt.storage.delete(key)
    with pytest.raises(ClientError, match="NoSuchKey"):
        rt.storage.get(key)


def test_download_links_expire_within_five_minutes_and_download_as_attachment(rt):
    key = rt.storage.new_key("purchase-orders", "org-a")
    rt.storage.put(key, b"%PDF-1.7 ... %%EOF")
    query = parse_qs(urlparse(rt.storage.download_url(key, "bon de commande 2027.pdf", seconds=3600)).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert query["response-content-disposition"] == ['attachment; filename="bon_de_commande_2027.pdf"']
