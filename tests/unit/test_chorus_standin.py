"""The local Chorus Pro stand-in (``chalicelib/local/chorus_standin.py``), driven through raw HTTP
as any client would: PISTE's OAuth token, the two headers of every call, the directory, the
deposit of a genuine Factur-X invoice rendered by the app, the rules that reject a flow, the
invoice search and history, and the faults tests inject (failures, lost answers, held flows).
"""
from __future__ import annotations

import base64
import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal
from io import BytesIO
from types import SimpleNamespace

import pytest
from lxml import etree

from chalicelib.domain.validation import luhn_ok
from chalicelib.local.chorus_standin import (
    DEMO_CREDENTIALS,
    DEMO_SUPPLIER_SIRET,
    EITHER_SIRET,
    FLOW_STATES,
    INACTIVE_SIRET,
    INVOICE_STATUSES,
    UNKNOWN_SIRET,
    ChorusProStandIn,
    Service,
    Structure,
    demo_directory,
)

MONTCLAIR = "21440987600019"
VAL_FLEURI = "20004567800028"
GRAND_PORT = "21760351200017"
SAINT_AUBIN = "21490123400015"
ACCOUNT = base64.b64encode(f"{DEMO_CREDENTIALS['login']}:{DEMO_CREDENTIALS['password']}".encode()).decode()
NS = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
      "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
DEPOSIT = "/cpro/factures/v1/deposer/flux"
REPORT = "/cpro/transverses/v1/consulterCRDetaille"
SEARCH = "/cpro/factures/v1/rechercher/fournisseur"
HISTORY = "/cpro/factures/v1/consulter/historique"
TOKEN = "/api/oauth/token"


# --- a genuine Factur-X invoice, and variants of it ---------------------------------------
@pytest.fixture(scope="module")
def invoice():
    """An invoice and a credit note the app renders for Ville de Montclair (PO and service code)."""
    from chalicelib.adapters.pdf import PdfRenderer
    from chalicelib.adapters.templates import TemplateRenderer, find_templates_dir
    from chalicelib.domain.documents import build_credit_note, build_invoice
    from chalicelib.local.demo import demo_association, demo_organisations

    org = next(d.org for d in demo_organisations() if d.org.org_id == "org-montclair")
    assert org.siret == MONTCLAIR and demo_association().siret == DEMO_SUPPLIER_SIRET
    document = build_invoice(settings=demo_association(), org=org, today=date(2026, 12, 7), year=2027,
                             tier_code=org.current_tier, tier_label="Tranche", amount=Decimal("720"),
                             po_number="EJ-2026-004512", service_code="ESPACES-VERTS")
    document = replace(document, number="FAC-2026-00042", document_id="doc-42")
    credit = replace(build_credit_note(document, reason="Doublon", today=date(2026, 12, 9)),
                     number="AV-2026-00007", document_id="doc-7")
    renderer = PdfRenderer(TemplateRenderer(find_templates_dir(None)))
    pdf = renderer.render(document)
    return SimpleNamespace(pdf=pdf, xml=_embedded_xml(pdf), credit_pdf=renderer.render(credit))


def _embedded_xml(pdf: bytes) -> bytes:
    from pypdf import PdfReader

    return next(a.content for a in PdfReader(BytesIO(pdf)).attachment_list if a.name == "factur-x.xml")


