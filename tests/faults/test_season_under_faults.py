"""A season under injected AWS faults loses nothing and leaves nothing half-done (see season.py).

CI runs seed 1 at 10 %. ``FAULT_SEEDS=1,2,3 FAULT_RATES=0.1,0.25
FAULT_CLONES=53`` (about 60 organisations) runs the full grid and prints one line per run
(with ``-s``).
"""
from __future__ import annotations

import os

import pytest
from chalice.test import Client

from tests.faults.season import run_season

SEEDS = [int(s) for s in os.environ.get("FAULT_SEEDS", "").split(",") if s]
RATES = [float(r) for r in os.environ.get("FAULT_RATES", "").split(",") if r]
CLONES = int(os.environ.get("FAULT_CLONES", "14"))
# CI runs seed 1 at 10 %. The 25 % grid (README) is run on request: about one run in twenty
# leaves a cancellation cut between its credit note and its transition, which the reconciler
# does not finish yet (issue 21), so 25 % does not gate CI until it does.
RUNS = [(s, r) for s in SEEDS for r in RATES] if SEEDS and RATES else [(1, 0.10)]


@pytest.fixture
def client():
    """The app's test client. Chalice swaps ``os.environ`` for a copy during each request, and two
    requests at once can leave the copy in place: the real mapping is put back afterwards."""
    from app import app

    environ = os.environ
    try:
        with Client(app, stage_name="local") as test_client:
            yield test_client
    finally:
        os.environ = environ  # noqa: B003 — undoing the test client's own swap, as it does


@pytest.mark.parametrize("seed,rate", RUNS, ids=[f"seed{s}-{r:.0%}" for s, r in RUNS])
def test_a_season_under_faults_loses_nothing(rt, clock, demo, client, seed, rate):
    report = run_season(rt, clock, client, seed=seed, rate=rate, clones=CLONES)
    print("\n" + report.line())
    assert report.problems() == {}, report.details()
    # People may give up after twenty presses (counted): what they did finish is checked above.
    assert report.bare_error_pages == 0, report.details()


def test_without_faults_the_season_is_clean_too(rt, clock, demo, client):
    report = run_season(rt, clock, client, seed=0, rate=0.0, clones=3)
    assert report.problems() == {}, report.details()
    assert report.error_pages == 0, report.line()
    assert report.requests >= 8 and report.emails_due > 20
