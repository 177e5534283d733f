"""The Chorus Pro API client: the directory, the deposit of a Factur-X PDF, and its follow-up.

The same code talks to the real platform (through the PISTE gateway) and to the local
stand-in (``chalicelib/local/chorus_standin.py``); only the URLs and credentials differ.

- **Authentication**: an OAuth2 *client credentials* token from PISTE (``POST
  {oauth_url}/api/oauth/token``), kept until a minute before it expires and fetched again on a
  401; and the Chorus Pro *technical account* in the ``cpro-account`` header
  (``base64(login:password)``). Both come from one SSM SecureString (JSON).
- **Calls**: JSON ``POST`` to ``{api_url}/cpro/...``. Every call has a timeout (3 s to connect,
  10 s to read, 20 s for a deposit) and is retried on 429 (after its ``Retry-After``, at most
  5 s) and on 5xx or a broken connection, 3 attempts in all, with jittered exponential backoff.
  A deposit is *not* retried after a broken connection: its answer may have been lost after
  the platform took it; the caller looks the document up before depositing again.
- **Errors**: ``ChorusProUnavailable`` (retry later) and ``ChorusProRefused`` (the platform
  said no: retrying the same call will not help), each with a French message for staff.

Uses urllib3, which botocore already brings into the Lambda package.
"""
from __future__ import annotations

import base64
import json
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlencode

from ..domain.chorus import (  # the ChorusPro* errors live in the domain (re-exported here)
    BuyerService,
    BuyerStructure,
    ChorusProError,  # noqa: F401
    ChorusProRefused,
    ChorusProUnavailable,
    StatusEvent,
)