def _rewrite(pdf: bytes, xml: bytes | None = None, *, drop_xml: bool = False, xmp=None) -> bytes:
    """``pdf`` with its factur-x.xml replaced (or dropped), or its XMP packet transformed."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf)))
    for attachment in list(writer.attachment_list):
        if attachment.name == "factur-x.xml":
            if drop_xml:
                attachment.delete()
            elif xml is not None:
                attachment.content = xml
    if xmp is not None:
        stream = writer.root_object["/Metadata"].get_object()
        stream.set_data(xmp(stream.get_data()))
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


KEEP = object()


def _variant(xml: bytes, *, buyer=KEEP, seller=KEEP, service=KEEP, engagement=KEEP, type_code=KEEP,
             siret_in_legal_id=False) -> bytes:
    """The invoice's XML with some facts changed; None removes the element."""
    root = etree.fromstring(xml)
    agreement = root.find("rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement", NS)

    def party(tag: str, siret: str) -> None:
        node = agreement.find(f"ram:{tag}", NS)
        node.find("ram:GlobalID", NS).text = siret
        node.find("ram:SpecifiedLegalOrganization/ram:ID", NS).text = siret[:9]
        if siret_in_legal_id:  # Chorus Pro's historical place: the SIRET as the legal id, no GlobalID
            node.remove(node.find("ram:GlobalID", NS))
            legal = node.find("ram:SpecifiedLegalOrganization/ram:ID", NS)
            legal.text, legal.attrib["schemeID"] = siret, "0009"

    def set_or_drop(path: str, value) -> None:
        node = agreement.find(path, NS)
        if value is None:
            node.getparent().remove(node)
        else:
            node.text = value

    if buyer is not KEEP:
        party("BuyerTradeParty", buyer)
    if seller is not KEEP:
        party("SellerTradeParty", seller)
    if service is not KEEP:
        set_or_drop("ram:BuyerReference", service)
    if engagement is not KEEP:
        if engagement is None:
            agreement.remove(agreement.find("ram:BuyerOrderReferencedDocument", NS))
        else:
            agreement.find("ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID", NS).text = engagement
    if type_code is not KEEP:
        root.find("rsm:ExchangedDocument/ram:TypeCode", NS).text = type_code
    changed = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assert changed != xml
    return changed


# --- raw HTTP -------------------------------------------------------------------------------
def _http(url: str, path: str, *, body=None, form=None, raw: bytes | None = None, headers=None):
    if form is not None:
        data, content_type = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    elif raw is not None:
        data, content_type = raw, "application/json;charset=utf-8"
    else:
        data, content_type = json.dumps(body or {}).encode(), "application/json;charset=utf-8"
    request = urllib.request.Request(url + path, data=data, method="POST",
                                     headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"{}"), error.headers


def _token(url: str, **changes) -> tuple[int, dict]:
    form = {"grant_type": "client_credentials", "client_id": DEMO_CREDENTIALS["client_id"],
            "client_secret": DEMO_CREDENTIALS["client_secret"], "scope": "openid", **changes}
    status, body, _ = _http(url, TOKEN, form=form)
    return status, body


@pytest.fixture
def standin(clock):
    server = ChorusProStandIn(clock=clock)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cpro(standin):
    """Calls the API with a fresh token and the technical account, as the app's client does."""
    status, body = _token(standin.url)
    assert status == 200
    token = body["access_token"]

    def call(path: str, body=None, *, raw: bytes | None = None, account: str | None = ACCOUNT, bearer=None):
        headers = {"Authorization": f"Bearer {bearer or token}"}
        if account is not None:
            headers["cpro-account"] = account
        return _http(standin.url, path, body=body, raw=raw, headers=headers)

    return call


def _deposit(cpro, pdf: bytes, name: str = "FAC-2026-00042.pdf") -> str:
    status, body, _ = cpro(DEPOSIT, {"idUtilisateurCourant": 0, "fichierFlux": base64.b64encode(pdf).decode(),
                                     "nomFichier": name, "syntaxeFlux": "IN_DP_E2_CII_FACTURX",
                                     "avecSignature": False})
    assert status == 200, body
    assert body["codeRetour"] == 0 and body["libelle"] == "GCU_MSG_01_000"
    return body["numeroFluxDepot"]


def _report(cpro, flow: str) -> dict:
    status, body, _ = cpro(REPORT, {"numeroFluxDepot": flow, "syntaxeFlux": "IN_DP_E2_CII_FACTURX"})
    assert status == 200, body
    return body


# --- the constants ----------------------------------------------------------------------------
def test_the_directory_and_its_made_up_sirets():
    directory = {s.siret: s for s in demo_directory()}
    assert len(directory) == 7
    for siret in (INACTIVE_SIRET, EITHER_SIRET, UNKNOWN_SIRET):
        assert len(siret) == 14 and luhn_ok(siret) and luhn_ok(siret[:9])
    assert UNKNOWN_SIRET not in directory
    assert not directory[INACTIVE_SIRET].active and directory[EITHER_SIRET].service_or_engagement
    assert [s.code for s in directory[EITHER_SIRET].services] == ["SMTV"]
    assert directory[VAL_FLEURI].service_code_required and directory[VAL_FLEURI].engagement_required
    assert [s.active for s in directory[VAL_FLEURI].services] == [True, True, False]
    assert len(INVOICE_STATUSES) == 12 and len(FLOW_STATES) == 9


