"""What a destructive staff action will do, said before it is done.

« Annuler la demande », « Désactiver la structure » and « Retirer » a contact first show a page
that states the consequences, worked out from the data as it is now; only that page's
« Confirmer » (a POST with ``confirmer=1``) acts. Nothing here writes anything.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..domain.errors import DomainError, InvoiceHasPayments, ValidationError
from ..domain.formatting import format_eur
from ..domain.renewal import InvalidTransition, RequestEvent, RequestState
from ..runtime import Runtime
from . import admin_members, chorus, staff_requests

CONFIRMED = "1"  # the value of ``confirmer`` that the confirmation page posts
NO_INVOICE = "aucune"  # ``facture`` when the page said no invoice would be cancelled


@dataclass(frozen=True)
class Confirmation:
    """A confirmation page: what will happen, and the form that does it."""

    title: str  # « Annuler la demande 2027 de Ville de Montclair ? »
    consequences: list[str]  # one sentence each, in French
    action: str  # where « Confirmer » posts
    fields: dict[str, str]  # the hidden fields posted with ``confirmer=1`` (the CSRF token apart)
    confirm_label: str
    back: str  # the « Retour » link: the page the action was started from
    nav: str  # the staff menu entry to mark as current
    warnings: list[str] = field(default_factory=list)  # shown apart, before the button


class ChangedSinceShown(DomainError):
    status = 409

    def __init__(self, message: str):
        super().__init__(message)


# --- « Annuler la demande » ----------------------------------------------------------------


def request_cancellation(rt: Runtime, org_id: str, year: int, reason: str) -> Confirmation:
    """What cancelling the season's request of ``org_id`` will do. The reason is checked first
    (its message then comes back next to the field); a request the state no longer lets cancel
    raises ``InvalidTransition`` as the action itself would."""
    reason = staff_requests._check_text(reason, "reason", staff_requests.REASON_MAX,
                                        required="Indiquez le motif de l'annulation.")
    detail = staff_requests.request_detail(rt, org_id, year)
    request, org = detail.request, detail.organisation
    if staff_requests.CANCEL not in detail.actions:
        raise InvalidTransition(request.state, RequestEvent.CANCEL)
    name = org.name if org is not None else request.organisation_name
    path = f"/admin/demandes/{org_id}/{year}"
    invoiced = request.state is RequestState.INVOICED and bool(request.invoice_number)
    said = [f"La demande {year} de {name} passera à l'état « Annulée » ; la structure pourra ensuite en "
            f"enregistrer une nouvelle pour {year}."]
    if invoiced and detail.paid:
        raise InvoiceHasPayments()  # as the credit note itself would be refused: say it now
    if invoiced:
        total = f" ({format_eur(detail.invoice_total)})" if detail.invoice_total is not None else ""
        said.append(f"La facture {request.invoice_number}{total} sera annulée par un avoir du même montant, "
                    f"qui porte le motif : « {reason} ».")
        said.append(_credit_note_goes_to(rt, org))
    else:
        said.append("Aucune facture n'a été émise : aucun avoir ne sera émis.")
    said.append("Les contacts de la structure ne sont pas prévenus par courriel : informez-les si nécessaire.")
    said.append("L'annulation est définitive ; elle figurera au journal avec son motif.")
    return Confirmation(
        title=f"Annuler la demande {year} de {name} ?", consequences=said, action=f"{path}/annulation",
        fields={"reason": reason, "facture": request.invoice_number if invoiced else NO_INVOICE},
        confirm_label="Confirmer l'annulation et émettre l'avoir" if invoiced else "Confirmer l'annulation",
        back=path, nav="requests")


def _credit_note_goes_to(rt: Runtime, org) -> str:
    if org is None:
        return "L'avoir sera enregistré avec les documents de la structure."
    email = org.invoice_email
    if chorus.goes_to_chorus(rt, org):
        also = f", et envoyé par courriel à {email}" if rt.config.chorus_also_email and email else ""
        return f"L'avoir sera déposé sur Chorus Pro pour {org.name}{also}."
    if email:
        attached = " avec son PDF" if org.attach_invoices else ""
        return f"L'avoir sera envoyé par courriel{attached} à l'adresse de facturation {email}."
    return "L'avoir sera enregistré avec les documents de la structure (aucune adresse de facturation connue)."


def check_cancellation_as_shown(rt: Runtime, org_id: str, year: int, shown_invoice: str) -> None:
    """Refuse a confirmed cancellation when the invoice it would credit is not the one its page
    announced (issued, or replaced, in between). ``shown_invoice`` "" (a form without it) checks nothing."""
    if not shown_invoice:
        return
    current = rt.renewals.latest(org_id, year)
    if current is None or current.state is not RequestState.INVOICED:
        now = ""
    else:
        now = current.invoice_number
    if (now or NO_INVOICE) != shown_invoice:
        raise ChangedSinceShown(
            "La demande a changé depuis la page de confirmation"
            + (f" : la facture {now} a été émise entre-temps" if now else "")
            + ". Rien n'a été annulé : vérifiez la demande puis recommencez.")


# --- « Désactiver la structure » -----------------------------------------------------------


def organisation_disabling(rt: Runtime, org_id: str) -> Confirmation | None:
    """What disabling the organisation will do; None when it is disabled already (nothing to ask)."""
    org = admin_members.get_organisation(rt, org_id)
    if not org.active:
        return None
    path = f"/admin/structures/{org_id}"
    contacts = [c for c in rt.contacts.for_organisation(org_id) if c.active and not c.is_staff]
    said = [f"{org.name} n'apparaîtra plus parmi les structures actives et ne recevra plus ni l'avis de "
            "renouvellement ni les relances (demande, bon de commande, facture impayée)."]
    if contacts:
        people = ", ".join(f"{c.name} ({c.email})" for c in contacts)
        said.append(f"Ses contacts gardent leur compte ({people}) : ils pourront encore se connecter et "
                    "télécharger leurs documents, mais plus demander de devis ni renouveler l'adhésion.")
    else:
        said.append("Elle n'a aucun contact actif.")
    open_requests = {}
    for request in rt.renewals.for_organisation(org_id):  # newest attempt of each season first
        open_requests.setdefault(request.year, request)
    warnings = [f"La demande {r.year} (« {r.state.label} ») reste en l'état : annulez-la depuis sa page si "
                "l'adhésion ne doit pas être facturée." for r in open_requests.values() if r.is_open]
    said.append("Son historique (adhésions, demandes, factures, paiements) est conservé ; vous pourrez la "
                "réactiver à tout moment.")
    return Confirmation(
        title=f"Désactiver {org.name} ?", consequences=said, action=f"{path}/statut", fields={"active": "non"},
        confirm_label="Confirmer la désactivation", back=path, nav="organisations", warnings=warnings)


# --- « Retirer » a contact -----------------------------------------------------------------


def contact_removal(rt: Runtime, actor: str, contact_id: str) -> Confirmation | None:
    """What removing (deactivating) the contact will do; None when it is inactive already.
    Refused at once (ValidationError) when the action itself would be: one's own account, the
    team's last active account."""
    contact = admin_members.get_contact(rt, contact_id)
    if not contact.active:
        return None
    admin_members._refuse_self(actor, contact, "désactiver")
    if contact.is_staff and not admin_members._other_active_staff(rt, contact):
        raise ValidationError({"form": "Il doit rester au moins un compte actif dans l'équipe."})
    who = f"{contact.name} ({contact.email})"
    said = [f"{who} ne pourra plus se connecter : ses sessions en cours seront fermées et les liens de mot de "
            "passe déjà envoyés ne fonctionneront plus."]
    warnings = []
    if contact.is_staff:
        said.append("Il n'aura plus accès aux pages de l'équipe.")
        back, nav, title = "/admin/equipe", "team", f"Désactiver le compte de {contact.name} ?"
    else:
        org = rt.organisations.get(contact.org_id) if contact.org_id else None
        org_name = org.name if org is not None else "sa structure"
        if contact.receives_notices:
            said.append("Il ne recevra plus l'avis de renouvellement ni les relances.")
        others = [c for c in rt.contacts.for_organisation(contact.org_id or "")
                  if c.active and not c.is_staff and c.contact_id != contact.contact_id]
        if not others:
            warnings.append(f"C'est le dernier contact actif de {org_name} : plus personne ne pourra renouveler "
                            "l'adhésion en ligne ni ne recevra les avis de la structure.")
        elif not any(c.receives_notices for c in others):
            warnings.append(f"Aucun autre contact de {org_name} ne reçoit les avis : la structure n'en recevra plus.")
        back = f"/admin/structures/{contact.org_id}" if contact.org_id else "/admin/structures"
        nav, title = "organisations", f"Retirer {contact.name} de {org_name} ?"
    said.append("Son historique est conservé (demandes, journal) ; vous pourrez le réactiver.")
    return Confirmation(
        title=title, consequences=said, action=f"/admin/contacts/{contact_id}/statut", fields={"active": "non"},
        confirm_label="Confirmer le retrait" if not contact.is_staff else "Confirmer la désactivation",
        back=back, nav=nav, warnings=warnings)
