"""The server-drawn SVG rate chart: well-formed, accessible, escaped, French, to scale."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta
from fractions import Fraction
from itertools import pairwise

import pytest

from chalicelib.domain.chart import Series, percent, rate_chart, short_date, table_rows

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [date(2026, 12, 1) + timedelta(days=n) for n in range(5)]


def chart(series, days=DAYS, **kw) -> ET.Element:
    markup = rate_chart(days, series, title=kw.pop("title", "Taux"), description=kw.pop("description", "Desc"), **kw)
    return ET.fromstring(markup)


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_the_chart_is_an_accessible_image_labelled_by_its_title_and_description():
    root = chart([Series("Campagne 2027", (Fraction(0), Fraction(1, 2), None, Fraction(3, 4), Fraction(1)))],
                 title="Taux de renouvellement 2027", description="Part des structures…", chart_id="taux")
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title.text == "Taux de renouvellement 2027" and desc.text == "Part des structures…"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}" == "taux-title taux-desc"


def test_the_y_axis_is_in_percent_and_the_x_axis_in_french_dates():
    labels = texts(chart([Series("A", (Fraction(0),) * 5)]))
    for expected in ("0\u202f%", "25\u202f%", "50\u202f%", "75\u202f%", "100\u202f%", "1er déc.", "5 déc."):
        assert expected in labels


def test_points_are_placed_to_scale_and_a_gap_breaks_the_line():
    root = chart([Series("A", (Fraction(0), Fraction(1, 2), None, Fraction(3, 4), Fraction(1)))])
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 2  # days 1-2, then days 4-5
    first = [tuple(map(float, p.split(","))) for p in lines[0].get("points").split()]
    second = [tuple(map(float, p.split(","))) for p in lines[1].get("points").split()]
    top, bottom = 40, 320 - 44
    assert first[0][1] == bottom and first[1][1] == pytest.approx((top + bottom) / 2)
    assert second[1][1] == top  # 100 % at the top of the plot
    xs = [first[0][0], first[1][0], second[0][0], second[1][0]]
    assert xs == sorted(xs) and xs[0] == 52 and xs[-1] == 720 - 16
    assert "100\u202f%" in [t for t in texts(root) if t.endswith("%")][-1:]  # the latest value is written


def test_two_series_have_their_own_style_and_legend():
    root = chart([Series("Campagne 2027", (Fraction(1, 4),) * 5, "current"),
                  Series("Campagne 2026", (Fraction(1, 2),) * 5, "previous")])
    current, previous = root.findall(f"{SVG}polyline")
    assert current.get("stroke-dasharray") is None and previous.get("stroke-dasharray")
    assert "Campagne 2027" in texts(root) and "Campagne 2026" in texts(root)


HOSTILE = '<script>alert("x")</script> & \'quotes\' \x01\x0b\ud800 fin'


def test_hostile_labels_are_escaped_and_the_markup_stays_well_formed():
    markup = rate_chart(DAYS, [Series(HOSTILE, (Fraction(1, 3),) * 5)], title=HOSTILE, description=HOSTILE,
                        chart_id='x" onload="alert(1)')
    root = ET.fromstring(markup)  # raises on any unescaped markup or illegal character
    assert "<script" not in markup
    assert not [e for e in root.iter() if "script" in e.tag or "onload" in e.attrib]
    assert root.get("aria-labelledby") == "xonloadalert1-title xonloadalert1-desc"  # an id, nothing more
    assert root.find(f"{SVG}title").text == '<script>alert("x")</script> & \'quotes\'  fin'
    assert '<script>alert("x")</script> & \'quotes\'  fin' in texts(root)


def test_a_single_day_or_no_value_still_draws_a_chart():
    one = chart([Series("A", (Fraction(2, 3),))], days=DAYS[:1])
    assert not one.findall(f"{SVG}polyline") and len(one.findall(f"{SVG}circle")) == 1
    assert "67\u202f%" in texts(one)
    empty = chart([Series("A", (None,) * 5)])
    assert not empty.findall(f"{SVG}polyline") and not empty.findall(f"{SVG}circle")


@pytest.mark.parametrize("rate, digits, text", [
    (Fraction(4, 7), 0, "57\u202f%"), (Fraction(4, 7), 1, "57,1\u202f%"), (Fraction(1, 8), 1, "12,5\u202f%"),
    (Fraction(1, 200), 0, "1\u202f%"), (Fraction(0), 1, "0,0\u202f%"), (Fraction(1), 0, "100\u202f%"),
    (None, 1, "—"),
])
def test_percent_is_french_and_rounded_half_up(rate, digits, text):
    assert percent(rate, digits) == text


def test_short_dates_are_french():
    assert short_date(date(2026, 12, 1)) == "1er déc."
    assert short_date(date(2027, 2, 14)) == "14 févr."
    assert short_date(date(2027, 8, 3)) == "3 août"


@pytest.mark.parametrize("count, expected", [
    (0, []), (1, [0]), (7, [0, 6]), (10, [0, 7, 9]), (15, [0, 7, 14]),
])
def test_table_rows_take_every_week_and_the_last_day(count, expected):
    assert table_rows(count) == expected


def test_table_rows_stay_few_over_a_whole_season():
    rows = table_rows(365)
    assert len(rows) <= 12 and rows[0] == 0 and rows[-1] == 364
    assert len({b - a for a, b in pairwise(rows[:-1])}) <= 1  # evenly spaced weeks
