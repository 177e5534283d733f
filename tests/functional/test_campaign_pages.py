"""Staff control of the campaign (/admin/campagne) and the local task page (/_dev/taches), on the demo data."""
from __future__ import annotations

import pytest

from tests.conftest import sent_emails
from tests.functional.conftest import MEMBER, STAFF
from tests.functional.renewal_support import plain

NOTICE = "Renouvellement de votre adhésion 2027"


def _demo_due_for_2027() -> tuple[int, int]:
    """(organisations, contacts) of the demo data that the 2027 notice is for (demo year: 2026)."""
    from chalicelib.domain.campaign import is_due_for_renewal
    from chalicelib.domain.model import Membership
    from chalicelib.local.demo import demo_organisations

    due = [d for d in demo_organisations() if d.org.active and is_due_for_renewal(
        [Membership(d.org.org_id, 2026 - ago, tier, tier, 0, status) for ago, tier, status in d.history], 2027)]
    return len(due), sum(len(d.contacts) for d in due)


DEMO_ORGANISATIONS, DEMO_CONTACTS = _demo_due_for_2027()


@pytest.fixture
def staff(browser, rt):
    rt.sleep = lambda seconds: None  # the SES throttle's waits are not what these tests are about
    browser.login(STAFF)
    return browser


def notices():
    return [m for m in sent_emails() if m.subject.startswith(NOTICE)]


def test_staff_preview_the_campaign_and_nothing_is_sent(staff, rt):
    response = staff.get("/admin/campagne")
    assert response.status_code == 200
    page = staff.text()
    assert "Campagne de renouvellement 2027" in page and "Cet aperçu n'envoie rien." in page
    assert f"<dt>Pas encore renouvelées : l'avis est pour elles</dt><dd>{DEMO_ORGANISATIONS}</dd>" in page
    assert f"<dt>Destinataires (contacts techniques)</dt><dd>{DEMO_CONTACTS}</dd>" in page
    assert "m.lefevre@montclair.example" in page and "Ville de Montclair" in page
    assert sent_emails() == [] and rt.campaign_queue.receive() == []


def start(staff, season: str = "2027"):
    """« Démarrer la campagne », then the confirmation page's button."""
    staff.get(f"/admin/campagne/lancer?saison={season}")
    return staff.post("/admin/campagne/lancer", {"season": season, "confirmation": "oui"})


def test_staff_start_the_campaign_and_each_contact_gets_the_notice_once(staff):
    response = start(staff)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/campagne?saison=2027&lancee=1"
    staff.get("/_dev/taches")
    assert staff.post("/_dev/taches", {"task": "file"}).status_code == 200
    assert f"{DEMO_CONTACTS} courriel(s) envoyé(s)" in staff.text()
    assert len(notices()) == DEMO_CONTACTS

    # Starting again sends nothing new, and the page says what was sent and who started it
    start(staff)
    staff.get("/_dev/taches")
    staff.post("/_dev/taches", {"task": "file"})
    assert len(notices()) == DEMO_CONTACTS
    staff.get("/admin/campagne?saison=2027&lancee=1")
    page = staff.text()
    assert "La campagne est lancée" in page
    assert f"<dt>Avis déjà envoyés</dt><dd>{DEMO_CONTACTS}</dd>" in page
    assert "Camille Martin" in page  # the runs list who started them


def test_a_campaign_too_far_away_is_refused_with_a_message_next_to_the_field(staff):
    staff.get("/admin/campagne")
    response = staff.post("/admin/campagne/lancer", {"season": "2031"})
    assert response.status_code == 400
    assert 'id="f-season-error"' in staff.text() and "Choisissez la campagne 2026 ou 2027." in staff.text()
    staff.get("/admin/campagne")
    assert staff.post("/admin/campagne/lancer", {"season": "deux mille"}).status_code == 400
    assert staff.get("/admin/campagne?saison=1999").status_code == 404
    assert sent_emails() == []


def test_members_may_neither_preview_nor_start(browser):
    browser.login(MEMBER)
    assert browser.get("/admin/campagne").status_code == 403
    assert browser.post("/admin/campagne/lancer", {"season": "2027"}).status_code == 403


def test_the_local_task_page_runs_the_daily_schedule_on_a_chosen_day(new_browser, rt):
    rt.sleep = lambda seconds: None
    browser = new_browser()
    assert browser.get("/_dev/taches").status_code == 200
    # Today (28 November) the 2027 campaign is not open: nothing goes
    browser.post("/_dev/taches", {"task": "quotidienne_et_file"})
    assert "0 courriel(s) envoyé(s)" in browser.text()
    # On its opening day the notices go, and show in the development mailbox
    browser.post("/_dev/taches", {"task": "quotidienne_et_file", "jour": "2026-12-01"})
    assert browser.last.status_code == 200 and "campagne 2027" in browser.text()
    assert len(notices()) == DEMO_CONTACTS
    browser.get("/_dev/courriels")
    assert NOTICE in browser.text()


