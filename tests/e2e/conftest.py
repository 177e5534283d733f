"""Browser tests: Playwright drives Debian's Chromium against the app started as `make run` does.

Without Chromium they are skipped with a plain message, unless E2E_REQUIRED=1 (CI), where
its absence is a failure. A failing step leaves a screenshot in test-artifacts/e2e/.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.devserver import ROOT, start_devserver

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
# The app's today for the browser walks (`make run TODAY=…`): mid-campaign, renewals are for
# next year. The walks never read the machine's clock; the season's edges are walked in
# tests/functional/test_season_edges.py.
E2E_TODAY = "2026-12-07T10:00"
E2E_SEASON = 2027
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("E2E_REQUIRED") == "1":
        raise pytest.UsageError(f"E2E_REQUIRED=1 but Chromium is missing at {CHROMIUM}")
    print(f"\nBrowser tests skipped: Chromium not found at {CHROMIUM} (apt-get install chromium).")
    skip = pytest.mark.skip(reason="Chromium is not installed (apt-get install chromium)")
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def app_server():
    server = start_devserver(today=E2E_TODAY)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, request):
    context = chromium.new_context(locale="fr-FR", accept_downloads=True, viewport={"width": 1100, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