# --- OAuth and the two headers -----------------------------------------------------------------
def test_a_token_is_issued_to_the_right_client_only(standin):
    status, body = _token(standin.url)
    assert status == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == "openid"
    assert len(body["access_token"]) >= 20 and _token(standin.url)[1]["access_token"] != body["access_token"]
    for wrong in ({"client_secret": "nope"}, {"client_id": "someone"}, {"grant_type": "password"}):
        status, body = _token(standin.url, **wrong)
        assert status == 401 and body["error"] == "invalid_client" and body["error_description"]
    assert standin.requests[0] == (TOKEN, {"grant_type": "client_credentials", "client_id": "demo-client",
                                           "client_secret": "demo-secret", "scope": "openid"})


def test_expired_or_missing_tokens_are_refused(standin, cpro, clock):
    search = {"structure": {"identifiantStructure": MONTCLAIR, "typeIdentifiantStructure": "SIRET"}}
    assert cpro("/cpro/structures/v1/rechercher", search)[0] == 200
    standin.expire_tokens()
    status, body, headers = cpro("/cpro/structures/v1/rechercher", search)
    assert (status, body) == (401, {"error": "invalid_token"}) and "invalid_token" in headers["WWW-Authenticate"]
    assert _http(standin.url, "/cpro/structures/v1/rechercher", body=search, headers={"cpro-account": ACCOUNT})[0] == 401
    # a new token lives token_seconds by the stand-in's clock
    token = _token(standin.url)[1]["access_token"]
    clock.advance(seconds=3599)
    assert cpro("/cpro/structures/v1/rechercher", search, bearer=token)[0] == 200
    clock.advance(seconds=1)
    assert cpro("/cpro/structures/v1/rechercher", search, bearer=token)[0] == 401


def test_a_wrong_technical_account_is_refused_and_nothing_is_done(standin, cpro, invoice):
    wrong = base64.b64encode(f"{DEMO_CREDENTIALS['login']}:wrong".encode()).decode()
    body = {"fichierFlux": base64.b64encode(invoice.pdf).decode(), "nomFichier": "f.pdf",
            "syntaxeFlux": "IN_DP_E2_CII_FACTURX"}
    for account in (wrong, None, "pas du base64 !"):
        status, answer, _ = cpro(DEPOSIT, body, account=account)
        assert (status, answer) == (403, {"codeRetour": 20100,
                                          "libelle": "Compte technique inconnu ou mot de passe incorrect"})
    assert standin.flows() == [] and standin.invoices() == []


def test_bad_requests_and_unknown_paths(standin, cpro):
    status, body, _ = cpro("/cpro/structures/v1/consulter", raw=b"{not json")
    assert status == 400 and body["codeRetour"] == 20001 and "JSON" in body["libelle"]
    status, body, _ = cpro("/cpro/structures/v1/consulter", {"codeLangue": "fr"})
    assert status == 400 and body["codeRetour"] == 20001 and "idStructureCPP" in body["libelle"]
    status, body, _ = cpro("/cpro/structures/v1/consulter", {"idStructureCPP": "12"})
    assert status == 400 and "entier" in body["libelle"]
    assert cpro("/cpro/structures/v1/inventer", {})[0] == 404
    assert standin.requests[-1] == ("/cpro/structures/v1/inventer", {})


# --- the directory ------------------------------------------------------------------------------
def _structure(cpro, siret: str) -> dict:
    status, body, _ = cpro("/cpro/structures/v1/rechercher", {
        "structure": {"identifiantStructure": siret, "typeIdentifiantStructure": "SIRET"},
        "restreindreStructuresPrivees": False})
    assert status == 200 and body["codeRetour"] == 0 and body["libelle"] == "TRA_MSG_00.000"
    return body


