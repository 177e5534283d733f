"""Line charts of rates (0 to 100 %) over days, drawn on the server as SVG markup.

Pure: values in, markup out, so the staff pages need no script and the same chart
renders in any browser, a screen reader and a printed page. The markup is well-formed
XML (it parses with ``xml.etree``): every label is escaped, and characters XML cannot
carry at all (control characters, lone surrogates) are dropped.

Accessibility: the ``<svg>`` has ``role="img"`` and is labelled by its ``<title>`` and
described by its ``<desc>``; the caller says in the description what the chart shows
and gives the same figures in a table beside it (``table_rows`` picks a few days).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from html import escape

SHORT_MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin",
                "juil.", "août", "sept.", "oct.", "nov.", "déc.")
NNBSP = "\u202f"  # narrow no-break space, before « % » in French
# What XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
STYLES = {  # stroke colour, dash pattern ("" = solid), width
    "current": ("#2f6b3a", "", 3),
    "previous": ("#7a8a80", "6 4", 2),
}


@dataclass(frozen=True)
class Series:
    """One line: its legend, one value per day (a rate between 0 and 1, or None: no value that day)."""

    name: str
    values: tuple[Fraction | None, ...]
    style: str = "current"  # a key of STYLES


def short_date(day: date) -> str:
    """``date(2026, 12, 1)`` → ``'1er déc.'``: axis labels."""
    return f"{'1er' if day.day == 1 else day.day} {SHORT_MONTHS[day.month - 1]}"


def percent(rate: Fraction | None, digits: int = 0) -> str:
    """``Fraction(4, 7)`` → ``'57 %'`` (``digits=1``: ``'57,1 %'``), rounded half up; None → ``'—'``."""
    if rate is None:
        return "—"
    exponent = Decimal(1).scaleb(-digits)
    value = (Decimal(rate.numerator) * 100 / Decimal(rate.denominator)).quantize(exponent, rounding=ROUND_HALF_UP)
    return f"{value}".replace(".", ",") + f"{NNBSP}%"


def xml_text(value: object) -> str:
    """Text safe inside an XML element or a quoted attribute."""
    return escape(_NOT_XML.sub("", str(value)), quote=True)


def _ticks(count: int, wanted: int = 6) -> list[int]:
    """Day indexes to label on the x axis: the first, the last, and about ``wanted`` between."""
    if count <= 0:
        return []
    if count == 1:
        return [0]
    step = max(1, round((count - 1) / wanted))
    ticks = list(range(0, count, step))
    if count - 1 - ticks[-1] < step / 2 and len(ticks) > 1:
        ticks[-1] = count - 1  # no two labels on top of each other at the end
    elif ticks[-1] != count - 1:
        ticks.append(count - 1)
    return ticks


def rate_chart(days: Sequence[date], series: Sequence[Series], *, title: str, description: str,
               chart_id: str = "chart", width: int = 720, height: int = 320) -> str:
    """An SVG line chart of ``series`` (rates, 0 to 100 %) over ``days`` (the x axis, French dates).

    Every series has one value per day (None where there is none). The y axis always runs
    from 0 to 100 %, so two charts compare at a glance. ``chart_id`` prefixes the ids of the
    title and description (several charts may share a page).
    """
    left, right, top, bottom = 52, 16, 40, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    count = len(days)
    ident = re.sub(r"[^A-Za-z0-9_-]", "", chart_id) or "chart"

    def x(index: int) -> float:
        return left + (plot_w * index / (count - 1) if count > 1 else plot_w / 2)

    def y(rate: Fraction) -> float:
        return top + plot_h * (1 - float(min(max(rate, Fraction(0)), Fraction(1))))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" class="chart" aria-labelledby="{ident}-title {ident}-desc" '
        f'font-family="system-ui, sans-serif" font-size="13">',
        f'<title id="{ident}-title">{xml_text(title)}</title>',
        f'<desc id="{ident}-desc">{xml_text(description)}</desc>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#ffffff" stroke="#ccd5cf"/>',
    ]
    for quarter in range(5):  # y axis: 0, 25, 50, 75, 100 %
        rate = Fraction(quarter, 4)
        level = y(rate)
        out.append(f'<line x1="{left}" y1="{level:.1f}" x2="{left + plot_w}" y2="{level:.1f}" '
                   f'stroke="#e3e8e4"/>')
        out.append(f'<text x="{left - 6}" y="{level + 4:.1f}" text-anchor="end" fill="#55625a">'
                   f'{xml_text(percent(rate))}</text>')
    for index in _ticks(count):  # x axis: French dates
        at = x(index)
        anchor = "start" if count > 1 and index == 0 else "end" if count > 1 and index == count - 1 else "middle"
        out.append(f'<line x1="{at:.1f}" y1="{top + plot_h}" x2="{at:.1f}" y2="{top + plot_h + 5}" stroke="#55625a"/>')
        out.append(f'<text x="{at:.1f}" y="{top + plot_h + 20}" text-anchor="{anchor}" fill="#55625a">'
                   f'{xml_text(short_date(days[index]))}</text>')
    legend_x = left
    for line in series:  # legend, above the plot
        colour, dash, stroke = STYLES.get(line.style, STYLES["current"])
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{legend_x}" y1="18" x2="{legend_x + 28}" y2="18" stroke="{colour}" '
                   f'stroke-width="{stroke}"{dash_attr}/>')
        out.append(f'<text x="{legend_x + 34}" y="22" fill="#1f2a24">{xml_text(line.name)}</text>')
        legend_x += 34 + 8 * len(line.name) + 24
    for line in series:
        colour, dash, stroke = STYLES.get(line.style, STYLES["current"])
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        for run in _runs(line.values[:count]):
            points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in run)
            if len(run) > 1:
                out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="{stroke}" '
                           f'stroke-linejoin="round"{dash_attr}/>')
        last = next(((i, v) for i, v in reversed(list(enumerate(line.values[:count]))) if v is not None), None)
        if last is not None:  # the latest value, marked and written
            i, v = last
            out.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="4" fill="{colour}"/>')
            below = line.style == "previous"  # two lines ending close together: labels apart
            out.append(f'<text x="{x(i) - 6:.1f}" y="{y(v) + (18 if below else -8):.1f}" text-anchor="end" '
                       f'fill="{colour}" '
                       f'font-weight="700">{xml_text(percent(v))}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _runs(values: Sequence[Fraction | None]) -> list[list[tuple[int, Fraction]]]:
    """Consecutive days with a value: a gap (None) breaks the line."""
    runs: list[list[tuple[int, Fraction]]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((index, value))
    return [run for run in runs if run]


def table_rows(count: int, max_rows: int = 12, every: int = 7) -> list[int]:
    """Day indexes for the table beside a chart: every week (or more) from the first day, and the last."""
    if count <= 0:
        return []
    step = every
    while (count - 1) // step + 1 > max_rows - 1:
        step += every
    rows = list(range(0, count, step))
    if rows[-1] != count - 1:
        rows.append(count - 1)
    return rows
