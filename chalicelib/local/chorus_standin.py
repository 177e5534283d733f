"""A local Chorus Pro stand-in: the PISTE OAuth gateway and the Chorus Pro "cpro" API calls the
app's client makes, served over HTTP from a thread of the current process, as moto's
``ThreadedMotoServer`` serves AWS.

The same client code runs against it and against the real service: only the base URLs and the
credentials differ. ``start()`` answers one base URL that serves both the OAuth path
(``/api/oauth/token``) and the API paths (``/cpro/...``).

It binds to 127.0.0.1 only (port 0, a free port, unless told) and is meant to be started by
``make run`` (``chalicelib/local/devserver.py``) and by the tests; it is never deployed as a
service. (The Lambda package does contain it: ``infra/package.py`` copies the whole of
``chalicelib/``; but no deployed code path imports or starts it.) It keeps everything in
memory, behind one lock.

What follows the published Chorus Pro API documentation (PISTE gateway, "cpro" APIs):

- the paths: ``/api/oauth/token``, ``/cpro/structures/v1/rechercher``,
  ``/cpro/structures/v1/consulter``, ``/cpro/structures/v1/rechercher/services``,
  ``/cpro/factures/v1/deposer/flux``, ``/cpro/transverses/v1/consulterCRDetaille``,
  ``/cpro/factures/v1/rechercher/fournisseur``, ``/cpro/factures/v1/consulter/historique``;
- OAuth 2 client credentials (form-encoded), then ``Authorization: Bearer`` and the
  ``cpro-account`` header (base64 of ``login:password`` of the technical account) on every call;
- the JSON field names of requests and answers, ``codeRetour`` 0 on success, the invoice status
  codes (``INVOICE_STATUSES``), the flow-state codes (``FLOW_STATES``), the flow syntax
  ``IN_DP_E2_CII_FACTURX`` and the file sent base64-encoded in ``fichierFlux`` of
  ``deposer/flux``; the structure parameters ``codeServiceDoitEtreRenseigne``,
  ``numeroEJDoitEtreRenseigne`` and ``gestionNumeroEJOuCodeService``.

What is this stand-in's own guess, not checked against the real service here:

- the non-zero ``codeRetour`` numbers (20001 bad request, 20002 unknown structure, 20003
  unknown flow, 20004 unknown invoice, 20100 technical account, -1 injected failure) and the
  wording of every error message;
- processing a deposited flow synchronously, within the ``deposer/flux`` call (the real
  platform integrates flows asynchronously, minutes later; ``hold_flows`` imitates that);
- which content rules reject a flow, their order and wording: format first (a PDF, an embedded
  ``factur-x.xml``, PDF/A-3 XMP metadata, the Factur-X EN 16931 XSD), then the business rules
  (supplier, buyer, service code, engagement number, duplicate), which are all reported
  together; the accepted document types (380 invoice, 381 credit note); the 10 MB limit;
- where the SIRETs are read in the CII XML: ``SpecifiedLegalOrganization/ID`` when it holds a
  14-digit SIRET (or says scheme 0009), else the party's ``GlobalID`` of scheme 0009 (the
  app's invoices carry the 9-digit SIREN, scheme 0002, in ``SpecifiedLegalOrganization/ID``,
  as the 2026 French rules BR-FR-10 ask, and the SIRET in ``GlobalID``);
- pagination defaults (10 results a page, page 1), and the fields left out of the answers;
- ``libelle`` ``GCU_MSG_01_000`` on a deposit, ``TRA_MSG_00.000`` on every other success; the
  stand-in does not insist on the requests' ``Content-Type``, and checks the grant and the
  client before anything else on the token path (both refused as ``invalid_client``);
- the identifiers' shapes (``idStructureCPP``, ``idService``, ``identifiantFactureCPP``
  integers, flow numbers ``CPP-FLUX-000001``).
"""
from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import re
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from urllib.parse import parse_qs, urlsplit

INVOICE_STATUSES = (
    "DEPOSEE", "EN_COURS_ACHEMINEMENT", "MISE_A_DISPOSITION", "A_RECYCLER", "REJETEE", "SUSPENDUE",
    "COMPLETEE", "SERVICE_FAIT", "MANDATEE", "MISE_A_DISPOSITION_COMPTABLE", "COMPTABILISEE",
    "MISE_EN_PAIEMENT",
)
FLOW_STATES = (
    "IN_RECU", "IN_TRAITE_SE_CPP", "IN_EN_ATTENTE_TRAITEMENT_CPP", "IN_EN_COURS_TRAITEMENT_CPP",
    "IN_INCIDENTE", "IN_REJETE", "IN_EN_ATTENTE_RETRAITEMENT_CPP", "IN_INTEGRE", "IN_INTEGRE_PARTIEL",
)