def test_the_directory_is_searched_by_siret(cpro):
    body = _structure(cpro, MONTCLAIR)
    assert body["parametresRetour"] == {"pageCourante": 1, "pages": 1, "nbResultatsParPage": 10, "total": 1}
    [found] = body["listeStructures"]
    assert found["identifiantStructure"] == MONTCLAIR and found["designationStructure"] == "Ville de Montclair"
    assert found["typeIdentifiantStructure"] == "SIRET" and found["statut"] == "ACTIF"
    assert isinstance(found["idStructureCPP"], int)
    assert _structure(cpro, INACTIVE_SIRET)["listeStructures"][0]["statut"] == "INACTIF"
    unknown = _structure(cpro, UNKNOWN_SIRET)
    assert unknown["listeStructures"] == [] and unknown["parametresRetour"]["total"] == 0


def test_a_structure_is_consulted_with_its_parameters(cpro):
    def parameters(siret):
        structure_id = _structure(cpro, siret)["listeStructures"][0]["idStructureCPP"]
        status, body, _ = cpro("/cpro/structures/v1/consulter", {"idStructureCPP": structure_id, "codeLangue": "fr"})
        assert status == 200 and body["idStructureCPP"] == structure_id and body["identifiant"] == siret
        return body["raisonSociale"], body["parametres"]

    name, found = parameters(VAL_FLEURI)
    assert name == "Communauté d'agglomération du Val Fleuri"
    assert found == {"codeServiceDoitEtreRenseigne": True, "numeroEJDoitEtreRenseigne": True,
                     "gestionNumeroEJOuCodeService": False, "statutMiseEnPaiementNestPasRemonte": False}
    assert parameters(MONTCLAIR)[1]["numeroEJDoitEtreRenseigne"] is True
    assert parameters(MONTCLAIR)[1]["codeServiceDoitEtreRenseigne"] is False
    assert parameters(EITHER_SIRET)[1]["gestionNumeroEJOuCodeService"] is True
    assert parameters(SAINT_AUBIN)[1] == {"codeServiceDoitEtreRenseigne": False, "numeroEJDoitEtreRenseigne": False,
                                          "gestionNumeroEJOuCodeService": False,
                                          "statutMiseEnPaiementNestPasRemonte": False}
    status, body, _ = cpro("/cpro/structures/v1/consulter", {"idStructureCPP": 1, "codeLangue": "fr"})
    assert (status, body) == (400, {"codeRetour": 20002, "libelle": "Structure inconnue"})


def test_services_are_listed_page_by_page(cpro):
    structure_id = _structure(cpro, VAL_FLEURI)["listeStructures"][0]["idStructureCPP"]

    def page(size, number):
        status, body, _ = cpro("/cpro/structures/v1/rechercher/services", {
            "idStructure": structure_id, "parametres": {"nbResultatsParPage": size, "pageResultatDemandee": number}})
        assert status == 200 and body["codeRetour"] == 0
        return body

    first, second, beyond = page(2, 1), page(2, 2), page(2, 3)
    assert [s["codeService"] for s in first["listeServices"]] == ["DIR-NATURE", "DIR-FIN"]
    assert first["parametresRetour"] == {"pageCourante": 1, "pages": 2, "nbResultatsParPage": 2, "total": 3}
    assert second["listeServices"] == [{"idService": second["listeServices"][0]["idService"],
                                        "codeService": "OLD-SERV", "libelleService": "Ancien service",
                                        "estActif": False}]
    assert second["parametresRetour"]["pageCourante"] == 2 and beyond["listeServices"] == []
    everything = page(50, 1)["listeServices"]
    assert [s["estActif"] for s in everything] == [True, True, False]
    assert len({s["idService"] for s in everything}) == 3
    assert [s["libelleService"] for s in everything][:2] == ["Direction nature et paysage", "Direction financière"]
    status, body, _ = cpro("/cpro/structures/v1/rechercher/services", {"idStructure": 999})
    assert (status, body["codeRetour"]) == (400, 20002)
    status, body, _ = cpro("/cpro/structures/v1/rechercher/services",
                           {"idStructure": structure_id, "parametres": {"nbResultatsParPage": 0}})
    assert (status, body["codeRetour"]) == (400, 20001)


def test_structures_added_later_are_found(standin, cpro):
    standin.add_structure(Structure("21350123400016", "Commune test", services=[Service("X", "Service X")]))
    assert _structure(cpro, "21350123400016")["listeStructures"][0]["designationStructure"] == "Commune test"


