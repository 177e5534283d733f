"""Cold-start figures per Lambda function: import time of ``app.py`` and peak memory.

    python -m tests.bench.bench_import [--quick]      (``make bench`` calls ``run``)

Each measure runs in a fresh interpreter, as a Lambda cold start does:

- ``import app`` against a bare import of the runtime dependencies it cannot avoid (boto3,
  pynamodb, jinja2, argon2, chalice): each fresh process imports the dependencies, then
  ``app``, timing both, so the two figures of a pair share the machine's load of that moment;
  the ratio is the median over the processes (a shared machine moves single figures by a
  third). WeasyPrint must not be among the modules ``import app`` loads;
- the same with the app's own modules compiled from source, as in the deployment zip, which
  ships no bytecode (Lambda cannot write it either: every cold start compiles them);
- peak memory per function = the resident size after ``import app`` (no AWS stand-in loaded)
  + what the function's work adds on top (measured in a process with moto, from the peak
  reset just before the work: argon2's 19 MiB, a PDF render, a campaign chunk…).

The memory figures are compared with ``lambda_memory_size`` in ``.chalice/config.json``:
the target keeps a third of the configured memory free. Memory above the need is chosen for
CPU, which Lambda gives in proportion (argon2 and WeasyPrint are CPU-bound).
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.bench.common import Figure

ROOT = Path(__file__).resolve().parents[2]
HEADROOM = 1.5  # configured memory ≥ 1.5 × measured peak
RUNTIME_DEPS = "import boto3, botocore, pynamodb.models, jinja2, argon2, chalice.app"
ENV = {
    "APP_STAGE": "local", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "eu-west-3", "TABLE_PREFIX": "bench-", "DOCUMENTS_BUCKET": "bench-documents",
    "SENDER_EMAIL": "adhesions@cite-verte.example", "BASE_URL": "https://adhesions.bench",
}

IMPORT_PROBE = """
import json, sys, time
start = time.perf_counter()
{deps}
deps_done = time.perf_counter()
import app
done = time.perf_counter()
status = open("/proc/self/status").read()
peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
print(json.dumps({{"deps_ms": (deps_done - start) * 1000, "app_ms": (done - start) * 1000,
                   "peak_mb": peak_kb / 1024,
                   "weasyprint": sorted(m for m in sys.modules if m.split(".")[0] == "weasyprint")}}))
"""


def _python(code: str, cwd: Path = ROOT, **extra_env: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(ENV, **extra_env)
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _from_source_copy(tmp: str) -> Path:
    """``app.py`` and ``chalicelib/`` without bytecode, as the deployment zip has them."""
    folder = Path(tmp)
    shutil.copy2(ROOT / "app.py", folder / "app.py")
    shutil.copytree(ROOT / "chalicelib", folder / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def import_figures(rounds: int) -> tuple[list[Figure], float]:
    probe = IMPORT_PROBE.format(deps=RUNTIME_DEPS)
    _python(probe)  # compiles the bytecode the next runs use
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        source_only = _from_source_copy(tmp)
        runs, from_source = [], []
        for _ in range(rounds):  # interleaved: both kinds of run see the same moments of load
            runs.append(_python(probe))
            from_source.append(_python(probe, cwd=source_only, PYTHONDONTWRITEBYTECODE="1"))
    deps_ms = statistics.median([r["deps_ms"] for r in runs])
    app_ms = statistics.median([r["app_ms"] for r in runs])
    ratios = [r["app_ms"] / r["deps_ms"] for r in runs]
    source_ms = statistics.median([r["app_ms"] - r["deps_ms"] for r in from_source])
    app_peak = max(r["peak_mb"] for r in runs)
    loaded = sorted({m for r in runs for m in r["weasyprint"]})
    spread = f"{min(ratios):.2f}–{max(ratios):.2f}"
    figures = [
        Figure("import of runtime dependencies alone", round(deps_ms, 1), "ms",
               note=f"median of {rounds} fresh processes: {RUNTIME_DEPS}"),
        Figure("import app.py (dependencies included)", round(app_ms, 1), "ms",
               note=f"median of the same {rounds} processes"),
        Figure("import app.py / runtime dependencies", round(statistics.median(ratios), 2), "×", 1.3,
               note=f"median of {rounds} per-process ratios (range {spread})"),
        Figure("import of the app's own modules, compiled from source", round(source_ms, 1), "ms",
               note="as in the deployment zip, which ships no bytecode for them (infra/package.py)"),
        Figure("WeasyPrint modules loaded by import app.py", len(loaded), "modules", 0),
        Figure("resident memory after import app.py", round(app_peak, 1), "MB"),
    ]
    return figures, app_peak


def _peak_kb(field: str = "VmHWM") -> int:
    status = open("/proc/self/status").read()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field + ":")))


def _reset_peak() -> int:
    """Make the peak resident size the current one (Linux); return it in kB."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return _peak_kb("VmRSS")