FACTURX_SYNTAX = "IN_DP_E2_CII_FACTURX"
ATTEMPTS = 3
CONNECT_SECONDS = 3.0
READ_SECONDS = 10.0
DEPOSIT_READ_SECONDS = 20.0
MAX_RETRY_AFTER = 5.0


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str
    login: str
    password: str

    @classmethod
    def from_json(cls, text: str | bytes) -> Credentials:
        try:
            data = json.loads(text)
            return cls(str(data["client_id"]), str(data["client_secret"]), str(data["login"]), str(data["password"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ChorusProRefused("Les identifiants Chorus Pro sont mal formés : le paramètre doit contenir "
                                   "client_id, client_secret, login et password (JSON).") from error

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, login={self.login!r})"


@dataclass(frozen=True)
class Deposited:
    flux: str
    on: str  # the platform's deposit date (YYYY-MM-DD)


@dataclass(frozen=True)
class FlowReport:
    state: str
    errors: tuple[str, ...]


@dataclass(frozen=True)
class FoundInvoice:
    cpp_id: int
    number: str
    kind: str  # FACTURE | AVOIR
    status: str
    flux: str


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(timezone.utc)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class ChorusProClient:
    def __init__(self, api_url: str, oauth_url: str, credentials: Credentials, *,
                 sleep=time.sleep, monotonic=time.monotonic):
        import urllib3

        self.api_url = api_url.rstrip("/")
        self.oauth_url = oauth_url.rstrip("/")
        self._credentials = credentials
        self._http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(CONNECT_SECONDS, READ_SECONDS))
        self._sleep = sleep
        self._monotonic = monotonic
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    # --- plumbing --------------------------------------------------------------------
    def _access_token(self, renew: bool = False) -> str:
        with self._lock:
            if not renew and self._token and self._monotonic() < self._token[1]:
                return self._token[0]
            c = self._credentials
            body = urlencode({"grant_type": "client_credentials", "client_id": c.client_id,
                              "client_secret": c.client_secret, "scope": "openid"})
            status, data = self._send(f"{self.oauth_url}/api/oauth/token", body.encode(),
                                      {"Content-Type": "application/x-www-form-urlencoded"}, retry_lost=True)
            if status in (400, 401, 403):
                raise ChorusProRefused("PISTE refuse les identifiants de l'application (client_id / client_secret) : "
                                       "vérifiez-les dans le paramètre SSM.", status=status)
            token = data.get("access_token") if isinstance(data, dict) else None
            if status != 200 or not token:
                raise ChorusProUnavailable(f"PISTE n'a pas délivré de jeton (HTTP {status}).", status=status)
            lifetime = float(data.get("expires_in") or 3600)
            self._token = (str(token), self._monotonic() + max(lifetime - 60, lifetime / 2))
            return self._token[0]

    def _send(self, url: str, body: bytes, headers: dict[str, str], *, retry_lost: bool,
              read_seconds: float = READ_SECONDS) -> tuple[int, object]:
        """POST with retries on 429/5xx (and a broken connection if ``retry_lost``)."""
        import urllib3

        for attempt in range(1, ATTEMPTS + 1):
            wait = 0.0
            try:
                response = self._http.request("POST", url, body=body, headers=headers,
                                              timeout=urllib3.Timeout(CONNECT_SECONDS, read_seconds))
            except urllib3.exceptions.HTTPError as error:
                connected = not isinstance(error, (urllib3.exceptions.ConnectTimeoutError,
                                                   urllib3.exceptions.NewConnectionError))
                if (connected and not retry_lost) or attempt == ATTEMPTS:
                    raise ChorusProUnavailable(
                        "Chorus Pro ne répond pas (délai dépassé ou connexion interrompue) : "
                        "nouvel essai automatique.") from error
            else:
                try:
                    data = json.loads(response.data or b"{}")
                except ValueError:
                    data = {}
                if response.status == 429 or response.status >= 500:
                    if attempt == ATTEMPTS:
                        raise ChorusProUnavailable(
                            "Chorus Pro est surchargé ou indisponible (HTTP "
                            f"{response.status}) : nouvel essai automatique.", status=response.status)
                    try:
                        wait = min(float(response.headers.get("Retry-After", "0")), MAX_RETRY_AFTER)
                    except ValueError:
                        wait = 0.0
                else:
                    return response.status, data
            self._sleep(max(wait, 0.2 * 2 ** (attempt - 1) * (0.5 + random.random())))
        raise AssertionError("unreachable")

    def _call(self, path: str, payload: dict, *, retry_lost: bool = True,
              read_seconds: float = READ_SECONDS) -> dict:
        c = self._credentials
        account = base64.b64encode(f"{c.login}:{c.password}".encode()).decode()
        body = json.dumps(payload).encode()
        for renew in (False, True):
            headers = {"Authorization": f"Bearer {self._access_token(renew)}", "cpro-account": account,
                       "Content-Type": "application/json;charset=utf-8", "Accept": "application/json"}
            status, data = self._send(f"{self.api_url}{path}", body, headers, retry_lost=retry_lost,
                                      read_seconds=read_seconds)
            if status != 401:
                break
        data = data if isinstance(data, dict) else {}
        if status == 401:
            raise ChorusProRefused("PISTE refuse le jeton d'accès même renouvelé : vérifiez l'abonnement de "
                                   "l'application aux API Chorus Pro.", status=status)
        if status == 403:
            raise ChorusProRefused("Chorus Pro refuse le compte technique (identifiant ou mot de passe) : "
                                   "vérifiez-le dans le paramètre SSM et sur le portail.", status=status,
                                   code=data.get("codeRetour"))
        code = data.get("codeRetour")
        if status != 200 or (code not in (0, None)):
            libelle = str(data.get("libelle") or "").strip()
            raise ChorusProRefused(f"Chorus Pro refuse la demande (HTTP {status}, code {code}) : "
                                   f"{libelle or 'sans explication'}.", status=status, code=code)
        return data

    # --- directory -------------------------------------------------------------------
    def structure(self, siret: str) -> BuyerStructure | None:
        """The structure with this SIRET, its requirements and active services; None if unknown."""
        found = self._call("/cpro/structures/v1/rechercher", {
            "structure": {"identifiantStructure": siret, "typeIdentifiantStructure": "SIRET"},
            "restreindreStructuresPrivees": False}).get("listeStructures") or []
        match = next((s for s in found if str(s.get("identifiantStructure")) == siret), None)
        if match is None:
            return None
        structure_id = match.get("idStructureCPP")
        detail = self._call("/cpro/structures/v1/consulter", {"idStructureCPP": structure_id, "codeLangue": "fr"})
        p = detail.get("parametres") or {}
        services: list[BuyerService] = []
        page = 1
        while True:
            answer = self._call("/cpro/structures/v1/rechercher/services", {
                "idStructure": structure_id, "parametres": {"nbResultatsParPage": 100, "pageResultatDemandee": page}})
            services += [BuyerService(str(s.get("codeService", "")), str(s.get("libelleService", "")))
                         for s in answer.get("listeServices") or [] if s.get("estActif", True)]
            pages = int((answer.get("parametresRetour") or {}).get("pages") or 1)
            if page >= pages or page >= 20:
                break
            page += 1
        return BuyerStructure(
            siret=siret, name=str(detail.get("raisonSociale") or match.get("designationStructure") or siret),
            active=str(match.get("statut", "ACTIF")).upper() == "ACTIF",
            service_code_required=bool(p.get("codeServiceDoitEtreRenseigne")),
            engagement_required=bool(p.get("numeroEJDoitEtreRenseigne")),
            service_or_engagement=bool(p.get("gestionNumeroEJOuCodeService")),
            services=tuple(services))

    # --- deposit and follow-up -------------------------------------------------------
    def deposit(self, pdf: bytes, file_name: str) -> Deposited:
        """Deposit a Factur-X PDF. A broken connection is *not* retried here (see the module)."""
        answer = self._call("/cpro/factures/v1/deposer/flux", {
            "idUtilisateurCourant": 0, "fichierFlux": base64.b64encode(pdf).decode(), "nomFichier": file_name,
            "syntaxeFlux": FACTURX_SYNTAX, "avecSignature": False},
            retry_lost=False, read_seconds=DEPOSIT_READ_SECONDS)
        flux = str(answer.get("numeroFluxDepot") or "")
        if not flux:
            raise ChorusProUnavailable("Chorus Pro a accepté le dépôt sans donner de numéro de flux.")
        return Deposited(flux, str(answer.get("dateDepot") or ""))

    def flow_report(self, flux: str) -> FlowReport:
        answer = self._call("/cpro/transverses/v1/consulterCRDetaille",
                            {"numeroFluxDepot": flux, "syntaxeFlux": FACTURX_SYNTAX})
        errors = tuple(str(e.get("libelleErreurDP") or "").strip() for e in answer.get("listeErreurDP") or [])
        return FlowReport(str(answer.get("etatCourantDepotFlux") or answer.get("etatCourantFlux") or ""),
                          tuple(e for e in errors if e))

    def find_invoices(self, *, number: str = "", flux: str = "") -> list[FoundInvoice]:
        criteria: dict = {"pagination": {"nbResultatsParPage": 50, "pageResultatDemandee": 1}}
        if number:
            criteria["numeroFacture"] = number
        if flux:
            criteria["numeroFluxDepot"] = flux
        found = self._call("/cpro/factures/v1/rechercher/fournisseur", criteria).get("listeFactures") or []
        return [FoundInvoice(int(f["identifiantFactureCPP"]), str(f.get("numeroFacture", "")),
                             str(f.get("typeFacture", "")), str(f.get("statut", "")),
                             str(f.get("numeroFluxDepot", "")))
                for f in found if f.get("identifiantFactureCPP") is not None]

    def history(self, cpp_id: int) -> tuple[str, list[StatusEvent]]:
        """The invoice's current status and its dated statuses, oldest first."""
        answer = self._call("/cpro/factures/v1/consulter/historique", {"idFacture": cpp_id})
        raw = ((answer.get("historiquesDesStatuts") or {}).get("histoStatut")) or []
        events = [StatusEvent(str(e.get("histoStatutCode", "")), _parse_time(e.get("histoStatutDatePassage", "")),
                              str(e.get("histoStatutCommentaire") or "").strip()) for e in raw]
        events.sort(key=lambda e: e.at)
        return str(answer.get("statutCourantCode") or (events[-1].status if events else "")), events