# --- deposit, integration, search, history ---------------------------------------------------------
def test_an_invoice_is_deposited_integrated_found_and_followed(standin, cpro, invoice, clock):
    flow = _deposit(cpro, invoice.pdf)
    assert flow.startswith("CPP-FLUX-")
    report = _report(cpro, flow)
    assert report["etatCourantDepotFlux"] == "IN_INTEGRE" and report["listeErreurDP"] == []
    assert report["numeroFluxDepot"] == flow and report["nomFichier"] == "FAC-2026-00042.pdf"
    assert report["dateDepotFlux"] == "2026-11-28T09:30:00+00:00" and report["listeErreurTechnique"] == []
    assert standin.flows() == [{"flux": flow, "file_name": "FAC-2026-00042.pdf", "state": "IN_INTEGRE",
                                "errors": [], "deposited_at": clock.now}]

    status, by_number, _ = cpro(SEARCH, {"numeroFacture": "FAC-2026-00042"})
    assert status == 200 and by_number["codeRetour"] == 0
    [found] = by_number["listeFactures"]
    assert found == {"identifiantFactureCPP": found["identifiantFactureCPP"], "numeroFacture": "FAC-2026-00042",
                     "typeFacture": "FACTURE", "statut": "MISE_A_DISPOSITION", "dateDepot": "2026-11-28",
                     "montantTTC": 720.0, "identifiantDestinataire": MONTCLAIR, "numeroFluxDepot": flow}
    assert cpro(SEARCH, {"numeroFluxDepot": flow})[1]["listeFactures"] == [found]
    assert cpro(SEARCH, {"numeroFacture": "FAC-2026-00042", "numeroFluxDepot": "CPP-FLUX-999999"})[1][
        "listeFactures"] == []
    assert cpro(SEARCH, {"numeroFacture": "FAC-2099-00001"})[1]["listeFactures"] == []

    status, history, _ = cpro(HISTORY, {"idFacture": found["identifiantFactureCPP"],
                                        "nbResultatsParPage": 10, "pageResultatDemandee": 1})
    assert status == 200 and history["numeroFacture"] == "FAC-2026-00042"
    assert history["idFacture"] == found["identifiantFactureCPP"]
    assert history["statutCourantCode"] == "MISE_A_DISPOSITION"
    rows = history["historiquesDesStatuts"]["histoStatut"]
    assert [r["histoStatutCode"] for r in rows] == ["DEPOSEE", "MISE_A_DISPOSITION"]
    assert {r["histoStatutDatePassage"] for r in rows} == {"2026-11-28T09:30:00+00:00"}
    assert history["historiquesDesStatuts"]["totalHistoStatut"] == 2

    [stored] = standin.invoices()
    assert stored["number"] == "FAC-2026-00042" and stored["kind"] == "FACTURE" and stored["flux"] == flow
    assert (stored["buyer_siret"], stored["service_code"], stored["engagement"]) == (
        MONTCLAIR, "ESPACES-VERTS", "EJ-2026-004512")
    assert stored["history"] == [("DEPOSEE", clock.now, ""), ("MISE_A_DISPOSITION", clock.now, "")]


def test_a_status_moved_by_hand_shows_in_the_history(standin, cpro, invoice, clock):
    _deposit(cpro, invoice.pdf)
    invoice_id = standin.invoices()[0]["id"]
    clock.advance(days=3)
    standin.move("FAC-2026-00042", "SERVICE_FAIT")
    clock.advance(days=10)
    standin.move("FAC-2026-00042", "MISE_EN_PAIEMENT", "Virement du 11/12")
    token = _token(standin.url)[1]["access_token"]  # the first one expired meanwhile
    body = cpro(HISTORY, {"idFacture": invoice_id}, bearer=token)[1]
    assert body["statutCourantCode"] == "MISE_EN_PAIEMENT"
    rows = body["historiquesDesStatuts"]["histoStatut"]
    assert [(r["histoStatutCode"], r["histoStatutDatePassage"], r["histoStatutCommentaire"]) for r in rows][2:] == [
        ("SERVICE_FAIT", "2026-12-01T09:30:00+00:00", ""),
        ("MISE_EN_PAIEMENT", "2026-12-11T09:30:00+00:00", "Virement du 11/12")]
    assert len({r["histoStatutId"] for r in rows}) == 4
    found = cpro(SEARCH, {"numeroFacture": "FAC-2026-00042"}, bearer=token)[1]["listeFactures"]
    assert found[0]["statut"] == "MISE_EN_PAIEMENT"
    with pytest.raises(ValueError):
        standin.move("FAC-2026-00042", "PAYEE")
    with pytest.raises(ValueError):
        standin.move("FAC-2099-00001", "REJETEE")
    status, body, _ = cpro(HISTORY, {"idFacture": invoice_id + 1000}, bearer=token)
    assert (status, body) == (400, {"codeRetour": 20004, "libelle": "Facture inconnue"})