def _work(functions: list[str]) -> dict:
    """Runs in a fresh process: each function's work on moto, the peak reset just before it.

    The small scheduled functions go first; the API handler (argon2, WeasyPrint) last.
    """
    from datetime import datetime, timezone

    from tests.bench.common import start_moto

    start_moto()
    from chalice.test import Client

    from app import app
    from chalicelib.local.demo import load_demo_data
    from chalicelib.runtime import get_runtime
    from tests.functional.conftest import Browser

    rt = get_runtime()
    load_demo_data(rt)
    rt.sleep = lambda seconds: None
    opening_day = datetime(2026, 12, 1, 5, 0, tzinfo=timezone.utc)
    added = {}
    with Client(app, stage_name="local") as client:
        schedule = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event",
                                                   detail={}, resources=[])
        order = sorted(functions, key=lambda f: (f == "api_handler", f != "run_campaign_schedule"))
        for function in order:
            before = _reset_peak()
            if function == "api_handler":
                browser = Browser(client)
                assert browser.login("m.lefevre@montclair.example").status_code == 303  # argon2id, 19 MiB
                assert browser.get("/mon-compte/adhesions").status_code == 200
                quote = browser.post("/mon-compte/devis", {})  # a PDF rendered by WeasyPrint
                assert quote.status_code in (302, 303), quote.status_code
            elif function == "run_campaign_schedule":
                rt.clock = lambda: opening_day
                client.lambda_.invoke("run_campaign_schedule", schedule)
            elif function == "process_campaign_chunk":
                while received := rt.campaign_queue.receive(max_messages=1):
                    event = client.events.generate_sqs_event([received[0].body], queue_name=rt.config.campaign_queue)
                    client.lambda_.invoke("process_campaign_chunk", event)
                    rt.campaign_queue.delete(received[0].receipt)
            else:
                client.lambda_.invoke(function, schedule)
            added[function] = max(_peak_kb() - before, 0) / 1024
    return added


def memory_figures(import_peak_mb: float) -> list[Figure]:
    from infra.build import load_stage

    stage = load_stage("prod")
    functions = list(json.loads((ROOT / ".chalice" / "config.json").read_text()).get("lambda_functions", {}))
    try:
        added = _python(f"import json; from tests.bench.bench_import import _work; print(json.dumps(_work({functions!r})))")
    except RuntimeError as error:
        return [Figure("peak memory per function", float("nan"), "MB", note=f"not measured: {error}")]
    figures = []
    for function in functions:
        configured = int(stage.function_config(function).lambda_memory_size or 128)
        peak = import_peak_mb + added[function]
        figures.append(Figure(f"{function} peak memory (import + work)", round(peak, 1), "MB",
                              round(configured / HEADROOM, 1),
                              note=f"configured {configured} MB; work adds {added[function]:.1f} MB"))
    return figures


def run(quick: bool = False) -> list[Figure]:
    figures, import_peak = import_figures(5 if quick else 15)
    return figures + memory_figures(import_peak)


if __name__ == "__main__":
    import argparse

    from tests.bench.run import table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(table(run(parser.parse_args().quick)))
