"""Helpers shared by the staff pages: staff check, notices after a redirect, CSV and uploads."""
from __future__ import annotations

from urllib.parse import quote

from chalice import Response

from ..domain.errors import DomainError
from .http import BadEncoding, PayloadTooLarge, RequestContext

# Short codes put in the query string after an action, shown as a French notice.
NOTICES = {
    "structure-creee": "La structure a été créée.",
    "structure-modifiee": "La structure a été modifiée.",
    "structure-desactivee": "La structure a été désactivée.",
    "structure-activee": "La structure a été réactivée.",
    "contact-ajoute": "Le contact a été ajouté.",
    "contact-ajoute-invite": "Le contact a été ajouté et a reçu une invitation par courriel.",
    "contact-modifie": "Le contact a été modifié.",
    "contact-desactive": "Le contact a été retiré : il ne peut plus se connecter ni recevoir d'avis.",
    "contact-active": "Le contact a été réactivé.",
    "invitation": "Une invitation (lien de création du mot de passe) a été envoyée par courriel.",
    "role": "Le rôle a été modifié ; le compte devra se reconnecter.",
    "avis": "La réception des avis a été modifiée.",
    "membre-ajoute": "Le compte a été ajouté à l'équipe.",
    "second-facteur": "Le second facteur a été réinitialisé : la personne en enregistrera un nouveau "
                      "à sa prochaine connexion. Ses sessions ont été fermées.",
    "code-de-secours": "Vous vous êtes connecté avec un code de secours, qui ne servira plus. Si vous avez "
                       "perdu votre téléphone, demandez à un autre membre de l'équipe de réinitialiser votre "
                       "second facteur.",
    "tranche-ajoutee": "La tranche a été ajoutée.",
    "tranche-modifiee": "La tranche a été enregistrée.",
    "tranche-supprimee": "La tranche a été supprimée.",
    "grille-copiee": "La grille a été recopiée.",
    "version-ouverte": "Une nouvelle version de la grille est en préparation : modifiez-la puis publiez-la.",
    "version-publiee": "La nouvelle version de la grille est publiée ; la précédente est archivée.",
    "version-abandonnee": "La nouvelle version a été abandonnée.",
    "parametres": "Les paramètres ont été enregistrés.",
    "logo-enregistre": "Le logo a été enregistré : il s'affiche sur la page d'accueil.",
    "logo-supprime": "Le logo a été retiré.",
    "tranche-decidee": "La décision sur la tranche est enregistrée ; les contacts de la structure ont été prévenus par courriel.",
    "bon-de-commande": "Bon de commande enregistré.",
    "facture-emise": "Facture émise.",
    "paiement": "Le paiement a été enregistré.",
    "paiement-solde": "Le paiement a été enregistré : la facture est soldée et l'adhésion renouvelée.",
    "reglement-finalise": "Le règlement est finalisé : l'adhésion est renouvelée, l'attestation émise et la structure prévenue.",
    "demande-annulee": "La demande a été annulée.",
    "demande-annulee-avoir": "La demande a été annulée et l'avoir de la facture a été émis.",
    "facture-remplacee": "L'avoir de l'ancienne facture a été émis et la facture corrigée l'a remplacée.",
}


def notice(ctx: RequestContext) -> str:
    return NOTICES.get(ctx.query("fait", 40), "")


def with_notice(path: str, code: str) -> str:
    return f"{path}?fait={quote(code)}"


def staff_id(ctx: RequestContext) -> str:
    """The staff member's contact id (every admin view starts here)."""
    return ctx.require_staff().contact_id


def csv_response(filename: str, text: str) -> Response:
    """A CSV download: text (no binary encoding needed), UTF-8, as an attachment."""
    return Response(body=text, status_code=200, headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"',
    })


class NotMultipart(DomainError):
    status = 400
    message = "Envoyez le fichier depuis le formulaire de la page."


def multipart_form(ctx: RequestContext, fields: dict[str, int], max_file_bytes: int
                   ) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """Parse a multipart/form-data body, check CSRF; return (text fields, files: name → (filename, bytes)).

    Parsed with the standard library's ``email`` package; the body is limited to
    ``max_file_bytes`` plus room for the other fields.
    """
    content_type = ctx.request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise NotMultipart()
    raw = ctx.request.raw_body or b""
    if len(raw) > max_file_bytes + 64 * 1024:
        raise PayloadTooLarge("Le fichier dépasse la taille acceptée (2 Mo).")
    import email.parser  # here, not at import: only the few upload forms need it
    import email.policy

    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        raise NotMultipart()
    values: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    try:
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                files.setdefault(name, (str(filename), payload))
            elif name in fields or name == "csrf_token":
                values.setdefault(name, payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, TypeError) as error:
        raise BadEncoding() from error
    ctx.check_csrf(values)
    return {name: values.get(name, "")[:limit] for name, limit in fields.items()}, files