TOKEN_PATH = "/api/oauth/token"
FACTURX_SYNTAX = "IN_DP_E2_CII_FACTURX"
MAX_FILE_BYTES = 10 * 1024 * 1024
OK_LIBELLE = "TRA_MSG_00.000"
DEPOSIT_LIBELLE = "GCU_MSG_01_000"
DEFAULT_PAGE_SIZE = 10
BAD_REQUEST, UNKNOWN_STRUCTURE, UNKNOWN_FLOW, UNKNOWN_INVOICE, BAD_ACCOUNT = 20001, 20002, 20003, 20004, 20100
DOCUMENT_KINDS = {"380": "FACTURE", "381": "AVOIR"}  # UNTDID 1001 type code -> typeFacture

DEMO_SUPPLIER_SIRET = "44112233400027"
DEMO_CREDENTIALS = {"client_id": "demo-client", "client_secret": "demo-secret",
                    "login": "TECH_demo@cpro.example", "password": "demo-password"}
# Luhn-valid SIRETs (their SIRENs too) made up for the tests.
INACTIVE_SIRET = "21350123200010"
EITHER_SIRET = "20076543600015"
UNKNOWN_SIRET = "21999999200015"  # in no directory of this module


@dataclass
class Service:
    code: str
    label: str
    active: bool = True


@dataclass
class Structure:
    siret: str
    name: str
    active: bool = True
    service_code_required: bool = False
    engagement_required: bool = False
    service_or_engagement: bool = False  # "gestionNumeroEJOuCodeService"
    services: list[Service] = field(default_factory=list)


