"""The focus ring reaches 3:1 against every surface it can be drawn on (WCAG 2.1, 1.4.11)."""
import re
from pathlib import Path

CSS = (Path(__file__).resolve().parents[2] / "templates" / "static" / "app.css").read_text()


def luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb`` (or ``#rgb``)."""
    colour = colour.lstrip("#")
    if len(colour) == 3:
        colour = "".join(c * 2 for c in colour)
    channels = [int(colour[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    low, high = sorted((luminance(a), luminance(b)))
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#f0a500", "#ffffff"), 2) == 2.08  # the former ring: too pale


def test_the_focus_ring_has_3_to_1_against_every_light_surface():
    ring = re.search(r":focus-visible\s*\{[^}]*outline:\s*\d+px solid (#[0-9a-fA-F]{3,6})", CSS).group(1)
    variables = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})", CSS))
    surfaces = set(re.findall(r"background(?:-color)?:\s*(#[0-9a-fA-F]{3,6})", CSS))
    surfaces |= {variables[name] for name in re.findall(r"background(?:-color)?:\s*var\(--([\w-]+)\)", CSS)}
    # The ring is drawn 2px outside the element, so it sits on the page, a card, a table, an
    # alert: the light surfaces. Dark ones (green buttons, the current tab) are the elements.
    light = {s for s in surfaces if luminance(s) > 0.5}
    assert "#fff" in light or "#ffffff" in light
    assert len(light) >= 6
    assert re.search(r":focus-visible\s*\{[^}]*outline-offset:\s*2px", CSS)
    for surface in light:
        assert contrast(ring, surface) >= 3, (ring, surface, contrast(ring, surface))
