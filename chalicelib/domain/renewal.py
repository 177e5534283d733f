"""The life of a renewal request (*demande de renouvellement*), as an explicit state machine.

States::

    (submission) ──► TIER_DECISION_PENDING ──tier accepted/refused──┐
         │                                                          ▼
         ├─────────────────────────────► AWAITING_PURCHASE_ORDER ──PO received──┐
         │                                                                      ▼
         └────────────────────────────────────────────────────────────► READY_TO_INVOICE
                                                                                │ invoice issued
                                                                                ▼
                                                         INVOICED ──payment recorded──► PAID
    any open state (all but PAID and CANCELLED) ──cancel──► CANCELLED

Decisions worth knowing:

- There is no "submitted" state. Submitting *creates* the request directly in the
  state given by ``initial_state``: tier change requested → TIER_DECISION_PENDING;
  else a purchase order awaited and not given → AWAITING_PURCHASE_ORDER; else
  READY_TO_INVOICE. A stored state nobody could ever be in would only be a trap;
  the submission itself is recorded by the request's submitter and date.
- A tier decision, accepted or refused (refused keeps the previous tier), leads
  to AWAITING_PURCHASE_ORDER if a purchase order is still awaited, otherwise to
  READY_TO_INVOICE. These are the only targets that depend on data, hence
  ``apply(state, event, awaiting_po=...)``; ``TRANSITIONS`` holds their target
  when no purchase order is awaited.
- A purchase order may arrive at any point before invoicing: while the tier is
  being decided (state unchanged, the later decision then skips the wait), while
  awaited, or when ready to invoice (state unchanged: its number goes on the
  invoice). Not once invoiced: an issued invoice is immutable.
- PAYMENT_RECORDED means *fully* paid; partial payments are recorded elsewhere
  and do not move the request.
- Cancelling is possible from every state but the final ones, including
  INVOICED: the caller then issues a credit note (*avoir*) for the invoice.
- An invoice is never edited: when one must be corrected (e.g. Chorus Pro rejected it for a
  wrong engagement number), INVOICE_REPLACED keeps the request INVOICED with a new invoice,
  after the credit note that cancels the old one.
- PAID and CANCELLED are final. A request is *open* in every other state: at
  most one open request per organisation and season. A PAID request is done,
  not open; a second one for the same season is prevented by the season rule,
  which offers no paid year. After a cancellation the member may submit again.
- The membership is extended only by an explicit event, never as a side effect
  of a pending request: among request events, only PAYMENT_RECORDED extends it
  (``extends_membership``). Staff validating a membership directly is an action
  on the membership, not on a request.
"""
from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType

from .errors import DomainError


class RequestState(str, Enum):
    """Where a renewal request stands."""

    TIER_DECISION_PENDING = "tier_decision_pending"
    AWAITING_PURCHASE_ORDER = "awaiting_purchase_order"
    READY_TO_INVOICE = "ready_to_invoice"
    INVOICED = "invoiced"
    PAID = "paid"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """The state's name as shown to members and staff."""
        return _STATE_LABELS[self]

    @property
    def next_step(self) -> str:
        """What the member should do (or expect) next, in one sentence."""
        return _NEXT_STEPS[self]

    @property
    def member_label(self) -> str:
        """The state's name for the member: what happens, not the staff's queue name."""
        if self is RequestState.READY_TO_INVOICE:
            return "Facture en cours d'émission"
        return _STATE_LABELS[self]

    @property
    def member_may_cancel(self) -> bool:
        """Whether the member may cancel online: any open state before the invoice is issued
        (an invoice is only cancelled by staff, with its credit note)."""
        return self in MEMBER_CANCELLABLE


class RequestEvent(str, Enum):
    """Something that happens to a renewal request after its submission."""

    TIER_ACCEPTED = "tier_accepted"
    TIER_REFUSED = "tier_refused"
    PURCHASE_ORDER_RECEIVED = "purchase_order_received"
    INVOICE_ISSUED = "invoice_issued"
    INVOICE_REPLACED = "invoice_replaced"  # a credit note cancels the invoice, a corrected one follows
    PAYMENT_RECORDED = "payment_recorded"
    CANCEL = "cancel"

    @property
    def label(self) -> str:
        """The action's name, e.g. for a staff button."""
        return _EVENT_LABELS[self]


_STATE_LABELS: Mapping[RequestState, str] = MappingProxyType({
    RequestState.TIER_DECISION_PENDING: "Changement de tranche à l'étude",
    RequestState.AWAITING_PURCHASE_ORDER: "En attente du bon de commande",
    RequestState.READY_TO_INVOICE: "Prête à facturer",
    RequestState.INVOICED: "Facturée",
    RequestState.PAID: "Payée",
    RequestState.CANCELLED: "Annulée",
})

