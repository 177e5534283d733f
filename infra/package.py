"""``make package STAGE=prod``: the deployment zip and the one CloudFormation template to deploy.

    python -m infra.package --stage prod --out out/prod

1. generates the stage's merge template and per-function IAM policies (``infra.build``);
2. assembles a build folder outside the repository: ``app.py``, ``chalicelib/``, the top-level
   ``templates/`` copied to ``chalicelib/templates/`` (Chalice ships only ``app.py``,
   ``chalicelib/`` and ``vendor/``; ``find_templates_dir`` looks there), ``vendor/`` if any,
   ``.chalice/config.json`` and the generated policy files;
3. fetches every runtime dependency as a binary wheel for the Lambda runtime and
   architecture (``infra.wheels``: pip, ``--only-binary=:all:``, never a compiler) and unpacks
   them into the build's ``vendor/``; the build's ``requirements.txt`` stays empty, so Chalice
   builds nothing and zips ``vendor/`` as it is;
4. runs ``chalice package --merge-template`` there for the Lambda runtime of the layer
   (python3.12), whatever Python runs this script: Chalice otherwise takes the runtime from
   the interpreter running it;
5. checks the merged template and the zip (``infra.wheels.check_package``: every requirement
   and dependency present and built for the runtime, templates, sizes) and writes
   ``out/<stage>/``: ``sam.json`` (deploy this), ``deployment.zip``, ``infra.json`` (the merge
   template, for review).

``--no-deps`` packages without third-party dependencies (no network): some tests use it.
``--wheels DIR`` keeps the fetched wheels there (a cache between builds).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from infra import build as infra_build
from infra import wheels

ROOT = infra_build.ROOT
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store")
DEFAULT_REGION = "eu-west-3"
# Chalice reads the Lambda runtime from the running interpreter; the layer fixes it instead.
CHALICE_FOR_RUNTIME = f"""
import sys
from chalice.config import Config
Config.lambda_python_version = property(lambda self: {infra_build.RUNTIME!r})
from chalice.cli import main
sys.exit(main())
"""


def target() -> wheels.Target:
    """The Lambda runtime and architecture the package is for (``infra.build`` checks the config)."""
    return wheels.Target.for_runtime(infra_build.RUNTIME, infra_build.ARCHITECTURE)


def assemble(build_dir: Path, result: infra_build.Build, with_deps: bool, project_dir: Path = ROOT,
             wheel_dir: Path | None = None) -> None:
    """The project as Chalice must see it, without touching the repository."""
    shutil.copy2(project_dir / "app.py", build_dir / "app.py")
    shutil.copytree(project_dir / "chalicelib", build_dir / "chalicelib", ignore=IGNORED)
    shutil.rmtree(build_dir / "chalicelib" / "templates", ignore_errors=True)
    shutil.copytree(project_dir / "templates", build_dir / "chalicelib" / "templates", ignore=IGNORED)
    if (project_dir / "vendor").is_dir():
        shutil.copytree(project_dir / "vendor", build_dir / "vendor", ignore=IGNORED)
    if with_deps:
        fetched = wheels.fetch(project_dir / "requirements.txt", wheel_dir or build_dir.parent / "wheels", target())
        wheels.unpack(fetched, build_dir / "vendor")
    (build_dir / "requirements.txt").write_text("")  # Chalice builds nothing: vendor/ has it all
    chalice_dir = build_dir / ".chalice"
    chalice_dir.mkdir()
    shutil.copy2(project_dir / ".chalice" / "config.json", chalice_dir / "config.json")
    for name, document in result.policies.items():
        (chalice_dir / result.policy_file(name)).write_text(json.dumps(document, indent=2) + "\n")


def run_chalice_package(build_dir: Path, stage: infra_build.Stage, merge_template: Path, out: Path) -> None:
    # Chalice imports app.py from the build folder: no bytecode of this interpreter in the zip.
    env = {**os.environ, **infra_build.stage_environment(stage), "PYTHONDONTWRITEBYTECODE": "1"}
    env.setdefault("AWS_DEFAULT_REGION", env.get("AWS_REGION", DEFAULT_REGION))
    command = [sys.executable, "-c", CHALICE_FOR_RUNTIME, "package", "--stage", stage.name,
               "--merge-template", str(merge_template), str(out)]
    done = subprocess.run(command, cwd=build_dir, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise infra_build.BuildError(f"chalice package failed:\n{done.stdout}\n{done.stderr}")


def check_merged(template: dict, result: infra_build.Build) -> list[str]:
    """What must hold in the merged template; returns the problems found."""
    problems = []
    resources = template["Resources"]
    for f in result.functions:
        function = resources.get(f.logical_id)
        if function is None:
            problems.append(f"function {f.name} ({f.logical_id}) missing")
            continue
        props = function["Properties"]
        if props.get("Runtime") != infra_build.RUNTIME:
            problems.append(f"{f.logical_id}: runtime {props.get('Runtime')}, expected {infra_build.RUNTIME}")
        if {"Ref": "WeasyPrintLayerArn"} not in props.get("Layers", []):
            problems.append(f"{f.logical_id}: WeasyPrint layer not attached")
        role = props.get("Role")
        if role != {"Fn::GetAtt": [f.role_logical_id, "Arn"]}:
            problems.append(f"{f.logical_id}: unexpected role {role}")
        elif resources[f.role_logical_id]["Properties"]["Policies"][0]["PolicyDocument"] != result.policies[f.name]:
            problems.append(f"{f.role_logical_id}: policy differs from the generated one")
        if f.log_group_logical_id not in resources:
            problems.append(f"{f.name}: no log group {f.log_group_logical_id} (log_retention_in_days)")
        variables = props.get("Environment", {}).get("Variables", {})
        for name, parameter in infra_build.SECRETS.items():
            expected = infra_build.secret_parameter(result.stage, parameter)
            if variables.get(infra_build.secret_variable(name)) != expected:
                problems.append(f"{f.logical_id}: secret {name} not wired (its parameter {expected})")
            if name in variables:
                problems.append(f"{f.logical_id}: secret {name} in plain environment")
    return problems


def package(stage_name: str, out: Path, with_deps: bool = True, wheel_dir: Path | None = None) -> Path:
    """Write ``out/sam.json`` and ``out/deployment.zip``; return the template's path."""
    result = infra_build.build_stage(stage_name)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in ("sam.json", "deployment.zip", "infra.json"):
        (out / name).unlink(missing_ok=True)
    merge_template = out / "infra.json"
    infra_build.write(result, merge_template, None)
    with tempfile.TemporaryDirectory(prefix=f"adhesions-{stage_name}-") as tmp:
        build_dir = Path(tmp) / "project"
        build_dir.mkdir()
        try:
            assemble(build_dir, result, with_deps, wheel_dir=wheel_dir)
        except wheels.WheelError as error:
            raise infra_build.BuildError(str(error)) from None
        run_chalice_package(build_dir, result.stage, merge_template, Path(tmp) / "out")
        for name in ("sam.json", "deployment.zip"):
            shutil.move(str(Path(tmp) / "out" / name), out / name)
    template_path = out / "sam.json"
    problems = check_merged(json.loads(template_path.read_text()), result)
    if problems:
        raise infra_build.BuildError("merged template:\n  " + "\n  ".join(problems))
    if with_deps:
        problems, _ = wheels.check_package(out / "deployment.zip", ROOT / "requirements.txt", target())
        if problems:
            raise infra_build.BuildError("deployment.zip would not run on Lambda:\n  " + "\n  ".join(problems))
    return template_path


