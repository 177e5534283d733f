"""`make package STAGE=prod` with its dependencies: the zip a deploy would use, checked whole.

The package is built once for the module as `make package` builds it (wheels fetched for
Lambda's python3.12 x86_64, never compiled; pip's cache keeps it to seconds). Then:
``infra.wheels.check_package`` finds nothing missing and nothing built for another platform;
taking cffi out, or shipping an extension built for another Python, is caught; and a Python
of the target version — with nothing but the unpacked zip and its own standard library on
its path — imports the app, hashes and verifies a password with argon2 and renders a
Factur-X invoice (the system's Pango standing in for the layer) whose XML passes the XSD.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra import package as infra_package
from infra import wheels

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements.txt"

IN_THE_ZIP = r"""
import json, sys
from datetime import date
from decimal import Decimal
from dataclasses import replace
from io import BytesIO
import app  # the Lambda entry point
from chalicelib.adapters.passwords import Argon2Hasher
from chalicelib.adapters.pdf import PdfRenderer
from chalicelib.adapters.templates import TemplateRenderer, find_templates_dir
from chalicelib.domain.documents import build_invoice
from chalicelib.local.demo import demo_association, demo_organisations
from facturx import get_facturx_xml_from_pdf, xml_check_xsd

hasher = Argon2Hasher()
stored = hasher.hash("Tilleul-Platane-Erable-2026")
org = next(d.org for d in demo_organisations() if d.org.org_id == "org-montclair")
invoice = build_invoice(settings=demo_association(), org=org, today=date(2026, 12, 7), year=2027, tier_code="COL-3",
                        tier_label="Commune de 20 000 à 50 000 habitants", amount=Decimal("720"),
                        po_number="EJ-2026-004512", service_code="ESPACES-VERTS")
invoice = replace(invoice, number="FAC-2026-00001", document_id="doc-1")
pdf = PdfRenderer(TemplateRenderer(find_templates_dir(None))).render(invoice)
flavor, xml = get_facturx_xml_from_pdf(BytesIO(pdf), check_xsd=False)
xml_check_xsd(xml, flavor="factur-x", level="en16931")
import cffi, lxml, PIL, argon2, weasyprint, pynamodb
print(json.dumps({
    "python": list(sys.version_info[:2]),
    "argon2": hasher.verify(stored, "Tilleul-Platane-Erable-2026") and not hasher.verify(stored, "autre"),
    "pdf": pdf[:5].decode(), "flavor": flavor, "number_in_xml": b"FAC-2026-00001" in xml,
    "modules": {m.__name__: m.__file__ for m in (app, cffi, lxml, PIL, argon2, weasyprint, pynamodb)},
    "path": sys.path,
}))
"""


def target_python() -> str | None:
    """A CPython of the Lambda runtime's version: PYTHON_FOR_LAMBDA, the PATH, or pyenv's builds."""
    version = infra_package.target().python
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [os.environ.get("PYTHON_FOR_LAMBDA", "")]
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}*/bin/python{version}"), reverse=True)
    candidates.append(shutil.which(f"python{version}") or "")
    # pyenv's shims only pick a version from pyenv's settings: use the builds themselves.
    return next((c for c in candidates if c and "/shims/" not in c and os.access(c, os.X_OK)), None)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("package-deps")
    done = subprocess.run([sys.executable, "-m", "infra.package", "--stage", "prod", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    print("\n" + done.stdout.splitlines()[0])
    return out / "deployment.zip"


def rewritten(source: Path, dest: Path, keep=lambda name: True, rename=lambda name: name) -> Path:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if keep(info.filename):
                new.writestr(rename(info.filename), old.read(info))
    return dest


def test_every_requirement_and_dependency_is_there_built_for_the_runtime(built):
    problems, sizes = wheels.check_package(built, REQUIREMENTS, infra_package.target())
    assert problems == []
    print(f"\ndeployment.zip: {sizes['zipped_mb']:.1f} MB, {sizes['unzipped_mb']:.1f} MB unzipped")
    with zipfile.ZipFile(built) as archive:
        names = set(archive.namelist())
    for module in ("lxml/etree.cpython-312-x86_64-linux-gnu.so", "_cffi_backend.cpython-312-x86_64-linux-gnu.so",
                   "PIL/_imaging.cpython-312-x86_64-linux-gnu.so", "pynamodb/__init__.py", "weasyprint/__init__.py",
                   "facturx/__init__.py", "argon2/__init__.py", "chalicelib/templates/base.html", "app.py"):
        assert module in names


def test_a_zip_without_cffi_is_refused(built, tmp_path):
    def keep(name: str) -> bool:
        return not name.startswith(("cffi/", "cffi-", "_cffi_backend"))

    broken = rewritten(built, tmp_path / "no-cffi.zip", keep=keep)
    problems, _ = wheels.check_package(broken, REQUIREMENTS, infra_package.target())
    assert any(p.startswith("cffi, needed by") for p in problems), problems


def test_an_extension_built_for_another_python_or_machine_is_refused(built, tmp_path):
    broken = rewritten(built, tmp_path / "py311.zip",
                       rename=lambda n: n.replace("etree.cpython-312-x86_64", "etree.cpython-311-x86_64"))
    problems, _ = wheels.check_package(broken, REQUIREMENTS, infra_package.target())
    assert any("etree.cpython-311" in p and "not 3.12" in p for p in problems), problems
    arm = wheels.Target(python="3.12", architecture="arm64")
    problems, _ = wheels.check_package(built, REQUIREMENTS, arm)
    assert any("_cffi_backend" in p and "not arm64" in p for p in problems)


def test_a_requirement_without_a_wheel_for_the_runtime_stops_the_build_by_name(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pycparser==3.12\nzxcvbn==4.4.28\n")  # 4.4.28 was published as an sdist only
    with pytest.raises(wheels.WheelError, match="zxcvbn"):
        wheels.fetch(requirements, tmp_path / "wheels", infra_package.target())


def test_the_unpacked_zip_alone_runs_on_the_runtimes_python(built, tmp_path):
    python = target_python()
    if python is None:
        message = f"no python{infra_package.target().python} found (PYTHON_FOR_LAMBDA, PATH or pyenv)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    unpacked = tmp_path / "task"
    with zipfile.ZipFile(built) as archive:
        archive.extractall(unpacked)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "APP_STAGE": "prod",
           "AWS_DEFAULT_REGION": "eu-west-3", "CSRF_SECRET_PARAMETER": "/adhesions/prod/csrf-secret"}
    # -I: no user site, no PYTHON* variables; -S: no site-packages at all. The path is the zip's
    # folder (Lambda's /var/task) and the interpreter's standard library, nothing else.
    done = subprocess.run([python, "-I", "-S", "-c", "import sys; sys.path.insert(0, '.');" + IN_THE_ZIP],
                          cwd=unpacked, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["python"] == [3, 12]
    assert found["argon2"] is True and found["pdf"] == "%PDF-" and found["number_in_xml"] is True
    for name, path in found["modules"].items():
        assert Path(path).resolve().is_relative_to(unpacked.resolve()), (name, path)
    assert not [p for p in found["path"] if "site-packages" in p or ".venv" in p]
