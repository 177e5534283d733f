"""The renewal request's state machine, checked over every (state, event) pair."""
from __future__ import annotations

import itertools

import pytest

from chalicelib.domain.errors import DomainError
from chalicelib.domain.renewal import (
    FINAL_STATES,
    OPEN_STATES,
    TRANSITIONS,
    InvalidTransition,
    RequestEvent,
    RequestState,
    allowed_events,
    apply,
    extends_membership,
    initial_state,
    is_open,
)

S = RequestState
E = RequestEvent

# The whole machine, written out independently of the module's table:
# (state, event) -> (target when no purchase order is awaited, target when one is).
EXPECTED: dict[tuple[RequestState, RequestEvent], tuple[RequestState, RequestState]] = {
    (S.TIER_DECISION_PENDING, E.TIER_ACCEPTED): (S.READY_TO_INVOICE, S.AWAITING_PURCHASE_ORDER),
    (S.TIER_DECISION_PENDING, E.TIER_REFUSED): (S.READY_TO_INVOICE, S.AWAITING_PURCHASE_ORDER),
    (S.TIER_DECISION_PENDING, E.PURCHASE_ORDER_RECEIVED): (
        S.TIER_DECISION_PENDING,
        S.TIER_DECISION_PENDING,
    ),
    (S.TIER_DECISION_PENDING, E.CANCEL): (S.CANCELLED, S.CANCELLED),
    (S.AWAITING_PURCHASE_ORDER, E.PURCHASE_ORDER_RECEIVED): (
        S.READY_TO_INVOICE,
        S.READY_TO_INVOICE,
    ),
    (S.AWAITING_PURCHASE_ORDER, E.CANCEL): (S.CANCELLED, S.CANCELLED),
    (S.READY_TO_INVOICE, E.PURCHASE_ORDER_RECEIVED): (S.READY_TO_INVOICE, S.READY_TO_INVOICE),
    (S.READY_TO_INVOICE, E.INVOICE_ISSUED): (S.INVOICED, S.INVOICED),
    (S.READY_TO_INVOICE, E.CANCEL): (S.CANCELLED, S.CANCELLED),
    (S.INVOICED, E.INVOICE_REPLACED): (S.INVOICED, S.INVOICED),  # credit note, then a corrected invoice
    (S.INVOICED, E.PAYMENT_RECORDED): (S.PAID, S.PAID),
    (S.INVOICED, E.CANCEL): (S.CANCELLED, S.CANCELLED),
}

ALL_PAIRS = list(itertools.product(RequestState, RequestEvent))
ALLOWED_PAIRS = [pair for pair in ALL_PAIRS if pair in EXPECTED]
FORBIDDEN_PAIRS = [pair for pair in ALL_PAIRS if pair not in EXPECTED]


def _id(pair: tuple[RequestState, RequestEvent]) -> str:
    return f"{pair[0].value}+{pair[1].value}"


# --- transitions -----------------------------------------------------------------------


@pytest.mark.parametrize("awaiting_po", [False, True])
@pytest.mark.parametrize("pair", ALLOWED_PAIRS, ids=_id)
def test_allowed_event_moves_request_to_expected_state(
    pair: tuple[RequestState, RequestEvent], awaiting_po: bool
) -> None:
    state, event = pair
    assert apply(state, event, awaiting_po=awaiting_po) is EXPECTED[pair][awaiting_po]


@pytest.mark.parametrize("awaiting_po", [False, True])
@pytest.mark.parametrize("pair", FORBIDDEN_PAIRS, ids=_id)
def test_any_other_event_raises_invalid_transition(
    pair: tuple[RequestState, RequestEvent], awaiting_po: bool
) -> None:
    state, event = pair
    with pytest.raises(InvalidTransition) as caught:
        apply(state, event, awaiting_po=awaiting_po)
    assert caught.value.state is state
    assert caught.value.event is event


def test_transition_table_is_exactly_the_expected_machine() -> None:
    assert {pair: target for pair, (target, _) in EXPECTED.items()} == dict(TRANSITIONS)


def test_awaiting_po_defaults_to_false() -> None:
    assert apply(S.TIER_DECISION_PENDING, E.TIER_ACCEPTED) is S.READY_TO_INVOICE


def test_transition_table_cannot_be_modified() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[(S.PAID, E.CANCEL)] = S.CANCELLED  # type: ignore[index]


