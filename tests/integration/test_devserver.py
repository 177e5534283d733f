"""The `make run` entry point: moto in-process, demo data, pages over real HTTP."""
from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

import pytest

from tests.devserver import start_devserver


@pytest.fixture(scope="module")
def devserver():
    server = start_devserver()
    yield server.url, server.output
    server.stop()


def test_prints_url_logins_and_mailbox(devserver):
    url, output = devserver
    assert url in output
    assert f"{url}/_dev/courriels" in output
    assert "equipe@cite-verte.example" in output
    assert output.count("@") >= 8


def test_serves_the_login_page_over_http(devserver):
    url, _ = devserver
    with urllib.request.urlopen(f"{url}/connexion", timeout=20) as response:
        assert response.status == 200
        html = response.read().decode()
    assert "Espace personnel" in html
    assert 'name="csrf_token"' in html


def test_demo_contact_logs_in_and_sees_history_over_http(devserver):
    url, output = devserver
    password = re.search(r"mot de passe pour tous : (\S+)\)", output).group(1)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(f"{url}/connexion", timeout=20).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    body = urllib.parse.urlencode({"csrf_token": token, "email": "m.lefevre@montclair.example",
                                   "password": password, "suite": "/mon-compte/adhesions"}).encode()
    page = opener.open(urllib.request.Request(f"{url}/connexion", data=body), timeout=20)
    html = page.read().decode()
    assert page.url.endswith("/mon-compte/adhesions")
    assert "Historique des adhésions" in html and "Ville de Montclair" in html


def test_moto_listens_on_loopback_only(devserver):
    _, output = devserver
    assert re.search(r"AWS simulé \(moto\) : http://127\.0\.0\.1:\d+", output)


def test_prints_the_apps_today_and_its_season(devserver):
    _, output = devserver
    assert re.search(r"Aujourd'hui pour l'application : \d{2}/\d{2}/\d{4} — campagne \d{4}", output)


def test_runs_on_a_chosen_day():
    server = start_devserver(today="2027-03-15")
    try:
        assert "Aujourd'hui pour l'application : 15/03/2027 (date simulée) — campagne 2027" in server.output
    finally:
        server.stop()


def test_an_unreadable_day_is_refused_before_anything_starts():
    import subprocess
    import sys

    from tests.devserver import ROOT

    done = subprocess.run([sys.executable, "-m", "chalicelib.local.devserver", "--today", "15/03/2027"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "YYYY-MM-DD" in done.stderr
