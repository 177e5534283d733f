"""APP_TODAY / `make run TODAY=…`: the app's today, settable in the local stage only."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib import config
from chalicelib.runtime import PARIS, Runtime, running_from


@pytest.mark.parametrize("text, expected", [
    ("2027-03-15", datetime(2027, 3, 15, 10, 0, tzinfo=PARIS)),
    ("2026-12-31T23:30", datetime(2026, 12, 31, 23, 30, tzinfo=PARIS)),
    ("2028-02-29 00:00:05", datetime(2028, 2, 29, 0, 0, 5, tzinfo=PARIS)),
])
def test_a_day_or_a_moment_in_paris_time(text, expected):
    assert config.parse_clock_start(text) == expected


@pytest.mark.parametrize("text", ["15/03/2027", "2027-02-29", "2027-03-15T25:00", "demain", "2027-3-5"])
def test_anything_else_is_refused_with_the_expected_form(text):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        config.parse_clock_start(text)


def test_refused_outside_the_local_stage(monkeypatch):
    monkeypatch.setenv("APP_TODAY", "2027-03-15")
    with pytest.raises(RuntimeError, match="local stage only"):
        config._clock_start("prod")
    assert config._clock_start("local") == datetime(2027, 3, 15, 10, 0, tzinfo=PARIS)
    monkeypatch.setenv("APP_TODAY", "")
    assert config._clock_start("prod") is None


def test_the_clock_starts_on_that_moment_and_runs():
    clock = running_from(datetime(2026, 12, 31, 23, 59, 59, tzinfo=PARIS))
    first = clock()
    assert first.tzinfo is timezone.utc
    assert timedelta(0) <= first - datetime(2026, 12, 31, 22, 59, 59, tzinfo=timezone.utc) < timedelta(seconds=5)
    assert clock() >= first


def test_the_runtime_built_for_the_process_uses_it(monkeypatch):
    from chalicelib import runtime

    monkeypatch.setattr(runtime, "get_config", lambda: config.Config(
        stage="local", region="eu-west-3", table_prefix="t-", documents_bucket="b", sender_email="s@example.org",
        base_url="http://127.0.0.1", csrf_key=b"k", templates_dir=None,
        clock_start=datetime(2027, 3, 15, 10, 0, tzinfo=PARIS)))
    monkeypatch.setattr(runtime, "_runtime", None)
    rt: Runtime = runtime.get_runtime()
    assert rt.today().isoformat() == "2027-03-15"


@pytest.mark.parametrize("value", [None, "", "Prod", "prod stage", "x" * 30])
def test_the_app_refuses_to_start_without_a_stage(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("APP_STAGE", raising=False)
    else:
        monkeypatch.setenv("APP_STAGE", value)
    with pytest.raises(RuntimeError, match="APP_STAGE"):
        config.current_stage()
    monkeypatch.setenv("APP_STAGE", "prod")
    assert config.current_stage() == "prod"
