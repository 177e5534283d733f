"""CSV exports French Excel opens right, never with a formula; imports read what Excel writes."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.csv_io import (
    DANGEROUS_STARTS,
    Column,
    CsvUnreadable,
    csv_export,
    format_cell,
    neutralise,
    normalise_header,
    read_csv,
    unneutralise,
)
from chalicelib.domain.model import Category


def parse_export(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline=""), delimiter=";"))


cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(st.lists(st.lists(cells, min_size=3, max_size=3), max_size=8))
def test_no_exported_text_cell_can_start_a_formula_and_values_survive(rows):
    columns = [Column(f"c{i}", lambda row, i=i: row[i]) for i in range(3)]
    text = csv_export(rows, columns)
    parsed = parse_export(text)
    assert parsed[0] == ["c0", "c1", "c2"]
    for original, read in zip(rows, parsed[1:], strict=True):
        for value, cell in zip(original, read, strict=True):
            assert not cell.startswith(DANGEROUS_STARTS)
            assert cell == ("'" + value if value.startswith(DANGEROUS_STARTS) else value)
            assert unneutralise(cell) == value


@given(cells)
def test_neutralise_then_unneutralise_gives_the_value_back(value):
    assert unneutralise(neutralise(value)) == value
    assert not neutralise(value).startswith(DANGEROUS_STARTS)


@pytest.mark.parametrize("value", ["=1+1", "+33 2 41", "-2", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'])
def test_formula_like_text_gets_an_apostrophe(value):
    assert format_cell(value) == "'" + value


def test_file_is_utf8_with_bom_semicolons_and_crlf():
    text = csv_export([("Ville de Montclair", Decimal("1234.5"))],
                      [Column("Nom", lambda r: r[0]), Column("Montant", lambda r: r[1])])
    assert text == "\ufeffNom;Montant\r\nVille de Montclair;1234,50\r\n"
    text.encode("utf-8")


def test_cells_are_typed():
    assert format_cell(Decimal("-150")) == "-150,00"  # numbers are not text: no apostrophe
    assert format_cell(7) == "7"
    assert format_cell(True) == "oui" and format_cell(False) == "non"
    assert format_cell(None) == ""
    assert format_cell(date(2026, 12, 1)) == "01/12/2026"
    assert format_cell(datetime(2026, 11, 28, 9, 30, tzinfo=timezone.utc)) == "28/11/2026 10:30"
    assert format_cell(Category.COLLECTIVITE) == "Collectivité"
    with pytest.raises(TypeError):
        format_cell(1.5)


def test_cells_with_separators_quotes_and_newlines_are_quoted():
    text = csv_export([('a;b "c"\nd',)], [Column("x", lambda r: r[0])])
    assert parse_export(text)[1] == ['a;b "c"\nd']


def test_headers_are_compared_without_case_accents_or_punctuation():
    assert normalise_header("Adhésion : année") == "adhesion_annee"
    assert normalise_header(" E-mail de facturation ") == "e_mail_de_facturation"
    assert normalise_header("Complément d'adresse") == "complement_d_adresse"


@pytest.mark.parametrize("data", [
    "\ufeffSIRET;Nom\r\n1;Été\r\n".encode(),
    "SIRET;Nom\n1;Été\n".encode(),
    "SIRET,Nom\r\n1,Été\r\n".encode(),
])
def test_reads_utf8_with_or_without_bom_and_either_separator(data):
    table = read_csv(data)
    assert table.headers == ("siret", "nom")
    assert [r.values for r in table.rows] == [{"siret": "1", "nom": "Été"}]
    assert table.rows[0].line == 2
    assert table.warnings == ()


def test_windows_1252_is_read_with_a_warning():
    table = read_csv("SIRET;Nom\r\n1;Élodie Œuvre\r\n".encode("cp1252"))
    assert table.rows[0].values["nom"] == "Élodie Œuvre"
    assert table.encoding == "Windows-1252"
    assert "Windows-1252" in table.warnings[0]


def test_blank_lines_are_skipped_and_line_numbers_kept():
    table = read_csv(b"SIRET;Nom\n\n1;A\n;\n2;B\n")
    assert [(r.line, r.values["siret"]) for r in table.rows] == [(3, "1"), (5, "2")]


def test_an_exported_apostrophe_is_removed_on_import():
    assert read_csv(b"SIRET;Nom\n1;'=Ville\n").rows[0].values["nom"] == "=Ville"


@pytest.mark.parametrize("data, message", [
    (b"", "vide"),
    (b"\x00\x01binary", "pas un fichier CSV"),
    (b"SIRET;SIRET\n1;2\n", "double"),
    (b"\xef\xbb\xbfSIRET\n\xff\n", "UTF-8"),
])
def test_unreadable_files_get_a_french_reason(data, message):
    with pytest.raises(CsvUnreadable, match=message):
        read_csv(data)


def test_too_many_rows_are_refused():
    with pytest.raises(CsvUnreadable, match="3 lignes"):
        read_csv(b"a\n1\n2\n3\n4\n", max_rows=3)