def test_an_unknown_flow_has_no_report(cpro):
    status, body, _ = cpro(REPORT, {"numeroFluxDepot": "CPP-FLUX-424242", "syntaxeFlux": "IN_DP_E2_CII_FACTURX"})
    assert (status, body) == (400, {"codeRetour": 20003, "libelle": "Flux inconnu"})


def test_the_supplier_search_pages_through_its_invoices(standin, cpro, invoice):
    flows = [_deposit(cpro, invoice.pdf), _deposit(cpro, invoice.credit_pdf)]
    body = cpro(SEARCH, {"pagination": {"nbResultatsParPage": 1, "pageResultatDemandee": 2}})[1]
    assert body["parametresRetour"] == {"pageCourante": 2, "pages": 2, "nbResultatsParPage": 1, "total": 2}
    [credit] = body["listeFactures"]
    assert (credit["numeroFacture"], credit["typeFacture"], credit["numeroFluxDepot"]) == (
        "AV-2026-00007", "AVOIR", flows[1])
    assert len(cpro(SEARCH, {})[1]["listeFactures"]) == 2


# --- what rejects a flow ---------------------------------------------------------------------------
def _xml_less(invoice):
    return _rewrite(invoice.pdf, drop_xml=True)


def _not_pdf_a3(invoice):
    return _rewrite(invoice.pdf, xmp=lambda packet: packet.replace(b"<pdfaid:part>3</pdfaid:part>",
                                                                   b"<pdfaid:part>1</pdfaid:part>"))


def _xsd_broken(invoice):
    xml = invoice.xml.replace(b"<ram:TypeCode>380</ram:TypeCode>", b"<ram:Genre>380</ram:Genre>", 1)
    assert xml != invoice.xml
    return _rewrite(invoice.pdf, xml)


def _with(**changes):
    return lambda invoice: _rewrite(invoice.pdf, _variant(invoice.xml, **changes))