def _size(path: Path) -> tuple[float, float]:
    with zipfile.ZipFile(path) as archive:
        unzipped = sum(i.file_size for i in archive.infolist())
    return path.stat().st_size / 1e6, unzipped / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Package a stage: deployment zip + merged template")
    parser.add_argument("--stage", required=True)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--no-deps", action="store_true", help="leave out requirements.txt (tests)")
    parser.add_argument("--wheels", type=Path, help="where to keep the fetched wheels (default: a temporary folder)")
    args = parser.parse_args(argv)
    out = args.out or ROOT / "out" / args.stage
    started = time.monotonic()
    try:
        template = package(args.stage, out, with_deps=not args.no_deps, wheel_dir=args.wheels)
    except infra_build.BuildError as error:
        print(f"infra.package: {error}", file=sys.stderr)
        return 2
    zipped, unzipped = _size(out / "deployment.zip")
    print(f"{template} (deploy this) and {out / 'deployment.zip'}: {zipped:.1f} MB, {unzipped:.1f} MB unzipped "
          f"(Lambda allows 250 MB unzipped with the layer), for {target()}, in {time.monotonic() - started:.0f} s")
    print(f"Next: aws cloudformation package --template-file {template} --s3-bucket <artifacts bucket> "
          f"--output-template-file {out / 'packaged.json'}; then aws cloudformation deploy (see infra/README.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
