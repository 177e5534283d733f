"""`make bench`: every figure beside its target, as one table (and JSON with BENCH_JSON=FILE)."""
from __future__ import annotations

import argparse
import json
import os
import sys

from tests.bench.common import Figure, start_moto


def collect(quick: bool) -> list[Figure]:
    start_moto()
    from tests.bench import bench_routes

    figures: list[Figure] = []
    figures += bench_routes.run(quick)
    figures += bench_routes.argon2_figures(quick)
    for module_name in ("tests.bench.bench_documents", "tests.bench.bench_import", "tests.bench.bench_campaign"):
        try:
            module = __import__(module_name, fromlist=["run"])
        except ImportError:
            continue
        if hasattr(module, "run"):
            figures += module.run(quick)
    return figures


def table(figures: list[Figure]) -> str:
    rows = [("figure", "value", "unit", "target", "met")]
    for f in figures:
        target = "" if f.target is None else (f"≥ {f.target:g}" if f.higher_is_better else f"≤ {f.target:g}")
        met = "" if f.met is None else ("yes" if f.met else "NO")
        rows.append((f.name, f"{f.value:g}", f.unit, target, met))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="few rounds: a smoke run for CI")
    args = parser.parse_args()
    figures = collect(args.quick)
    print(table(figures))
    out = os.environ.get("BENCH_JSON")
    if out:
        data = {f.name: {"value": f.value, "unit": f.unit, "target": f.target, "met": f.met, "note": f.note}
                for f in figures}
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