def test_the_local_task_page_explains_a_bad_date(new_browser):
    browser = new_browser()
    browser.get("/_dev/taches")
    assert browser.post("/_dev/taches", {"task": "quotidienne", "jour": "01/12/2026"}).status_code == 400
    assert "Indiquez une date au format AAAA-MM-JJ." in browser.text()
    assert browser.post("/_dev/taches", {"task": "rien"}).status_code == 400


def test_starting_asks_first_on_a_page_that_says_what_will_be_sent(staff, rt):
    staff.get("/admin/campagne")
    assert 'action="/admin/campagne/lancer"' in staff.text() and "Démarrer la campagne" in staff.text()
    assert staff.get("/admin/campagne/lancer?saison=2027").status_code == 200
    page = plain(staff.text())
    assert "Démarrer la campagne de renouvellement 2027 ?" in page
    assert (f"L'avis de renouvellement de l'adhésion 2027 part vers {DEMO_CONTACTS} contact(s) technique(s) "
            f"de {DEMO_ORGANISATIONS} structure(s)") in page
    assert 'name="confirmation" value="oui"' in staff.text()
    # Nothing is queued by the page, nor by a post without the confirmation, nor without CSRF
    assert rt.campaign_queue.receive() == []
    response = staff.post("/admin/campagne/lancer", {"season": "2027"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/campagne/lancer?saison=2027"
    assert staff.post("/admin/campagne/lancer", {"season": "2027", "confirmation": "oui"},
                      csrf="forged").status_code in (400, 403)
    assert rt.campaign_queue.receive() == [] and rt.campaign_ledger.runs(2027) == []
    assert staff.get("/admin/campagne/lancer?saison=2031").status_code == 404
    assert start(staff).status_code == 303
    assert len(rt.campaign_ledger.runs(2027)) == 1


def test_the_campaign_page_shows_the_notice_exactly_as_it_will_be_sent(staff, rt):
    from chalicelib.local.demo import demo_organisations
    from chalicelib.services import campaign

    montclair = next(d.org for d in demo_organisations() if d.org.name == "Ville de Montclair")
    staff.get(f"/admin/campagne?saison=2027&apercu={montclair.org_id}")
    shown = staff.text(typography=True)
    assert "L'avis tel qu'il sera envoyé" in shown and f'value="{montclair.org_id}" selected' in shown
    assert sent_emails() == [] and rt.campaign_queue.receive() == []
    # Now send it for real, and compare: the text and HTML shown are those sent to that contact
    start(staff)
    staff.get("/_dev/taches")
    staff.post("/_dev/taches", {"task": "file"})
    shown_to = campaign.preview_notice(rt, 2027, montclair.org_id).contact
    assert f"{shown_to.name} <{shown_to.email}>" in shown
    [sent] = [m for m in sent_emails(typography=True)
              if m.subject.startswith(NOTICE) and m.recipients == (shown_to.email,)]
    assert sent.subject in shown
    assert sent.text.strip() in shown  # the page is unescaped: the text as the contact reads it
    staff.get(f"/admin/campagne?saison=2027&apercu={montclair.org_id}")
    assert sent.html_body.strip() in staff.last.body.decode()  # the HTML part, byte for byte


def test_an_unknown_organisation_has_no_preview(staff):
    assert staff.get("/admin/campagne?saison=2027&apercu=inconnue").status_code == 200
    assert "Pas d'avis à montrer pour cette structure" in staff.text()


def test_the_campaign_page_and_the_dashboard_count_the_same_organisations(campaign_open, staff, rt):
    from chalicelib.services import campaign, dashboard

    preview = campaign.preview_campaign(rt, 2027)
    board = dashboard.build_dashboard(rt, 2027)
    not_renewed = next(line for line in board.lines if line.key == dashboard.NOT_RENEWED)
    assert preview.organisations_due == not_renewed.organisations == len(board.not_renewed)
    assert preview.to_renew == board.current.population
    assert preview.with_request == board.renewed
    staff.get("/admin/campagne?saison=2027")
    assert f"<dt>Structures à renouveler</dt><dd>{board.current.population}</dd>" in staff.text()
    staff.get("/admin/tableau-de-bord?annee=2027")
    assert f"<dt>Structures à renouveler</dt><dd>{board.current.population}</dd>" in staff.text()