def test_happy_path_with_tier_change_and_purchase_order() -> None:
    state = initial_state(
        tier_change_requested=True, wait_for_purchase_order=True, purchase_order_given=False
    )
    state = apply(state, E.TIER_REFUSED, awaiting_po=True)
    state = apply(state, E.PURCHASE_ORDER_RECEIVED)
    state = apply(state, E.INVOICE_ISSUED)
    state = apply(state, E.PAYMENT_RECORDED)
    assert state is S.PAID


@pytest.mark.parametrize("state", sorted(OPEN_STATES), ids=lambda s: s.value)
def test_every_open_state_can_be_cancelled(state: RequestState) -> None:
    assert apply(state, E.CANCEL) is S.CANCELLED


@pytest.mark.parametrize("state", sorted(FINAL_STATES), ids=lambda s: s.value)
def test_final_states_accept_no_event(state: RequestState) -> None:
    assert allowed_events(state) == ()


def test_allowed_events_list_the_table_in_declaration_order() -> None:
    assert allowed_events(S.TIER_DECISION_PENDING) == (
        E.TIER_ACCEPTED,
        E.TIER_REFUSED,
        E.PURCHASE_ORDER_RECEIVED,
        E.CANCEL,
    )
    assert allowed_events(S.INVOICED) == (E.INVOICE_REPLACED, E.PAYMENT_RECORDED, E.CANCEL)


def test_every_state_but_the_final_ones_can_be_left() -> None:
    assert {state for state in RequestState if allowed_events(state)} == OPEN_STATES


# --- initial state ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "tier_change, wait_for_po, po_given, expected",
    [
        (True, True, True, S.TIER_DECISION_PENDING),
        (True, True, False, S.TIER_DECISION_PENDING),
        (True, False, True, S.TIER_DECISION_PENDING),
        (True, False, False, S.TIER_DECISION_PENDING),
        (False, True, False, S.AWAITING_PURCHASE_ORDER),
        (False, True, True, S.READY_TO_INVOICE),
        (False, False, True, S.READY_TO_INVOICE),
        (False, False, False, S.READY_TO_INVOICE),
    ],
)
def test_submitted_request_starts_in_state_given_by_its_answers(
    tier_change: bool, wait_for_po: bool, po_given: bool, expected: RequestState
) -> None:
    assert initial_state(tier_change, wait_for_po, po_given) is expected


def test_a_request_is_never_created_in_a_final_state() -> None:
    created = {initial_state(*flags) for flags in itertools.product([False, True], repeat=3)}
    assert created <= OPEN_STATES


# --- open states and membership --------------------------------------------------------


def test_paid_and_cancelled_requests_are_not_open() -> None:
    assert FINAL_STATES == {S.PAID, S.CANCELLED}
    assert OPEN_STATES == set(RequestState) - FINAL_STATES
    assert not is_open(S.PAID)
    assert not is_open(S.CANCELLED)


@pytest.mark.parametrize("state", sorted(OPEN_STATES), ids=lambda s: s.value)
def test_unfinished_requests_are_open(state: RequestState) -> None:
    assert is_open(state)


@pytest.mark.parametrize("event", list(RequestEvent), ids=lambda e: e.value)
def test_only_a_recorded_payment_extends_the_membership(event: RequestEvent) -> None:
    assert extends_membership(event) is (event is E.PAYMENT_RECORDED)


# --- wording ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(RequestState), ids=lambda s: s.value)
def test_every_state_has_a_label_and_a_next_step(state: RequestState) -> None:
    assert state.label.strip()
    assert state.next_step.strip()


def test_state_labels_are_distinct() -> None:
    labels = [state.label for state in RequestState]
    assert len(set(labels)) == len(labels)


@pytest.mark.parametrize("event", list(RequestEvent), ids=lambda e: e.value)
def test_every_event_has_a_label(event: RequestEvent) -> None:
    assert event.label.strip()


def test_invalid_transition_explains_itself_in_french() -> None:
    with pytest.raises(InvalidTransition) as caught:
        apply(S.INVOICED, E.INVOICE_ISSUED)
    assert caught.value.message == (
        "Action impossible (« Émettre la facture ») : la demande est « Facturée »."
    )
    assert str(caught.value) == caught.value.message


def test_invalid_transition_is_a_domain_error_answered_as_a_conflict() -> None:
    error = InvalidTransition(S.PAID, E.CANCEL)
    assert isinstance(error, DomainError)
    assert error.status == 409


def test_states_and_events_are_stored_as_their_string_values() -> None:
    assert RequestState("awaiting_purchase_order") is S.AWAITING_PURCHASE_ORDER
    assert RequestEvent("payment_recorded") is E.PAYMENT_RECORDED
    assert S.PAID == "paid"
