"""« Mon compte » and « Mes adhésions »: a contact sees only their own organisation."""
from __future__ import annotations

from dataclasses import replace

from chalicelib.domain.security import hash_token
from tests.bench.common import DynamoCounter
from tests.functional.conftest import MEMBER, MEMBER_B


def test_mon_compte_shows_organisation_and_its_contacts(browser):
    browser.login(MEMBER)
    browser.get("/mon-compte")
    html = browser.text()
    for expected in ["Ville de Montclair", "Collectivité", "21440987600019", "12 rue de la République",
                     "factures@montclair.example", "Commune de 20 000 à 50 000 habitants",
                     "Marc Lefèvre", "Sophie Garnier", "Ahmed Benali", "ESPACES-VERTS",
                     "Numéro d'engagement obligatoire"]:
        assert expected in html, expected


def test_mes_adhesions_shows_this_year_and_the_history(browser):
    browser.login(MEMBER)
    browser.get("/mon-compte/adhesions")
    html = browser.text()
    assert "Adhésion 2026" in html
    assert "Validée" in html
    assert "Historique des adhésions" in html
    for year in ("2024", "2025", "2026"):
        assert f'<th scope="row">{year}</th>' in html
    assert "720,00 €" in html
    assert "si votre tranche tarifaire a changé" in html.lower()


def test_contact_never_sees_another_organisation(browser, new_browser):
    browser.login(MEMBER)
    other = new_browser()
    other.login(MEMBER_B)
    for path in ("/mon-compte", "/mon-compte/adhesions"):
        other.get(path)
        assert "Saint-Aubin" in other.text()
        assert "Montclair" not in other.text()
        assert "Lefèvre" not in other.text()
        browser.get(path)
        assert "Saint-Aubin" not in browser.text()


def test_forged_organisation_in_the_query_changes_nothing(browser):
    browser.login(MEMBER_B)
    browser.get("/mon-compte?org_id=org-montclair")
    assert "Montclair" not in browser.text()


def test_footer_shows_the_association_contact_on_every_page(browser):
    for path in ("/", "/connexion", "/mot-de-passe-oublie", "/introuvable"):
        browser.get(path)
        assert "adherents@cite-verte.example" in browser.text()
        assert "02 00 00 00 00" in browser.text()


def test_member_pages_are_never_cached(browser):
    browser.login(MEMBER)
    assert browser.get("/mon-compte/adhesions").headers["Cache-Control"] == "no-store"


def test_mes_adhesions_takes_four_dynamodb_requests_and_no_scan(browser):
    browser.login(MEMBER)
    counter = DynamoCounter()
    with counter.installed():
        assert browser.get("/mon-compte/adhesions").status_code == 200
    # the session, then the memberships, the renewal requests and the documents
    assert counter.total <= 4, dict(counter.calls)
    assert counter.calls.get("Scan", 0) == 0
    assert "Ville de Montclair" in browser.text()


def test_a_session_opened_before_it_carried_the_name_still_shows_it(browser):
    from chalicelib.adapters.dynamo.tables import SessionTable

    browser.login(MEMBER)
    token = next(v for k, v in browser.cookies.items() if k.endswith("session"))
    SessionTable(hash_token(token)).update(actions=[SessionTable.org_name.remove()])
    browser.get("/mon-compte/adhesions")
    assert browser.last.status_code == 200
    assert "Ville de Montclair" in browser.text()


def test_a_renamed_organisation_shows_at_once_on_mon_compte_and_from_the_next_login(browser, rt):
    browser.login(MEMBER)
    org = rt.organisations.get("org-montclair")
    rt.organisations.update(replace(org, name="Ville nouvelle de Montclair"))
    browser.get("/mon-compte")
    assert "Ville nouvelle de Montclair" in browser.text()
    browser.login(MEMBER)
    browser.get("/mon-compte/adhesions")
    assert "Ville nouvelle de Montclair" in browser.text()
