"""What a Lambda cold start loads: ``import app`` leaves the services and adapters for first use."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _modules_after_import_app() -> set[str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update({"APP_STAGE": "local", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                "AWS_DEFAULT_REGION": "eu-west-3", "TABLE_PREFIX": "t-", "DOCUMENTS_BUCKET": "t-documents",
                "SENDER_EMAIL": "adhesions@cite-verte.example", "BASE_URL": "https://adhesions.test"})
    code = "import json, sys, app; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True)
    return set(json.loads(done.stdout))


def test_import_app_loads_no_adapter_no_pdf_and_not_the_heavy_services():
    loaded = _modules_after_import_app()
    assert not {m for m in loaded if m.startswith("chalicelib.adapters")}  # pynamodb models, SES, S3
    assert not {m for m in loaded if m.split(".")[0] in ("weasyprint", "facturx", "moto")}
    for service in ("auth", "mail", "campaign", "imports", "exports", "documents", "renewal", "account"):
        assert f"chalicelib.services.{service}" not in loaded, service
    assert "app" in loaded and "chalicelib.web.member_routes" in loaded


def test_a_service_named_in_a_from_import_is_loaded_on_first_use():
    from chalicelib import services

    stand_in = services.__getattr__("exports")
    assert stand_in.__name__ == "chalicelib.services.exports"
    assert callable(stand_in.csv_export)  # the first attribute read imports the module
    assert "chalicelib.services.exports" in sys.modules
    assert vars(stand_in) is vars(sys.modules["chalicelib.services.exports"])


def test_a_stand_in_forwards_what_tests_patch(monkeypatch):
    from chalicelib import services

    stand_in = services.__getattr__("admin_members")
    module = sys.modules.get("chalicelib.services.admin_members") or stand_in._module()
    before = module.PAGE_SIZE
    monkeypatch.setattr(stand_in, "PAGE_SIZE", 3)
    assert module.PAGE_SIZE == 3
    monkeypatch.undo()
    assert module.PAGE_SIZE == before


def test_a_name_that_is_no_service_is_an_attribute_error():
    from chalicelib import services

    with pytest.raises(AttributeError):
        services.__getattr__("no_such_service")
    assert not hasattr(services, "_private")


def test_outside_the_local_stage_the_dev_pages_are_not_even_routes():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {"PATH": "/usr/bin:/bin", "APP_STAGE": "prod", "AWS_DEFAULT_REGION": "eu-west-3",
           "CSRF_SECRET_PARAMETER": "/adhesions/prod/csrf-secret"}
    script = "import app, json; print(json.dumps(sorted(app.app.routes)))"
    done = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "/connexion" in done.stdout and "/_dev" not in done.stdout
    missing = subprocess.run([sys.executable, "-c", "import app"], cwd=root, env={"PATH": "/usr/bin:/bin"},
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "APP_STAGE must name the stage" in missing.stderr
