"""Staff control of the campaign (/admin/campagne) and the local task page (/_dev/taches), on the demo data."""
from __future__ import annotations

import pytest

from tests.conftest import sent_emails
from tests.functional.conftest import MEMBER, STAFF

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
    assert f"<dt>Structures à renouveler</dt><dd>{DEMO_ORGANISATIONS}</dd>" in page
    assert f"<dt>Destinataires (contacts techniques)</dt><dd>{DEMO_CONTACTS}</dd>" in page
    assert "m.lefevre@montclair.example" in page and "Ville de Montclair" in page
    assert sent_emails() == [] and rt.campaign_queue.receive() == []


def test_staff_start_the_campaign_and_each_contact_gets_the_notice_once(staff):
    response = staff.post("/admin/campagne/lancer", {"season": "2027"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/campagne?saison=2027&lancee=1"
    staff.get("/_dev/taches")
    assert staff.post("/_dev/taches", {"task": "file"}).status_code == 200
    assert f"{DEMO_CONTACTS} courriel(s) envoyé(s)" in staff.text()
    assert len(notices()) == DEMO_CONTACTS

    # Starting again sends nothing new, and the page says what was sent and who started it
    staff.get("/admin/campagne")
    staff.post("/admin/campagne/lancer", {"season": "2027"})
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