REJECTIONS = {
    "not a PDF": (lambda invoice: b"FAC-2026-00042;720.00\n", "n'est pas un PDF"),
    "no factur-x.xml": (_xml_less, "factur-x.xml"),
    "XML against the XSD": (_xsd_broken, "schéma XSD"),
    "not PDF/A-3": (_not_pdf_a3, "PDF/A-3"),
    "another supplier": (_with(seller="48312345600027"), "Le fournisseur 48312345600027 n'est pas rattaché"),
    "unknown buyer": (_with(buyer=UNKNOWN_SIRET), f"Le destinataire {UNKNOWN_SIRET} est inconnu"),
    "inactive buyer": (_with(buyer=INACTIVE_SIRET), "n'est pas actif"),
    "service code required": (_with(buyer=GRAND_PORT, service=None), "code service est obligatoire"),
    "inactive service": (_with(buyer=VAL_FLEURI, service="OLD-SERV"), "« OLD-SERV » n'existe pas ou n'est pas actif"),
    "service of another buyer": (_with(buyer=SAINT_AUBIN, engagement=None), "« ESPACES-VERTS » n'existe pas"),
    "engagement required": (_with(engagement=None), "numéro d'engagement est obligatoire"),
    "service or engagement": (_with(buyer=EITHER_SIRET, service=None, engagement=None),
                              "exige un code service ou un numéro d'engagement"),
    "unknown document type": (_with(type_code="386"), "Type de document « 386 »"),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_a_flow_breaking_a_rule_is_rejected(standin, cpro, invoice, case):
    make, expected = REJECTIONS[case]
    flow = _deposit(cpro, make(invoice))
    report = _report(cpro, flow)
    assert report["etatCourantDepotFlux"] == "IN_REJETE"
    lines = [line["libelleErreurDP"] for line in report["listeErreurDP"]]
    assert len(lines) == 1 and expected in lines[0], lines
    assert all(line["identifiantFournisseur"] == DEMO_SUPPLIER_SIRET for line in report["listeErreurDP"])
    assert standin.flows()[0]["errors"] == lines
    assert standin.invoices() == [] and cpro(SEARCH, {})[1]["listeFactures"] == []


def test_a_rejected_flow_names_the_invoice_and_its_buyer(cpro, invoice):
    flow = _deposit(cpro, _rewrite(invoice.pdf, _variant(invoice.xml, buyer=GRAND_PORT, service=None)))
    [line] = _report(cpro, flow)["listeErreurDP"]
    assert (line["numeroDP"], line["identifiantDestinataire"]) == ("FAC-2026-00042", GRAND_PORT)


@pytest.mark.parametrize("changes", [
    {"buyer": EITHER_SIRET, "service": "SMTV", "engagement": None},
    {"buyer": EITHER_SIRET, "service": None},
    {"buyer": VAL_FLEURI, "service": "DIR-NATURE"},
    {"buyer": SAINT_AUBIN, "service": None, "engagement": None},
    {"buyer": GRAND_PORT, "service": "PARCS", "siret_in_legal_id": True},
], ids=["either: service", "either: engagement", "both required", "nothing required", "SIRET as legal id"])
def test_a_flow_keeping_the_rules_is_integrated(standin, cpro, invoice, changes):
    flow = _deposit(cpro, _rewrite(invoice.pdf, _variant(invoice.xml, **changes)))
    report = _report(cpro, flow)
    assert (report["etatCourantDepotFlux"], report["listeErreurDP"]) == ("IN_INTEGRE", [])
    assert standin.invoices()[0]["buyer_siret"] == changes["buyer"]


def test_several_broken_rules_are_all_reported(cpro, invoice):
    flow = _deposit(cpro, _rewrite(invoice.pdf, _variant(invoice.xml, buyer=VAL_FLEURI, service=None,
                                                         engagement=None)))
    lines = [line["libelleErreurDP"] for line in _report(cpro, flow)["listeErreurDP"]]
    assert len(lines) == 2 and "code service" in lines[0] and "engagement" in lines[1]


def test_the_same_invoice_twice_is_a_duplicate_but_a_credit_note_of_that_number_is_not(standin, cpro, invoice):
    first, second = _deposit(cpro, invoice.pdf), _deposit(cpro, invoice.pdf)
    assert first != second
    report = _report(cpro, second)
    assert report["etatCourantDepotFlux"] == "IN_REJETE"
    assert [line["libelleErreurDP"] for line in report["listeErreurDP"]] == [
        "Facture en doublon : FAC-2026-00042 déjà déposée."]
    same_number_credit = _deposit(cpro, _rewrite(invoice.pdf, _variant(invoice.xml, type_code="381")))
    assert _report(cpro, same_number_credit)["etatCourantDepotFlux"] == "IN_INTEGRE"
    assert [(i["number"], i["kind"]) for i in standin.invoices()] == [("FAC-2026-00042", "FACTURE"),
                                                                      ("FAC-2026-00042", "AVOIR")]
    standin.move("FAC-2026-00042", "REJETEE", "Erreur", kind="FACTURE")
    assert [i["status"] for i in standin.invoices()] == ["REJETEE", "MISE_A_DISPOSITION"]


def test_request_level_problems_fail_the_call(standin, cpro, invoice):
    good = {"idUtilisateurCourant": 0, "fichierFlux": base64.b64encode(invoice.pdf).decode(),
            "nomFichier": "f.pdf", "syntaxeFlux": "IN_DP_E2_CII_FACTURX", "avecSignature": False}
    cases = {
        "fichierFlux": {**good, "fichierFlux": "ceci n'est pas du base64"},
        "IN_DP_E2_CII_FACTURX": {**good, "syntaxeFlux": "IN_DP_E1_UBL_INVOICE"},
        "nomFichier": {key: value for key, value in good.items() if key != "nomFichier"},
        "10 Mo": {**good, "fichierFlux": base64.b64encode(b"%PDF-" + b"0" * (10 * 1024 * 1024)).decode()},
    }
    for expected, body in cases.items():
        status, answer, _ = cpro(DEPOSIT, body)
        assert status == 400 and answer["codeRetour"] == 20001 and expected in answer["libelle"], answer
    assert standin.flows() == []


# --- held flows, injected failures, lost answers ------------------------------------------------------
def test_held_flows_wait_until_integrated(standin, cpro, invoice, clock):
    standin.hold_flows = True
    flow = _deposit(cpro, invoice.pdf)
    duplicate = _deposit(cpro, invoice.pdf)
    assert _report(cpro, flow)["etatCourantDepotFlux"] == "IN_EN_ATTENTE_TRAITEMENT_CPP"
    assert standin.invoices() == [] and cpro(SEARCH, {})[1]["listeFactures"] == []
    clock.advance(minutes=20)
    standin.integrate_pending()
    report = _report(cpro, flow)
    assert report["etatCourantDepotFlux"] == "IN_INTEGRE"
    assert report["dateHeureEtatCourantFlux"] == "2026-11-28T09:50:00+00:00"
    assert report["dateDepotFlux"] == "2026-11-28T09:30:00+00:00"
    assert _report(cpro, duplicate)["etatCourantDepotFlux"] == "IN_REJETE"
    assert len(standin.invoices()) == 1


def test_injected_failures_answer_without_doing_anything(standin, cpro, invoice):
    standin.fail_next(2, status=429, path_contains="deposer", retry_after=7)
    body = {"fichierFlux": base64.b64encode(invoice.pdf).decode(), "nomFichier": "f.pdf",
            "syntaxeFlux": "IN_DP_E2_CII_FACTURX"}
    assert _structure(cpro, MONTCLAIR)["codeRetour"] == 0  # another path: not affected
    for _ in range(2):
        status, answer, headers = cpro(DEPOSIT, body)
        assert status == 429 and answer["codeRetour"] == -1 and answer["libelle"]
        assert headers["Retry-After"] == "7"
    assert standin.flows() == []
    assert cpro(DEPOSIT, body)[0] == 200 and len(standin.flows()) == 1
    standin.fail_next(path_contains="oauth")
    status, answer = _token(standin.url)
    assert status == 503 and answer["codeRetour"] == -1
    assert _token(standin.url)[0] == 200


def test_a_lost_answer_leaves_the_deposit_done(standin, cpro, invoice):
    standin.lose_next_answer("deposer/flux")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        _deposit(cpro, invoice.pdf)
    assert [f["state"] for f in standin.flows()] == ["IN_INTEGRE"] and len(standin.invoices()) == 1
    flow = standin.flows()[0]["flux"]
    assert cpro(SEARCH, {"numeroFacture": "FAC-2026-00042"})[1]["listeFactures"][0]["numeroFluxDepot"] == flow
    assert _deposit(cpro, invoice.pdf) != flow  # only one answer lost
    assert [p for p, _ in standin.requests].count(DEPOSIT) == 2


# --- the server -----------------------------------------------------------------------------------------
def test_it_listens_on_the_loopback_address_only(standin):
    assert standin.url.startswith("http://127.0.0.1:")
    port = int(standin.url.rsplit(":", 1)[1])
    with pytest.raises(OSError):  # another address of this machine's loopback: nobody there
        socket.create_connection(("127.0.0.2", port), timeout=2).close()
    socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_stop_frees_the_port(clock):
    server = ChorusProStandIn(clock=clock, structures=[])
    url = server.start()
    assert server.url == url and _token(url)[0] == 200
    server.stop()
    with pytest.raises(urllib.error.URLError):
        _token(url)
    server.stop()  # twice is harmless


def test_the_default_clock_is_utc_and_naive_clocks_are_taken_as_utc():
    with ChorusProStandIn(clock=lambda: datetime(2027, 1, 5, 10, 0)) as server:
        status, body = _token(server.url)
        assert status == 200
        answer = _http(server.url, REPORT, body={"numeroFluxDepot": "x"},
                       headers={"Authorization": f"Bearer {body['access_token']}", "cpro-account": ACCOUNT})
        assert answer[0] == 400
    assert ChorusProStandIn()._now().tzinfo == timezone.utc
