"""Run in a fresh Lambda python3.12 container with only the layer in /opt (build.sh does it).

Renders a small French PDF with WeasyPrint and checks the libraries came from /opt/lib and
the text was set in DejaVu, the layer's font.
"""
import time

start = time.perf_counter()
import weasyprint  # noqa: E402  (timed: the import loads Pango through cffi)
from weasyprint.text.ffi import pango  # noqa: E402

imported = time.perf_counter() - start
html = "<h1 style='font-family: sans-serif'>Attestation d'adhésion 2027</h1><p>Montant : 1 700,00 €</p>"
start = time.perf_counter()
pdf = weasyprint.HTML(string=html).write_pdf()
rendered = time.perf_counter() - start
maps = open("/proc/self/maps").read()
loaded = sorted({line.split()[-1] for line in maps.splitlines() if "/opt/lib/" in line})
assert pdf.startswith(b"%PDF-"), "not a PDF"
assert b"DejaVu" in pdf, "the PDF does not use the layer's DejaVu fonts"
assert any("libpango-1.0" in path for path in loaded), "Pango was not loaded from /opt/lib"
print(f"ok: Pango {pango.pango_version()}, {len(loaded)} libraries from /opt/lib, "
      f"import {imported * 1000:.0f} ms, first render {rendered * 1000:.0f} ms, {len(pdf)} bytes")