_NEXT_STEPS: Mapping[RequestState, str] = MappingProxyType({
    RequestState.TIER_DECISION_PENDING: (
        "Nous étudions votre demande de changement de tranche tarifaire "
        "et vous répondrons par courriel."
    ),
    RequestState.AWAITING_PURCHASE_ORDER: (
        "Envoyez-nous votre bon de commande depuis « Mes adhésions » : "
        "nous émettrons la facture dès sa réception."
    ),
    RequestState.READY_TO_INVOICE: (
        "Rien à faire : votre facture est en cours d'émission. Elle apparaîtra ici dans "
        "quelques instants et un courriel vous préviendra dès qu'elle sera disponible."
    ),
    RequestState.INVOICED: (
        "Téléchargez votre facture dans « Historique des adhésions » "
        "et réglez-la selon le mode de paiement choisi."
    ),
    RequestState.PAID: "Rien d'autre à faire : votre adhésion est renouvelée. Merci !",
    RequestState.CANCELLED: (
        "Cette demande est annulée. Vous pouvez en enregistrer une nouvelle "
        "avec « Renouveler l'adhésion »."
    ),
})

_EVENT_LABELS: Mapping[RequestEvent, str] = MappingProxyType({
    RequestEvent.TIER_ACCEPTED: "Accepter le changement de tranche",
    RequestEvent.TIER_REFUSED: "Refuser le changement de tranche",
    RequestEvent.PURCHASE_ORDER_RECEIVED: "Enregistrer le bon de commande",
    RequestEvent.INVOICE_ISSUED: "Émettre la facture",
    RequestEvent.INVOICE_REPLACED: "Remplacer la facture (avoir puis facture corrigée)",
    RequestEvent.PAYMENT_RECORDED: "Enregistrer le paiement",
    RequestEvent.CANCEL: "Annuler la demande",
})

FINAL_STATES: frozenset[RequestState] = frozenset({RequestState.PAID, RequestState.CANCELLED})
OPEN_STATES: frozenset[RequestState] = frozenset(RequestState) - FINAL_STATES
MEMBER_CANCELLABLE: frozenset[RequestState] = OPEN_STATES - {RequestState.INVOICED}

# Tier decisions go to AWAITING_PURCHASE_ORDER instead when a purchase order is still awaited.
TIER_DECISIONS: frozenset[RequestEvent] = frozenset(
    {RequestEvent.TIER_ACCEPTED, RequestEvent.TIER_REFUSED}
)

_S = RequestState
_E = RequestEvent
TRANSITIONS: Mapping[tuple[RequestState, RequestEvent], RequestState] = MappingProxyType({
    (_S.TIER_DECISION_PENDING, _E.TIER_ACCEPTED): _S.READY_TO_INVOICE,
    (_S.TIER_DECISION_PENDING, _E.TIER_REFUSED): _S.READY_TO_INVOICE,
    (_S.TIER_DECISION_PENDING, _E.PURCHASE_ORDER_RECEIVED): _S.TIER_DECISION_PENDING,
    (_S.AWAITING_PURCHASE_ORDER, _E.PURCHASE_ORDER_RECEIVED): _S.READY_TO_INVOICE,
    (_S.READY_TO_INVOICE, _E.PURCHASE_ORDER_RECEIVED): _S.READY_TO_INVOICE,
    (_S.READY_TO_INVOICE, _E.INVOICE_ISSUED): _S.INVOICED,
    (_S.INVOICED, _E.INVOICE_REPLACED): _S.INVOICED,
    (_S.INVOICED, _E.PAYMENT_RECORDED): _S.PAID,
    **{(state, _E.CANCEL): _S.CANCELLED for state in _S if state in OPEN_STATES},
})
del _S, _E


class InvalidTransition(DomainError):
    """The event is not allowed in the request's current state; ``message`` says so in French."""

    status = 409  # the request is in the wrong state, not the input malformed

    def __init__(self, state: RequestState, event: RequestEvent) -> None:
        self.state = state
        self.event = event
        super().__init__(
            f"Action impossible (« {event.label} ») : la demande est « {state.label} »."
        )


def initial_state(
    tier_change_requested: bool, wait_for_purchase_order: bool, purchase_order_given: bool
) -> RequestState:
    """Return the state a request is created in when the member submits it."""
    if tier_change_requested:
        return RequestState.TIER_DECISION_PENDING
    if wait_for_purchase_order and not purchase_order_given:
        return RequestState.AWAITING_PURCHASE_ORDER
    return RequestState.READY_TO_INVOICE


def apply(state: RequestState, event: RequestEvent, *, awaiting_po: bool = False) -> RequestState:
    """Return the state after ``event``, or raise InvalidTransition.

    ``awaiting_po`` says the member asked to wait for a purchase order and none
    has been given yet; it only matters for tier decisions.
    """
    try:
        target = TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event) from None
    if event in TIER_DECISIONS and awaiting_po:
        return RequestState.AWAITING_PURCHASE_ORDER
    return target


def allowed_events(state: RequestState) -> tuple[RequestEvent, ...]:
    """Return the events allowed in ``state``, in declaration order (e.g. for staff buttons)."""
    return tuple(event for event in RequestEvent if (state, event) in TRANSITIONS)


def is_open(state: RequestState) -> bool:
    """True while the request is neither paid nor cancelled."""
    return state in OPEN_STATES


def extends_membership(event: RequestEvent) -> bool:
    """True for the only request event that extends the membership: a full payment recorded."""
    return event is RequestEvent.PAYMENT_RECORDED
