"""``make package``: the merged template passes cfn-lint, and the zip alone serves pages and PDFs.

The stage is packaged once for the module, as ``make package STAGE=prod`` does but without
third-party dependencies (no network): the zip's own code then runs in a fresh process whose
only app code is the unpacked zip (dependencies come from the virtualenv, as they would from
the zip's vendored packages).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGE = "prod"
PDF_TEMPLATES = ROOT / "templates" / "pdf"

# Runs inside the unpacked zip: the app on moto, a member asking « Éditer un devis ».
IN_THE_ZIP = r"""
import json, os, site, sys
from urllib.parse import urlsplit
# The zip carries Chalice's runtime part only; its test client comes from the virtualenv.
sys.path.insert(0, site.getsitepackages()[0])
from chalice.test import Client
from moto import mock_aws
mock_aws().start()
import app as application
import chalicelib
from chalicelib.adapters.local_aws import create_resources
from chalicelib.adapters.templates import find_templates_dir
from chalicelib.config import get_config
from chalicelib.local.demo import load_demo_data
from chalicelib.runtime import get_runtime
sys.path.append(os.environ["REPO"])  # only for the tests' small browser, after the app is imported
from tests.functional.conftest import Browser

create_resources(get_config())
load_demo_data(get_runtime())
found = {"chalicelib": chalicelib.__file__, "templates": str(find_templates_dir(get_config().templates_dir))}
with Client(application.app, stage_name="local") as client:
    browser = Browser(client)
    page = browser.get("/connexion")
    found["page"] = [page.status_code, page.body.decode()]
    if os.environ.get("WITH_PDF"):
        browser.login("m.lefevre@montclair.example")
        quote = browser.post("/mon-compte/devis", {})
        link = urlsplit(browser.get(quote.headers["Location"]).headers["Location"])
        bucket = get_config().documents_bucket
        key = link.path.lstrip("/").removeprefix(bucket + "/")
        import boto3
        pdf = boto3.client("s3", region_name=get_config().region).get_object(Bucket=bucket, Key=key)["Body"].read()
        found["pdf"] = pdf.decode("latin-1")
print(json.dumps(found))
"""


def _env(**extra) -> dict:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {**{k: v for k, v in os.environ.items() if k in keep}, **extra}


class Packaged:
    """The packaged stage, and the two slow checks on it started at once, side by side."""

    def __init__(self, out: Path, unpacked: Path):
        self.out, self.unpacked = out, unpacked
        self.template = json.loads((out / "sam.json").read_text())
        self._zip_result = None
        self._lint = subprocess.Popen(
            [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())",
             "--regions", "eu-west-3", "--format", "parseable", "--", str(out / "sam.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with zipfile.ZipFile(out / "deployment.zip") as archive:
            archive.extractall(unpacked)
        env = _env(REPO=str(ROOT), APP_STAGE="local", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION="eu-west-3", TABLE_PREFIX="zip-", DOCUMENTS_BUCKET="zip-documents",
                   SENDER_EMAIL="adhesions@cite-verte.example", BASE_URL="https://adhesions.test",
                   WITH_PDF="1" if PDF_TEMPLATES.is_dir() else "")
        self._zip = subprocess.Popen([sys.executable, "-c", IN_THE_ZIP], cwd=unpacked, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def lint(self) -> tuple[int, str]:
        out, err = self._lint.communicate(timeout=300)
        return self._lint.returncode, out + err

    def from_the_zip(self) -> dict:
        if self._zip_result is None:
            out, err = self._zip.communicate(timeout=300)
            assert self._zip.returncode == 0, err[-3000:]
            self._zip_result = json.loads(out.strip().splitlines()[-1])
        return self._zip_result

    def stop(self) -> None:
        for process in (self._lint, self._zip):
            if process.poll() is None:
                process.kill()
                process.communicate()


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    out = tmp_path_factory.mktemp("package")
    done = subprocess.run([sys.executable, "-m", "infra.package", "--stage", STAGE, "--out", str(out), "--no-deps"],
                          cwd=ROOT, capture_output=True, text=True, env=_env())
    assert done.returncode == 0, done.stderr
    result = Packaged(out, tmp_path_factory.mktemp("unpacked"))
    yield result
    result.stop()


def test_the_merged_template_passes_cfn_lint(packaged):
    returncode, report = packaged.lint()
    assert (returncode, report) == (0, "")


def test_every_function_runs_python_3_12_with_the_layer_its_own_policy_and_its_secret(packaged):
    from infra.access import FUNCTIONS

    template = packaged.template
    functions = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert {r["Properties"]["FunctionName"] for r in functions.values()} == {f"adhesions-{STAGE}-{n}" for n in FUNCTIONS}
    for logical, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["x86_64"]
        assert props["Layers"] == [{"Ref": "WeasyPrintLayerArn"}]
        assert props["Environment"]["Variables"]["CSRF_SECRET_PARAMETER"] == f"/adhesions/{STAGE}/csrf-secret"
        assert "CSRF_SECRET" not in props["Environment"]["Variables"]
        role = template["Resources"][props["Role"]["Fn::GetAtt"][0]]
        statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        assert statements and all(s["Effect"] == "Allow" for s in statements), logical


def test_the_zip_ships_the_code_and_every_template_and_nothing_else(packaged):
    with zipfile.ZipFile(packaged.out / "deployment.zip") as archive:
        names = set(archive.namelist())
    templates = {f"chalicelib/templates/{p.relative_to(ROOT / 'templates').as_posix()}"
                 for p in (ROOT / "templates").rglob("*") if p.is_file()}
    assert "app.py" in names
    assert templates <= names
    assert not {n for n in names if n.startswith(("tests/", "infra/", ".chalice/")) or "__pycache__" in n}


def test_a_page_renders_from_the_unpacked_zip(packaged):
    unpacked, found = packaged.unpacked, packaged.from_the_zip()
    # Then the code and the templates used are the zip's
    assert Path(found["chalicelib"]).resolve().is_relative_to(unpacked.resolve())
    assert Path(found["templates"]).resolve() == (unpacked / "chalicelib" / "templates").resolve()
    status, body = found["page"]
    assert status == 200
    assert "Espace personnel" in body or "Connexion" in body
    assert "Mot de passe oublié\u202f?" in body  # the typography filter ran too


@pytest.mark.skipif(not PDF_TEMPLATES.is_dir(), reason="no templates/pdf yet")
def test_a_pdf_renders_from_the_unpacked_zip(packaged):
    found = packaged.from_the_zip()
    assert found["pdf"].startswith("%PDF-")
    assert "%%EOF" in found["pdf"][-1024:]
