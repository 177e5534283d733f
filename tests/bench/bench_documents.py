"""Median warm render time of a quote and of a Factur-X invoice (WeasyPrint + factur-x).

Needs no AWS stand-in and no app: the documents are built from the demo association and
organisation, and rendered by the PDF adapter alone. Run on its own with
``python -m tests.bench.bench_documents [--quick]``; ``make bench`` collects ``run()``.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal

from tests.bench.common import Figure, median

TARGET_MS = 80
ROUNDS = 30


def _documents():
    from chalicelib.domain.documents import build_invoice, build_quote
    from chalicelib.local.demo import demo_association, demo_organisations

    settings = demo_association()
    org = next(d.org for d in demo_organisations() if d.org.org_id == "org-montclair")
    values = {"settings": settings, "org": org, "year": 2027, "tier_code": "COL-3",
              "tier_label": "Commune de 20 000 à 50 000 habitants", "amount": Decimal("742"),
              "today": date(2026, 12, 1)}
    quote = replace(build_quote(**values), number="DEV-2026-0001", document_id="bench-quote")
    invoice = replace(build_invoice(**values, po_number="EJ-2026-004512", service_code="ESPACES-VERTS"),
                      number="FAC-2026-00001", document_id="bench-invoice")
    return quote, invoice


def _median_ms(render, document, rounds: int) -> float:
    render(document)  # warm: WeasyPrint imported, fonts and stylesheet loaded
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        render(document)
        times.append((time.perf_counter() - start) * 1000)
    return round(median(times), 1)


def run(quick: bool = False) -> list[Figure]:
    from chalicelib.adapters.pdf import PdfRenderer
    from chalicelib.adapters.templates import TemplateRenderer, find_templates_dir

    renderer = PdfRenderer(TemplateRenderer(find_templates_dir(None)))
    quote, invoice = _documents()
    rounds = 5 if quick else ROUNDS
    return [
        Figure("quote PDF render (warm, median)", _median_ms(renderer.render, quote, rounds), "ms", TARGET_MS),
        Figure("Factur-X invoice PDF render (warm, median)", _median_ms(renderer.render, invoice, rounds), "ms",
               TARGET_MS),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    for figure in run(parser.parse_args().quick):
        verdict = "met" if figure.met else "NOT MET"
        print(f"{figure.name}: {figure.value:g} {figure.unit} (target ≤ {figure.target:g} {figure.unit}: {verdict})")


if __name__ == "__main__":
    main()
