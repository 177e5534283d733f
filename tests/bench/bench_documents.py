"""Median warm render time of a quote and of a Factur-X invoice (WeasyPrint + factur-x), with
their spread, and what Factur-X (PDF/A-3, the CII XML, its XSD check and embedding) adds to the
same invoice rendered as a plain PDF. The renders take turns, so a shared machine's load falls
on all of them alike.

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

from tests.bench.common import Figure, median, percentile

TARGET_MS = 80
ASKED_QUOTE_MS, ASKED_INVOICE_MS = 35, 50  # issue #19, on a quiet 2-core machine
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


def _timings(renders: dict, rounds: int) -> dict[str, list[float]]:
    """Each render timed ``rounds`` times, taking turns (a shared machine's load then weighs on
    all alike)."""
    for render in renders.values():
        render()  # warm: WeasyPrint imported, fonts and stylesheet loaded
    times: dict[str, list[float]] = {name: [] for name in renders}
    for _ in range(rounds):
        for name, render in renders.items():
            start = time.perf_counter()
            render()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def _figure(name: str, times: list[float], asked: float) -> Figure:
    low, high = percentile(times, 25), percentile(times, 75)
    return Figure(name, round(median(times), 1), "ms", TARGET_MS,
                  note=f"p25–p75 {low:.1f}–{high:.1f} ms over {len(times)} renders; issue #19 asks ≤ {asked:g} ms")


def run(quick: bool = False) -> list[Figure]:
    from chalicelib.adapters.pdf import PdfRenderer
    from chalicelib.adapters.templates import TemplateRenderer, find_templates_dir

    renderer = PdfRenderer(TemplateRenderer(find_templates_dir(None)))
    quote, invoice = _documents()
    times = _timings({
        "quote": lambda: renderer.render(quote),
        "invoice": lambda: renderer.render(invoice),
        # the same invoice as a plain PDF (no PDF/A, no XML): what Factur-X adds is the difference
        "plain": lambda: renderer._weasyprint(renderer.html(invoice)),
    }, 5 if quick else ROUNDS)
    plain = median(times["plain"])
    return [
        _figure("quote PDF render (warm, median)", times["quote"], ASKED_QUOTE_MS),
        _figure("Factur-X invoice PDF render (warm, median)", times["invoice"], ASKED_INVOICE_MS),
        Figure("Factur-X invoice: what PDF/A-3 and the XML add to its plain PDF (median)",
               round(median(times["invoice"]) - plain, 1), "ms", note=f"plain PDF {plain:.1f} ms"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    for figure in run(parser.parse_args().quick):
        target = "" if figure.target is None else \
            f"target ≤ {figure.target:g} {figure.unit}: {'met' if figure.met else 'NOT MET'}; "
        print(f"{figure.name}: {figure.value:g} {figure.unit} ({target}{figure.note})")


if __name__ == "__main__":
    main()
