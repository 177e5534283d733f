"""Domain errors. The web layer maps each class to one HTTP answer (see ``web.errors``)."""
from __future__ import annotations


class DomainError(Exception):
    """Base class: ``message`` is French and safe to show to the user."""

    status = 400
    message = "La demande n'a pas pu être traitée."

    def __init__(self, message: str | None = None):
        if message is not None:
            self.message = message
        super().__init__(self.message)


class NotFound(DomainError):
    status = 404
    message = "Page ou document introuvable."


class Forbidden(DomainError):
    status = 403
    message = "Vous n'avez pas accès à cette page."


class AlreadyExists(DomainError):
    status = 409
    message = "Cet élément existe déjà."


class ConcurrentUpdate(DomainError):
    status = 409
    message = "Les données ont été modifiées entre-temps. Rechargez la page et recommencez."


class ValidationError(DomainError):
    """Bad input: ``errors`` maps a form field name to its French message."""

    status = 400
    message = "Le formulaire contient des erreurs."

    def __init__(self, errors: dict[str, str], message: str | None = None):
        self.errors = dict(errors)
        super().__init__(message)


class InvoiceHasPayments(DomainError):
    """A credit note would cancel an invoice some payment was already recorded against."""

    status = 409
    message = ("Un paiement est déjà enregistré sur cette facture : elle ne peut plus être annulée par un avoir. "
               "Contactez l'équipe pour régulariser (remboursement puis avoir).")


class OrganisationInactive(DomainError):
    """A deactivated organisation cannot get a quote or renew: only the association reactivates it."""

    status = 403
    message = ("Votre structure n'est plus active dans nos adhérents : le devis et le renouvellement en ligne ne "
               "sont pas possibles. Contactez l'association pour la réactiver.")
