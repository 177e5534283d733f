"""The audit trail: who did what, when, with the values before and after.

Secrets never enter it: fields named like passwords, tokens or links, and values that look
like presigned URLs, are masked before anything is stored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

MASK = "[masqué]"
_SECRET_KEY = re.compile(r"pass|token|jeton|csrf|secret|hash|signature|url|link|lien|cookie", re.I)
_SECRET_VALUE = re.compile(r"X-Amz-Signature|X-Amz-Credential|jeton=|\$argon2", re.I)

# action → French label for the audit page
ACTIONS = {
    "login.success": "Connexion réussie",
    "login.failure": "Échec de connexion",
    "login.locked": "Compte bloqué après des échecs répétés",
    "logout": "Déconnexion",
    "password.reset_requested": "Lien de nouveau mot de passe envoyé",
    "password.reset_limited": "Demande de lien refusée (trop de demandes en une heure)",
    "password.changed": "Mot de passe changé depuis « Mon compte »",
    "password.change_refused": "Changement de mot de passe refusé (mot de passe actuel incorrect)",
    "password.reset_done": "Mot de passe modifié par lien",
    "access.denied": "Accès refusé",
    # renewal requests
    "renewal.submitted": "Demande de renouvellement enregistrée",
    "renewal.purchase_order": "Bon de commande enregistré",
    "renewal.tier_decided": "Changement de tranche décidé",
    "renewal.invoiced": "Demande facturée",
    "renewal.cancelled": "Demande de renouvellement annulée",
    "renewal.paid": "Demande entièrement payée",
    "payment.recorded": "Paiement enregistré",
    "membership.paid": "Adhésion enregistrée comme payée",
    "organisation.billing_updated": "Coordonnées de facturation corrigées par la structure",
    # staff administration
    "organisation.created": "Structure créée",
    "organisation.updated": "Structure modifiée",
    "organisation.disabled": "Structure désactivée",
    "organisation.enabled": "Structure réactivée",
    "contact.added": "Contact ajouté",
    "contact.updated": "Contact modifié",
    "contact.email_changed": "Adresse de connexion changée (sessions fermées, liens annulés)",
    "contact.disabled": "Contact retiré (désactivé)",
    "contact.enabled": "Contact réactivé",
    "contact.invited": "Invitation envoyée (lien de création du mot de passe)",
    "contact.role_changed": "Rôle d'un compte modifié",
    "contact.notices_changed": "Réception des avis modifiée",
    "tariff.tier_added": "Tranche tarifaire ajoutée",
    "tariff.tier_updated": "Tranche tarifaire modifiée",
    "tariff.tier_removed": "Tranche tarifaire supprimée",
    "tariff.grid_copied": "Grille tarifaire recopiée sur une nouvelle année",
    "tariff.version_started": "Nouvelle version de grille commencée",
    "tariff.version_published": "Nouvelle version de grille publiée",
    "tariff.version_discarded": "Nouvelle version de grille abandonnée",
    "settings.updated": "Paramètres de l'association modifiés",
    "export.downloaded": "Export CSV téléchargé",
    "document.invoice_issued": "Facture émise",
    "document.credit_note_issued": "Avoir émis",
    "document.downloaded": "Document téléchargé",
    "import.checked": "Import CSV vérifié (simulation)",
    "import.confirmed": "Import CSV appliqué",
    # renewal campaign
    "campaign.started": "Campagne de renouvellement lancée à la main",
}


def redact(value):
    """A copy of ``value`` with every secret masked (dicts and lists walked recursively)."""
    if isinstance(value, dict):
        return {k: (MASK if _SECRET_KEY.search(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str) and _SECRET_VALUE.search(value):
        return MASK
    return value


@dataclass(frozen=True)
class AuditEvent:
    event_id: str
    at: datetime
    actor: str  # contact id, an email for anonymous attempts, or "system"
    action: str
    target: str = ""
    org_id: str | None = None
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return ACTIONS.get(self.action, self.action)