def demo_directory() -> list[Structure]:
    """The public buyers of the app's demo data, and two structures for the tests."""
    return [
        Structure("21490123400015", "Commune de Saint-Aubin-des-Prés"),
        Structure("21440987600019", "Ville de Montclair", engagement_required=True, services=[
            Service("ESPACES-VERTS", "Direction des espaces verts"),
            Service("FINANCES", "Direction des finances")]),
        Structure("20004567800028", "Communauté d'agglomération du Val Fleuri", service_code_required=True,
                  engagement_required=True, services=[
                      Service("DIR-NATURE", "Direction nature et paysage"),
                      Service("DIR-FIN", "Direction financière"),
                      Service("OLD-SERV", "Ancien service", active=False)]),
        Structure("19860012300011", "Lycée horticole de Beaulieu", service_code_required=True,
                  services=[Service("INTENDANCE", "Intendance")]),
        Structure("21760351200017", "Ville de Grand-Port", service_code_required=True, services=[
            Service("PARCS", "Parcs et jardins"), Service("VOIRIE", "Voirie")]),
        Structure(INACTIVE_SIRET, "Ancienne commune de Vieux-Bourg", active=False),
        Structure(EITHER_SIRET, "Syndicat mixte des Trois Vallées", service_or_engagement=True,
                  services=[Service("SMTV", "Secrétariat")]),
    ]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class RequestError(Exception):
    """A request the API refuses as a whole: answered 400 (or ``status``) with ``codeRetour``."""

    def __init__(self, code: int, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class _Flow:
    number: str
    file_name: str
    content: bytes
    deposited_at: datetime
    state: str
    state_at: datetime
    invoice_number: str = ""  # read from the XML, for the report's lines
    buyer_siret: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass
class _Invoice:
    id: int
    number: str
    kind: str
    buyer_siret: str
    service_code: str
    engagement: str
    amount: Decimal
    flux: str
    deposited_on: date
    history: list[tuple[int, str, datetime, str]]  # (histoStatutId, status, when, comment)

    @property
    def status(self) -> str:
        return self.history[-1][1]


@dataclass
class _Answer:
    status: int
    body: dict
    headers: dict = field(default_factory=dict)


class ChorusProStandIn:
    """The stand-in server; ``start()`` returns its base URL. See the module's docstring."""

    def __init__(self, *, structures: list[Structure] | None = None, credentials: dict = DEMO_CREDENTIALS,
                 supplier_siret: str = DEMO_SUPPLIER_SIRET, clock: Callable[[], datetime] = _utc_now,
                 token_seconds: int = 3600, port: int = 0):
        self.credentials = dict(credentials)
        self.supplier_siret = supplier_siret
        self.clock = clock
        self.token_seconds = token_seconds
        self.port = port
        self.url = ""
        self.hold_flows = False
        self.requests: list[tuple[str, dict]] = []
        self._lock = threading.RLock()
        self._structures: dict[str, tuple[int, Structure, list[int]]] = {}  # siret -> (id, copy, service ids)
        self._next_structure_id = 25_000_001
        self._next_service_id = 1_000_001
        self._tokens: dict[str, datetime] = {}
        self._flows: dict[str, _Flow] = {}
        self._invoices: list[_Invoice] = []
        self._next_invoice_id = 41_000_001
        self._next_history_id = 1
        self._failures: list[list] = []  # [remaining, status, path_contains, retry_after]
        self._losses: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        for structure in demo_directory() if structures is None else structures:
            self.add_structure(structure)

    # --- life cycle ------------------------------------------------------------------
    def start(self) -> str:
        if self._server is not None:
            return self.url
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        server.daemon_threads = True
        server.standin = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="chorus-pro-stand-in", daemon=True)
        self._thread.start()
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:  # kept-alive connections of clients: their threads end
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ChorusProStandIn:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- state, for tests and the local dev page ---------------------------------------
    def add_structure(self, structure: Structure) -> None:
        """Add a structure to the directory (replacing the one of the same SIRET, keeping its id)."""
        with self._lock:
            known = self._structures.get(structure.siret)
            if known is None:
                structure_id = self._next_structure_id
                self._next_structure_id += 1
            else:
                structure_id = known[0]
            service_ids = []
            for _ in structure.services:
                service_ids.append(self._next_service_id)
                self._next_service_id += 1
            self._structures[structure.siret] = (structure_id, copy.deepcopy(structure), service_ids)

    def move(self, invoice_number: str, status: str, comment: str = "", *, kind: str | None = None) -> None:
        """Append ``status`` to the history of the integrated invoice ``invoice_number``, dated by
        the stand-in's clock. ``kind`` ("FACTURE"/"AVOIR") picks one when an invoice and a credit
        note share the number; otherwise the last one integrated is moved."""
        if status not in INVOICE_STATUSES:
            raise ValueError(f"unknown invoice status {status!r}; expected one of {', '.join(INVOICE_STATUSES)}")
        with self._lock:
            found = [i for i in self._invoices if i.number == invoice_number and kind in (None, i.kind)]
            if not found:
                raise ValueError(f"no integrated invoice numbered {invoice_number!r}")
            self._append_status(found[-1], status, comment)

    def invoices(self) -> list[dict]:
        with self._lock:
            return [{"id": i.id, "number": i.number, "kind": i.kind, "buyer_siret": i.buyer_siret,
                     "service_code": i.service_code, "engagement": i.engagement, "status": i.status,
                     "flux": i.flux, "history": [(s, when, comment) for _, s, when, comment in i.history]}
                    for i in self._invoices]

    def flows(self) -> list[dict]:
        with self._lock:
            return [{"flux": f.number, "file_name": f.file_name, "state": f.state, "errors": list(f.errors),
                     "deposited_at": f.deposited_at} for f in self._flows.values()]

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def fail_next(self, count: int = 1, status: int = 503, path_contains: str = "",
                  retry_after: int | None = None) -> None:
        """The next ``count`` token or API requests whose path contains ``path_contains`` are
        answered ``status`` without being processed."""
        with self._lock:
            self._failures.append([count, status, path_contains, retry_after])

    def lose_next_answer(self, path_contains: str) -> None:
        """The next request whose path contains ``path_contains`` is processed, then its
        connection is closed without any answer."""
        with self._lock:
            self._losses.append(path_contains)

    def reset(self) -> None:
        """Back to the demo directory, with no flow, invoice, request log or injected fault
        (tests share one server and start each from this state). Tokens stay valid."""
        with self._lock:
            self._structures.clear()
            self._flows.clear()
            self._invoices.clear()
            self._failures.clear()
            self._losses.clear()
            self.requests.clear()
            self.hold_flows = False
            for structure in demo_directory():
                self.add_structure(structure)

    def integrate_pending(self) -> None:
        """Process the flows ``hold_flows`` kept waiting, in the order they were deposited."""
        with self._lock:
            for flow in list(self._flows.values()):
                if flow.state == "IN_EN_ATTENTE_TRAITEMENT_CPP":
                    self._process(flow)

    # --- HTTP --------------------------------------------------------------------------
    def _now(self) -> datetime:
        now = self.clock()
        return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = urlsplit(handler.path).path
        try:
            raw = _read_body(handler)
        except (ValueError, OSError):
            handler.close_connection = True
            return _send(handler, _Answer(400, {"codeRetour": BAD_REQUEST, "libelle": "Corps de requête illisible."}))
        with self._lock:
            self.requests.append((path, _recorded(path, raw)))
        answer, lost = self._answer(method, path, handler.headers, raw)
        if lost:
            handler.close_connection = True  # processed, but the client never hears of it
            return
        _send(handler, answer)

    def _answer(self, method: str, path: str, headers, raw: bytes) -> tuple[_Answer, bool]:
        route = ROUTES.get(path)
        if path != TOKEN_PATH and route is None:
            return _Answer(404, {"codeRetour": -1, "libelle": f"Ressource inconnue : {path}"}), False
        if method != "POST":
            return _Answer(405, {"codeRetour": -1, "libelle": "Seule la méthode POST est acceptée."},
                           {"Allow": "POST"}), False
        failure = self._take_failure(path)
        if failure is not None:
            return failure, False
        if path == TOKEN_PATH:
            answer = self._token(raw)
        else:
            answer = self._api(route, headers, raw)
        return answer, self._take_loss(path)

    def _take_failure(self, path: str) -> _Answer | None:
        with self._lock:
            for rule in self._failures:
                remaining, status, contains, retry_after = rule
                if contains in path:
                    rule[0] -= 1
                    if rule[0] <= 0:
                        self._failures.remove(rule)
                    extra = {} if retry_after is None else {"Retry-After": str(retry_after)}
                    return _Answer(status, {"codeRetour": -1,
                                            "libelle": f"Erreur simulée par le bouchon Chorus Pro (HTTP {status})."},
                                   extra)
        return None

    def _take_loss(self, path: str) -> bool:
        with self._lock:
            for contains in self._losses:
                if contains in path:
                    self._losses.remove(contains)
                    return True
        return False

    def _token(self, raw: bytes) -> _Answer:
        form = _form(raw)
        if form.get("grant_type") != "client_credentials":
            return _Answer(401, {"error": "invalid_client",
                                 "error_description": "Seul le type d'autorisation client_credentials est accepté."})
        if (form.get("client_id") != self.credentials["client_id"]
                or form.get("client_secret") != self.credentials["client_secret"]):
            return _Answer(401, {"error": "invalid_client",
                                 "error_description": "Identifiant client ou secret client incorrect."})
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = self._now() + timedelta(seconds=self.token_seconds)
        return _Answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_seconds,
                             "scope": "openid"}, {"Cache-Control": "no-store"})

    def _token_valid(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        with self._lock:
            expires = self._tokens.get(token.strip())
            return expires is not None and self._now() < expires

    def _account_valid(self, header: str) -> bool:
        expected = f"{self.credentials['login']}:{self.credentials['password']}"
        try:
            given = base64.b64decode(header.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return False
        return secrets.compare_digest(given.encode(), expected.encode())

    def _api(self, route: str, headers, raw: bytes) -> _Answer:
        if not self._token_valid(headers.get("Authorization", "")):
            return _Answer(401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if not self._account_valid(headers.get("cpro-account", "")):
            return _Answer(403, {"codeRetour": BAD_ACCOUNT,
                                 "libelle": "Compte technique inconnu ou mot de passe incorrect"})
        try:
            try:
                body = json.loads(raw.decode("utf-8")) if raw.strip() else None
            except (UnicodeDecodeError, ValueError):
                raise RequestError(BAD_REQUEST, "Le corps de la requête n'est pas un JSON valide.") from None
            if not isinstance(body, dict):
                raise RequestError(BAD_REQUEST, "Le corps de la requête doit être un objet JSON.")
            result = getattr(self, route)(body)
        except RequestError as error:
            return _Answer(error.status, {"codeRetour": error.code, "libelle": error.message})
        return _Answer(200, {"codeRetour": 0, "libelle": OK_LIBELLE, **result})

    # --- the API -------------------------------------------------------------------------
    def _structure_by_id(self, structure_id: int) -> tuple[int, Structure, list[int]]:
        for known in self._structures.values():
            if known[0] == structure_id:
                return known
        raise RequestError(UNKNOWN_STRUCTURE, "Structure inconnue")

    def _search_structures(self, body: dict) -> dict:
        criteria = _object(body, "structure")
        siret = _text(criteria, "identifiantStructure")
        kind = criteria.get("typeIdentifiantStructure", "SIRET")
        if kind != "SIRET":
            raise RequestError(BAD_REQUEST, "Type d'identifiant non géré par le bouchon : seul SIRET est accepté.")
        size, page = _pagination(body.get("parametres"))
        with self._lock:
            found = [self._structures[siret]] if siret in self._structures else []
            rows = [{"idStructureCPP": structure_id, "identifiantStructure": s.siret, "designationStructure": s.name,
                     "typeIdentifiantStructure": "SIRET", "statut": "ACTIF" if s.active else "INACTIF"}
                    for structure_id, s, _ in found]
        shown, returned = _page(rows, size, page)
        return {"listeStructures": shown, "parametresRetour": returned}

    def _consult_structure(self, body: dict) -> dict:
        with self._lock:
            structure_id, s, _ = self._structure_by_id(_integer(body, "idStructureCPP"))
            return {"idStructureCPP": structure_id, "identifiant": s.siret, "raisonSociale": s.name,
                    "parametres": {"codeServiceDoitEtreRenseigne": s.service_code_required,
                                   "numeroEJDoitEtreRenseigne": s.engagement_required,
                                   "gestionNumeroEJOuCodeService": s.service_or_engagement,
                                   "statutMiseEnPaiementNestPasRemonte": False}}

    def _search_services(self, body: dict) -> dict:
        structure_id = _integer(body, "idStructure")
        size, page = _pagination(body.get("parametres"))
        with self._lock:
            _, s, service_ids = self._structure_by_id(structure_id)
            rows = [{"idService": service_id, "codeService": service.code, "libelleService": service.label,
                     "estActif": service.active} for service_id, service in zip(service_ids, s.services, strict=True)]
        shown, returned = _page(rows, size, page)
        return {"listeServices": shown, "parametresRetour": returned}

    def _deposit(self, body: dict) -> dict:
        encoded = _text(body, "fichierFlux")
        file_name = _text(body, "nomFichier")
        syntax = _text(body, "syntaxeFlux")
        if "idUtilisateurCourant" in body and not _is_int(body["idUtilisateurCourant"]):
            raise RequestError(BAD_REQUEST, "Le champ « idUtilisateurCourant » doit être un entier.")
        if "avecSignature" in body and not isinstance(body["avecSignature"], bool):
            raise RequestError(BAD_REQUEST, "Le champ « avecSignature » doit être un booléen.")
        if syntax != FACTURX_SYNTAX:
            raise RequestError(BAD_REQUEST, f"Syntaxe de flux « {syntax} » non acceptée : la seule syntaxe "
                                            f"acceptée est {FACTURX_SYNTAX} (Factur-X).")
        if len(encoded) > MAX_FILE_BYTES * 4 // 3 + 4:
            raise RequestError(BAD_REQUEST, "Le fichier déposé dépasse la taille maximale de 10 Mo.")
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(BAD_REQUEST, "Le champ « fichierFlux » n'est pas un contenu encodé en base64 valide.") from None
        if len(content) > MAX_FILE_BYTES:
            raise RequestError(BAD_REQUEST, "Le fichier déposé dépasse la taille maximale de 10 Mo.")
        with self._lock:
            now = self._now()
            number = f"CPP-FLUX-{len(self._flows) + 1:06d}"
            flow = _Flow(number, file_name, content, now, "IN_RECU", now)
            self._flows[number] = flow
            if self.hold_flows:
                flow.state = "IN_EN_ATTENTE_TRAITEMENT_CPP"
            else:
                self._process(flow)
        return {"libelle": DEPOSIT_LIBELLE, "numeroFluxDepot": number, "dateDepot": now.date().isoformat()}

    def _flow_report(self, body: dict) -> dict:
        number = _text(body, "numeroFluxDepot")
        with self._lock:
            flow = self._flows.get(number)
            if flow is None:
                raise RequestError(UNKNOWN_FLOW, "Flux inconnu")
            errors = [{"numeroDP": flow.invoice_number, "libelleErreurDP": message,
                       "identifiantFournisseur": self.supplier_siret, "identifiantDestinataire": flow.buyer_siret}
                      for message in flow.errors]
            return {"numeroFluxDepot": flow.number, "nomFichier": flow.file_name,
                    "dateDepotFlux": _iso(flow.deposited_at), "etatCourantDepotFlux": flow.state,
                    "dateHeureEtatCourantFlux": _iso(flow.state_at), "listeErreurDP": errors,
                    "listeErreurTechnique": []}

    def _search_invoices(self, body: dict) -> dict:
        filters = {}
        for key in ("numeroFacture", "numeroFluxDepot"):
            if key in body and body[key] is not None:
                if not isinstance(body[key], str):
                    raise RequestError(BAD_REQUEST, f"Le champ « {key} » doit être une chaîne de caractères.")
                filters[key] = body[key]
        size, page = _pagination(body.get("pagination"))
        with self._lock:
            rows = [{"identifiantFactureCPP": i.id, "numeroFacture": i.number, "typeFacture": i.kind,
                     "statut": i.status, "dateDepot": i.deposited_on.isoformat(), "montantTTC": float(i.amount),
                     "identifiantDestinataire": i.buyer_siret, "numeroFluxDepot": i.flux}
                    for i in self._invoices
                    if filters.get("numeroFacture", i.number) == i.number
                    and filters.get("numeroFluxDepot", i.flux) == i.flux]
        shown, returned = _page(rows, size, page)
        return {"listeFactures": shown, "parametresRetour": returned}

    def _invoice_history(self, body: dict) -> dict:
        invoice_id = _integer(body, "idFacture")
        with self._lock:
            invoice = next((i for i in self._invoices if i.id == invoice_id), None)
            if invoice is None:
                raise RequestError(UNKNOWN_INVOICE, "Facture inconnue")
            rows = [{"histoStatutId": history_id, "histoStatutCode": status, "histoStatutDatePassage": _iso(when),
                     "histoStatutCommentaire": comment} for history_id, status, when, comment in invoice.history]
            return {"idFacture": invoice.id, "numeroFacture": invoice.number, "statutCourantCode": invoice.status,
                    "historiquesDesStatuts": {"histoStatut": rows, "totalHistoStatut": len(rows)}}

    # --- processing a flow ---------------------------------------------------------------
    def _append_status(self, invoice: _Invoice, status: str, comment: str, when: datetime | None = None) -> None:
        invoice.history.append((self._next_history_id, status, when or self._now(), comment))
        self._next_history_id += 1

    def _process(self, flow: _Flow) -> None:
        """Integrate or reject ``flow`` (the lock is held)."""
        flow.state = "IN_EN_COURS_TRAITEMENT_CPP"
        errors, facts = _format_errors(flow.content)
        if facts:
            flow.invoice_number, flow.buyer_siret = facts["number"], facts["buyer"]
        if not errors:
            errors = self._business_errors(facts)
        flow.state_at = self._now()
        if errors:
            flow.errors, flow.state = errors, "IN_REJETE"
            return
        invoice = _Invoice(self._next_invoice_id, facts["number"], DOCUMENT_KINDS[facts["type"]], facts["buyer"],
                           facts["service"], facts["engagement"], facts["total"], flow.number,
                           flow.deposited_at.date(), [])
        self._next_invoice_id += 1
        self._append_status(invoice, "DEPOSEE", "", flow.state_at)
        self._append_status(invoice, "MISE_A_DISPOSITION", "", flow.state_at)
        self._invoices.append(invoice)
        flow.state = "IN_INTEGRE"

    def _business_errors(self, facts: dict) -> list[str]:
        errors = []
        if facts["type"] not in DOCUMENT_KINDS:
            errors.append(f"Type de document « {facts['type']} » non accepté : 380 (facture) ou 381 (avoir) attendu.")
        if facts["seller"] != self.supplier_siret:
            errors.append(f"Le fournisseur {facts['seller'] or '(SIRET absent)'} n'est pas rattaché au compte "
                          f"technique utilisé pour le dépôt.")
        buyer, service, engagement = facts["buyer"], facts["service"], facts["engagement"]
        known = self._structures.get(buyer)
        if not buyer:
            errors.append("Le SIRET du destinataire est absent de la facture.")
        elif known is None:
            errors.append(f"Le destinataire {buyer} est inconnu de Chorus Pro.")
        elif not known[1].active:
            errors.append(f"Le destinataire {buyer} ({known[1].name}) n'est pas actif dans Chorus Pro.")
        else:
            s = known[1]
            active_codes = {sv.code for sv in s.services if sv.active}
            if s.service_code_required and not service:
                errors.append(f"Le code service est obligatoire pour le destinataire {buyer} ({s.name}).")
            elif service and service not in active_codes:
                errors.append(f"Le code service « {service} » n'existe pas ou n'est pas actif pour le "
                              f"destinataire {buyer} ({s.name}).")
            if s.engagement_required and not engagement:
                errors.append(f"Le numéro d'engagement est obligatoire pour le destinataire {buyer} ({s.name}).")
            if s.service_or_engagement and not service and not engagement:
                errors.append(f"Le destinataire {buyer} ({s.name}) exige un code service ou un numéro d'engagement.")
        kind = DOCUMENT_KINDS.get(facts["type"])
        if kind and any(i.number == facts["number"] and i.kind == kind for i in self._invoices):
            errors.append(f"Facture en doublon : {facts['number']} déjà déposée.")
        return errors


ROUTES = {
    "/cpro/structures/v1/rechercher": "_search_structures",
    "/cpro/structures/v1/consulter": "_consult_structure",
    "/cpro/structures/v1/rechercher/services": "_search_services",
    "/cpro/factures/v1/deposer/flux": "_deposit",
    "/cpro/transverses/v1/consulterCRDetaille": "_flow_report",
    "/cpro/factures/v1/rechercher/fournisseur": "_search_invoices",
    "/cpro/factures/v1/consulter/historique": "_invoice_history",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ChorusProStandIn/1"

    def setup(self) -> None:
        super().setup()
        with self.server.standin._lock:
            self.server.standin._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.standin._lock:
                self.server.standin._connections.discard(self.connection)

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet, as moto's server
        pass

    def do_POST(self) -> None:
        self.server.standin._handle(self, "POST")

    def do_GET(self) -> None:
        self.server.standin._handle(self, "GET")

    do_PUT = do_DELETE = do_PATCH = do_GET


# --- helpers -------------------------------------------------------------------------------
def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    if length < 0:
        raise ValueError("negative Content-Length")
    return handler.rfile.read(length) if length else b""


def _send(handler: BaseHTTPRequestHandler, answer: _Answer) -> None:
    payload = json.dumps(answer.body, ensure_ascii=False).encode("utf-8")
    handler.send_response(answer.status)
    handler.send_header("Content-Type", "application/json;charset=utf-8")
    handler.send_header("Content-Length", str(len(payload)))
    for name, value in answer.headers.items():
        handler.send_header(name, value)
    if handler.close_connection:
        handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(payload)


def _form(raw: bytes) -> dict:
    try:
        parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return {}
    return {key: values[0] for key, values in parsed.items()}


def _recorded(path: str, raw: bytes) -> dict:
    if path == TOKEN_PATH:
        return _form(raw)
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer(body: dict, key: str) -> int:
    if key not in body or body[key] is None:
        raise RequestError(BAD_REQUEST, f"Le champ obligatoire « {key} » est absent.")
    if not _is_int(body[key]):
        raise RequestError(BAD_REQUEST, f"Le champ « {key} » doit être un entier.")
    return body[key]


def _text(body: dict, key: str) -> str:
    if key not in body or body[key] is None or body[key] == "":
        raise RequestError(BAD_REQUEST, f"Le champ obligatoire « {key} » est absent.")
    if not isinstance(body[key], str):
        raise RequestError(BAD_REQUEST, f"Le champ « {key} » doit être une chaîne de caractères.")
    return body[key]


def _object(body: dict, key: str) -> dict:
    if not isinstance(body.get(key), dict):
        raise RequestError(BAD_REQUEST, f"Le champ obligatoire « {key} » est absent ou n'est pas un objet.")
    return body[key]


def _pagination(value) -> tuple[int, int]:
    if value is None:
        return DEFAULT_PAGE_SIZE, 1
    if not isinstance(value, dict):
        raise RequestError(BAD_REQUEST, "Les paramètres de pagination doivent être un objet.")
    size = value.get("nbResultatsParPage", DEFAULT_PAGE_SIZE)
    page = value.get("pageResultatDemandee", 1)
    if not _is_int(size) or size < 1 or not _is_int(page) or page < 1:
        raise RequestError(BAD_REQUEST, "nbResultatsParPage et pageResultatDemandee doivent être des entiers "
                                        "strictement positifs.")
    return size, page


def _page(rows: list, size: int, page: int) -> tuple[list, dict]:
    pages = max(1, math.ceil(len(rows) / size))
    return rows[(page - 1) * size:page * size], {"pageCourante": page, "pages": pages, "nbResultatsParPage": size,
                                                 "total": len(rows)}


_PDFA_PART = re.compile(rb"pdfaid:part\s*(?:=\s*[\"']\s*(\d+)\s*[\"']|>\s*(\d+)\s*<)")
CII = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
       "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
_SIRET = re.compile(r"\d{14}")


def _pdfa_part(pdf: bytes) -> str | None:
    """The PDF/A part the PDF's XMP metadata declares (the catalog's packet, often compressed;
    else any packet in the raw bytes), or None."""
    from pypdf import PdfReader

    packet = pdf
    try:
        metadata = PdfReader(BytesIO(pdf)).trailer["/Root"].get("/Metadata")
        if metadata is not None:
            packet = metadata.get_object().get_data()
    except Exception:  # an unreadable catalog: fall back to the raw bytes
        packet = pdf
    found = _PDFA_PART.search(packet)
    return (found.group(1) or found.group(2)).decode() if found else None


def _format_errors(content: bytes) -> tuple[list[str], dict | None]:
    """The format errors of a deposited file, and what its CII XML says (None if unreadable)."""
    if not content.startswith(b"%PDF-"):
        return ["Le fichier déposé n'est pas un PDF (en-tête %PDF- absent)."], None
    import facturx

    errors = []
    try:
        _, xml = facturx.get_xml_from_pdf(content, check_xsd=False, filenames=["factur-x.xml"])
    except Exception:  # pypdf's errors on a damaged PDF are of many kinds
        xml = None
    if not xml:
        errors.append("Aucune facture Factur-X (pièce jointe factur-x.xml) n'a été trouvée dans le PDF.")
    if _pdfa_part(content) != "3":
        errors.append("Le PDF n'est pas au format PDF/A-3 : ses métadonnées XMP ne déclarent pas pdfaid:part 3.")
    if not xml:
        return errors, None
    try:
        facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    except Exception as error:
        log = getattr(error.__cause__, "error_log", None)
        line = f" (ligne {log.last_error.line})" if log and log.last_error is not None else ""
        errors.append(f"Le XML Factur-X n'est pas conforme au schéma XSD du profil EN 16931{line}.")
    try:
        facts = _read_cii(xml)
    except Exception:
        errors.append("Le XML Factur-X est illisible.")
        facts = None
    return errors, facts


def _read_cii(xml: bytes) -> dict:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(xml, parser)

    def text(path: str, node=root) -> str:
        found = node.find(path, CII)
        return (found.text or "").strip() if found is not None else ""

    def siret(party: str) -> str:
        node = root.find(f"rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:{party}", CII)
        if node is None:
            return ""
        legal = node.find("ram:SpecifiedLegalOrganization/ram:ID", CII)
        legal_id = (legal.text or "").strip() if legal is not None else ""
        if legal_id and (legal.get("schemeID") == "0009" or _SIRET.fullmatch(legal_id)):
            return legal_id
        for global_id in node.findall("ram:GlobalID", CII):
            if global_id.get("schemeID") == "0009" and (global_id.text or "").strip():
                return global_id.text.strip()
        return legal_id

    agreement = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/"
    total = text("rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/"
                 "ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:GrandTotalAmount")
    try:
        amount = Decimal(total) if total else Decimal("0")
    except InvalidOperation:
        amount = Decimal("0")
    return {"number": text("rsm:ExchangedDocument/ram:ID"), "type": text("rsm:ExchangedDocument/ram:TypeCode"),
            "seller": siret("SellerTradeParty"), "buyer": siret("BuyerTradeParty"),
            "service": text(agreement + "ram:BuyerReference"),
            "engagement": text(agreement + "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID"),
            "total": amount}
