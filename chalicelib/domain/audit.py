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
    "password.reset_done": "Mot de passe modifié par lien",
    "access.denied": "Accès refusé",
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
