"""Chorus Pro, the public buyers' invoicing platform: the directory and a document's deposit.

Pure domain: no HTTP here (``adapters/chorus_pro.py``) and no storage
(``adapters/dynamo/chorus.py``).

- A public buyer is a *structure* of the Chorus Pro directory, found by its SIRET. It may be
  inactive (it cannot receive invoices), require a service code, an engagement number, both,
  or either one; it has services, of which only the active ones may be invoiced.
- Each invoice and credit note of a public buyer has one ``Deposit``: it is waiting until the
  platform has its flow (``flux``), then follows the flow's processing, then the invoice's
  statuses as the buyer's services and accountant move it, up to « Mise en paiement ».
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .model import PublicBuyerRequirement

PARIS = ZoneInfo("Europe/Paris")


class ChorusProError(Exception):
    """A Chorus Pro call that did not succeed; ``message`` is for staff, in French."""

    def __init__(self, message: str, *, status: int = 0, code: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class ChorusProUnavailable(ChorusProError):
    """No usable answer (network, timeout, 429, 5xx): try again later."""


class ChorusProRefused(ChorusProError):
    """The platform refused the call (4xx, or a non-zero ``codeRetour``)."""


@dataclass(frozen=True)
class BuyerService:
    code: str
    label: str


@dataclass(frozen=True)
class BuyerStructure:
    """A structure as the directory describes it."""

    siret: str
    name: str
    active: bool
    service_code_required: bool
    engagement_required: bool
    service_or_engagement: bool = False
    services: tuple[BuyerService, ...] = ()  # the active ones only

    @property
    def requirement(self) -> PublicBuyerRequirement:
        if self.service_code_required and self.engagement_required:
            return PublicBuyerRequirement.BOTH
        if self.service_code_required:
            return PublicBuyerRequirement.SERVICE_CODE
        if self.engagement_required:
            return PublicBuyerRequirement.ENGAGEMENT
        if self.service_or_engagement:
            return PublicBuyerRequirement.EITHER
        return PublicBuyerRequirement.NONE

    def service(self, code: str) -> BuyerService | None:
        wanted = code.strip().upper()
        return next((s for s in self.services if s.code.upper() == wanted), None)


@dataclass(frozen=True)
class DirectoryAnswer:
    """What the directory said about a SIRET: ``found`` (with the structure), ``unknown`` (no
    such structure), or ``unavailable`` (the directory did not answer: the organisation's
    requirement as staff set it applies, and nothing is refused for want of a check)."""

    outcome: str  # found | unknown | unavailable
    siret: str = ""
    structure: BuyerStructure | None = None
    problem: str = ""  # why unavailable, for staff

    @property
    def found(self) -> bool:
        return self.structure is not None


UNKNOWN_SIRET = ("Ce SIRET ne figure pas dans l'annuaire Chorus Pro : vérifiez-le (c'est celui de la "
                 "structure qui reçoit et paie la facture).")
INACTIVE_STRUCTURE = ("Cette structure est inactive dans Chorus Pro : elle ne peut pas recevoir de facture. "
                      "Indiquez le SIRET de la structure qui paie, ou contactez-nous.")


def check_buyer(answer: DirectoryAnswer | None, service_code: str, errors: dict[str, str],
                fallback: PublicBuyerRequirement) -> tuple[str, PublicBuyerRequirement]:
    """The service code (as the directory spells it) and the requirement that apply, adding to
    ``errors`` what Chorus Pro would reject. Without an answer, ``fallback`` (staff's setting)."""
    service_code = service_code.strip()
    if answer is None or answer.outcome == "unavailable":
        requirement = fallback
        if requirement in (PublicBuyerRequirement.SERVICE_CODE, PublicBuyerRequirement.BOTH) and not service_code:
            errors.setdefault("service_code", "Votre structure exige un code service sur ses factures : "
                                              "indiquez-le (il figure dans l'annuaire Chorus Pro).")
        return service_code, requirement
    if answer.outcome == "unknown" or answer.structure is None:
        errors.setdefault("siret", UNKNOWN_SIRET)
        return service_code, fallback
    structure = answer.structure
    if not structure.active:
        errors.setdefault("siret", INACTIVE_STRUCTURE)
    requirement = structure.requirement
    if service_code:
        service = structure.service(service_code)
        if service is None:
            known = ", ".join(s.code for s in structure.services)
            errors.setdefault("service_code", (
                f"Ce code service n'existe pas (ou plus) chez {structure.name} dans Chorus Pro. "
                + (f"Choisissez l'un des services de la liste : {known}." if known else
                   "Cette structure n'a pas de service : laissez ce champ vide.")))
        else:
            service_code = service.code
    elif structure.service_code_required:
        errors.setdefault("service_code", f"{structure.name} exige un code service sur ses factures : "
                                          "choisissez le service qui reçoit la facture.")
    return service_code, requirement


# --- deposits --------------------------------------------------------------------------

FLOW_INTEGRATED = ("IN_INTEGRE", "IN_INTEGRE_PARTIEL")
FLOW_REJECTED = ("IN_REJETE", "IN_INCIDENTE")

STATUS_LABELS = {
    "DEPOSEE": "Déposée",
    "EN_COURS_ACHEMINEMENT": "En cours d'acheminement",
    "MISE_A_DISPOSITION": "Mise à disposition de l'acheteur",
    "A_RECYCLER": "À recycler (mauvais destinataire)",
    "REJETEE": "Rejetée",
    "SUSPENDUE": "Suspendue",
    "COMPLETEE": "Complétée",
    "SERVICE_FAIT": "Service fait",
    "MANDATEE": "Mandatée",
    "MISE_A_DISPOSITION_COMPTABLE": "Mise à disposition du comptable",
    "COMPTABILISEE": "Comptabilisée",
    "MISE_EN_PAIEMENT": "Mise en paiement",
}
# What the member reads on « Mes adhésions » (the accountant's steps in plain French).
MEMBER_LABELS = {
    "DEPOSEE": "reçue par Chorus Pro",
    "EN_COURS_ACHEMINEMENT": "en cours d'acheminement vers vos services",
    "MISE_A_DISPOSITION": "transmise à vos services",
    "A_RECYCLER": "signalée comme mal adressée : nous la corrigeons",
    "REJETEE": "rejetée par vos services : nous la corrigeons",
    "SUSPENDUE": "suspendue par vos services : nous les contactons",
    "COMPLETEE": "complétée, en cours de traitement",
    "SERVICE_FAIT": "service fait constaté",
    "MANDATEE": "mandatée, transmise au comptable public",
    "MISE_A_DISPOSITION_COMPTABLE": "transmise au comptable public",
    "COMPTABILISEE": "prise en charge par le comptable public",
    "MISE_EN_PAIEMENT": "mise en paiement",
}
FINAL_STATUSES = ("REJETEE", "MISE_EN_PAIEMENT")
ACTION_STATUSES = ("REJETEE", "SUSPENDUE", "A_RECYCLER")
ALERT_STATUSES = ACTION_STATUSES  # each one emails staff, once per occurrence

# A deposit whose answer was lost is looked up before any new deposit; a flow may take this long
# to be integrated (and found) on the platform, so a new deposit waits for it.
LOST_ANSWER_GRACE = timedelta(hours=2)
MAX_BACKOFF = timedelta(hours=6)


def retry_delay(attempts: int) -> timedelta:
    """After ``attempts`` failed tries: 5 min, 10, 20… up to 6 hours."""
    return min(timedelta(minutes=5) * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


@dataclass(frozen=True)
class StatusEvent:
    status: str
    at: datetime
    comment: str = ""

    @property
    def label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


@dataclass(frozen=True)
class Deposit:
    """One document's way through Chorus Pro. Keyed by the document's number."""

    number: str
    document_id: str
    kind: str  # invoice | credit_note
    org_id: str
    year: int
    created_at: datetime
    request_id: str = ""
    flux: str = ""  # the platform's flow number, once the deposit answered
    deposited_at: datetime | None = None
    attempt_started_at: datetime | None = None  # a try without a flow number may have been lost
    attempts: int = 0
    next_try_at: datetime | None = None
    last_error: str = ""
    flow_state: str = ""
    flow_errors: tuple[str, ...] = ()
    cpp_id: int | None = None
    status: str = ""
    history: tuple[StatusEvent, ...] = ()
    resolved_by: str = ""  # the credit note that cancelled a rejected invoice
    version: int = 0

    @property
    def flow_rejected(self) -> bool:
        return self.flow_state in FLOW_REJECTED

    @property
    def final(self) -> bool:
        # An invoice a credit note cancelled needs no more follow-up once it is on the platform;
        # one not deposited yet is still deposited (then its credit note): the buyer's books get
        # both documents, as numbered.
        return self.flow_rejected or self.status in FINAL_STATUSES or (bool(self.resolved_by) and bool(self.flux))

    @property
    def needs_action(self) -> bool:
        if self.resolved_by:
            return False
        return (self.flow_rejected or self.status in ACTION_STATUSES
                or (not self.flux and self.attempts >= 3 and bool(self.last_error)))

    @property
    def payment_expected(self) -> bool:
        return self.status == "MISE_EN_PAIEMENT"

    @property
    def status_at(self) -> datetime | None:
        return self.history[-1].at if self.history else self.deposited_at

    @property
    def tone(self) -> str:
        """How pages colour its status: action, paid (payment expected) or progress."""
        return "action" if self.needs_action else ("paid" if self.payment_expected else "progress")

    @property
    def reason(self) -> str:
        """Why it needs action: the platform's words."""
        if self.flow_rejected:
            return " ; ".join(self.flow_errors) or "Flux rejeté par Chorus Pro."
        if self.history and self.history[-1].status in ACTION_STATUSES:
            return self.history[-1].comment
        return self.last_error

    @property
    def stage(self) -> str:
        """A key for lists and filters: waiting, sent, flow_rejected, or the invoice's status."""
        if self.flow_rejected:
            return "flow_rejected"
        if self.status:
            return self.status
        return "sent" if self.flux else "waiting"

    @property
    def staff_label(self) -> str:
        if self.resolved_by:
            return f"Remplacée (avoir {self.resolved_by})"
        if self.flow_rejected:
            return "Dépôt rejeté"
        if self.status:
            label = STATUS_LABELS.get(self.status, self.status)
            return "Mise en paiement — paiement attendu" if self.payment_expected else label
        if self.flux:
            return "Déposée, en cours d'intégration"
        return "Dépôt en échec, nouvel essai prévu" if self.last_error else "À déposer"

    @property
    def member_label(self) -> str:
        """« Facture déposée sur Chorus Pro le … » and where it stands, or "" before the deposit."""
        if not self.flux or self.deposited_at is None:
            return ""
        when = self.deposited_at.astimezone(PARIS).strftime("%d/%m/%Y")
        noun = "Avoir déposé" if self.kind == "credit_note" else "Facture déposée"
        if self.resolved_by:
            return f"{noun} sur Chorus Pro le {when}, annulée par l'avoir {self.resolved_by}"
        if self.flow_rejected:
            return f"{noun} sur Chorus Pro le {when}, refusée par la plateforme : nous la corrigeons"
        state = MEMBER_LABELS.get(self.status, "en cours d'intégration")
        return f"{noun} sur Chorus Pro le {when} — {state}"

    def new_events(self, events: list[StatusEvent]) -> list[StatusEvent]:
        """The platform's history events not recorded yet (the history only grows)."""
        return events[len(self.history):] if len(events) >= len(self.history) else []

    def with_history(self, events: list[StatusEvent], current: str) -> Deposit:
        return replace(self, history=tuple(events), status=current or (events[-1].status if events else self.status))


STAGE_FILTERS = {
    "action": "Chorus Pro : action requise",
    "in_progress": "Chorus Pro : en cours",
    "payment_expected": "Chorus Pro : mise en paiement",
    "waiting": "Chorus Pro : à déposer",
}


def counts(deposits: list[Deposit]) -> dict[str, int]:
    """The dashboard's figures: how many deposits each filter of « Demandes » lists."""
    return {key: sum(matches(d, key) for d in deposits) for key in STAGE_FILTERS}


def matches(deposit: Deposit | None, wanted: str) -> bool:
    if deposit is None:
        return False
    if wanted == "action":
        return deposit.needs_action
    if wanted == "payment_expected":
        return deposit.payment_expected and not deposit.needs_action
    if wanted == "waiting":
        return not deposit.flux and not deposit.needs_action
    if wanted == "in_progress":
        return bool(deposit.flux) and not deposit.final and not deposit.needs_action
    return False

