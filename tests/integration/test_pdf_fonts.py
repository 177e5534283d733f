"""The documents' font, DejaVu Sans cut down to Latin scripts (``templates/pdf/fonts/``), draws what
the system's DejaVu Sans draws: the same glyphs and metrics, and the same pixels on every kind
of document, characters outside the cut included (they come from the system's font)."""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.adapters.pdf import PdfRenderer
from chalicelib.adapters.templates import TemplateRenderer, find_templates_dir
from chalicelib.domain.documents import build_certificate, build_credit_note, build_invoice, build_quote
from chalicelib.domain.model import Address
from chalicelib.local.demo import demo_association, demo_organisations

FONTS = Path(__file__).resolve().parents[2] / "templates" / "pdf" / "fonts"
SYSTEM = Path("/usr/share/fonts/truetype/dejavu")
CUTS = {"DejaVuSans-Latin.ttf": "DejaVuSans.ttf", "DejaVuSans-Bold-Latin.ttf": "DejaVuSans-Bold.ttf"}
TODAY = date(2026, 11, 28)
SETTINGS = demo_association()
ORGS = {demo.org.org_id: demo.org for demo in demo_organisations()}
# Latin with diacritics (composed and combining), kerning pairs, typographic spaces and
# punctuation, and characters the cut leaves to the system's font.
SAMPLE = ("Ville d'Œuvre-sur-Lœ — « Association Ÿvette » : AVATAR To Ty Wa ﬁ ‰ № ½ ≤ 1ᵉʳ "
          "Zoe\u0308 Ştefan Nguyễn Łódź\u202f; Ærøskøbing ẞ Ωμέγα Ассоциация 協会 ☺")


@pytest.mark.skipif(not SYSTEM.is_dir(), reason="the system's DejaVu fonts are not installed")
@pytest.mark.parametrize("cut, full", list(CUTS.items()))
def test_every_glyph_of_the_cut_is_the_system_fonts(cut, full):
    from fontTools.ttLib import TTFont

    small, big = TTFont(FONTS / cut), TTFont(SYSTEM / full)
    small_cmap, big_cmap = small.getBestCmap(), big.getBestCmap()
    assert len(small_cmap) > 900 and set(small_cmap) < set(big_cmap)
    assert small["head"].unitsPerEm == big["head"].unitsPerEm
    for table, fields in {"hhea": ("ascent", "descent", "lineGap"),
                          "OS/2": ("sTypoAscender", "sTypoDescender", "sTypoLineGap", "usWinAscent",
                                   "usWinDescent", "fsSelection", "usWeightClass")}.items():
        for field in fields:
            assert getattr(small[table], field) == getattr(big[table], field), (table, field)
    small_glyf, big_glyf = small["glyf"], big["glyf"]
    for codepoint, name in small_cmap.items():
        assert big_cmap[codepoint] == name, hex(codepoint)
        assert small["hmtx"][name] == big["hmtx"][name], name
        small_points = small_glyf[name].getCoordinates(small_glyf)
        big_points = big_glyf[name].getCoordinates(big_glyf)
        assert list(small_points[0]) == list(big_points[0]) and small_points[1] == big_points[1], name


def _documents() -> dict:
    commune = ORGS["org-montclair"]
    invoice = replace(build_invoice(settings=SETTINGS, org=commune, today=TODAY, year=2027, tier_code="COL-3",
                                    tier_label="Commune de 20 000 à 50 000 habitants", amount=Decimal("720"),
                                    po_number="EJ-2026-004512", service_code="ESPACES-VERTS"),
                      number="FAC-2026-00001", document_id="doc-1")
    sampled = replace(ORGS["org-durand"], name=SAMPLE, billing_address=Address(SAMPLE, "75001", "Paris"))
    return {
        "quote": replace(build_quote(settings=SETTINGS, org=commune, year=2027, tier_code="COL-3",
                                     tier_label="Commune", amount=Decimal("742"), today=TODAY),
                         number="DEV-2026-0001", document_id="q"),
        "invoice": invoice,
        "credit note": replace(build_credit_note(invoice, reason=SAMPLE, today=date(2026, 12, 10)),
                               number="AV-2026-00001", document_id="av"),
        "certificate": replace(build_certificate(settings=SETTINGS, org=commune, year=2026, tier_label="Commune",
                                                 amount=Decimal("720"), today=TODAY),
                               number="ATT-2026-00001", document_id="a"),
        "sample characters": replace(build_invoice(settings=SETTINGS, org=sampled, today=TODAY, year=2027,
                                                   tier_code="ENT-1", tier_label=SAMPLE, amount=Decimal("720"),
                                                   po_number="", service_code=""),
                                     number="FAC-2026-00002", document_id="doc-2"),
    }


def _raster(pdf: bytes, tmp_path, name: str) -> bytes:
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "100", str(source), str(tmp_path / name)], check=True)
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob(f"{name}-*.ppm")))


def _font_names(pdf: bytes) -> str:
    from io import BytesIO

    from pypdf import PdfReader

    return " ".join(str(font.get_object()["/BaseFont"]) for page in PdfReader(BytesIO(pdf)).pages
                    for font in page["/Resources"]["/Font"].values())


@pytest.fixture(scope="module")
def renderer():
    return PdfRenderer(TemplateRenderer(find_templates_dir(None)))


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed")
@pytest.mark.skipif(not SYSTEM.is_dir(), reason="the system's DejaVu fonts are not installed")
@pytest.mark.parametrize("kind", list(_documents()))
def test_the_cut_font_draws_the_same_pixels_as_the_system_font(renderer, kind, tmp_path):
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    fetcher, _, _, document_html = renderer._weasy
    sheet = (renderer.root / "print.css").read_text(encoding="utf-8")
    system_sheet = re.sub(r"@font-face \{[^}]*\}\n", "", sheet).replace('"DejaVu Sans Latin", ', "")
    assert "@font-face" in sheet and "@font-face" not in system_sheet and "DejaVu Sans Latin" not in system_sheet
    fonts = FontConfiguration()
    css = CSS(string=system_sheet, base_url=renderer.root.as_uri() + "/", url_fetcher=fetcher, font_config=fonts)
    html = renderer.html(_documents()[kind])
    system = document_html(string=html, base_url=renderer.root.as_uri() + "/",
                           url_fetcher=fetcher).write_pdf(stylesheets=[css], font_config=fonts)
    cut = renderer._weasyprint(html)
    assert "DejaVu-Sans-Latin" in _font_names(cut) and "DejaVu-Sans-Latin" not in _font_names(system)
    assert _raster(cut, tmp_path, "cut") == _raster(system, tmp_path, "system")
