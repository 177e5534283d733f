"""CSV files staff exchange with spreadsheets: exports that French Excel opens right, and
reading the files they import.

Exports (``csv_export``): UTF-8 with a byte order mark (without it Excel reads the file as
Windows-1252), ``;`` separators (the French list separator), CRLF line ends, a header
line. Cells are typed by the value given:

- ``str``: neutralised against formula injection — a cell starting with ``=``, ``+``,
  ``-``, ``@``, a tab, a carriage return or a line feed gets a leading apostrophe, which
  spreadsheets show as text and never evaluate;
- ``Decimal`` and ``int``: numbers written the French way (``1234,50``), not neutralised
  (a formatted number cannot hold a formula, and a credit note's ``-150,00`` must stay a
  number);
- ``bool``: ``oui`` / ``non``; ``date``: ``31/12/2026``; ``datetime``: Paris time
  ``31/12/2026 09:05``; ``None``: empty; enums: their ``label`` if they have one.

Imports (``read_csv``): UTF-8 with or without BOM, or Windows-1252 (what Excel writes as
« CSV (séparateur : point-virgule) ») with a warning; ``;`` or ``,`` separators, guessed
from the header line; header names compared without case, accents or punctuation.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from zoneinfo import ZoneInfo

from .validation import fold

BOM = "\ufeff"
DANGEROUS_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
PARIS = ZoneInfo("Europe/Paris")


def neutralise(text: str) -> str:
    """The cell text, with a leading apostrophe if a spreadsheet could read it as a formula."""
    return "'" + text if text.startswith(DANGEROUS_STARTS) else text


def format_cell(value) -> str:
    """The text of one CSV cell for ``value`` (see the module docstring for the types)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, Decimal):
        return f"{value:.2f}".replace(".", ",")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        local = (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(PARIS)
        return local.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, Enum):
        return neutralise(str(getattr(value, "label", value.value)))
    if isinstance(value, float):
        raise TypeError("money and counts are never floats")
    return neutralise(str(value))


@dataclass(frozen=True)
class Column:
    """One column of an export: its header and how to read the cell from a row."""

    header: str
    value: Callable[[object], object]


def csv_export(rows: Iterable, columns: Sequence[Column]) -> str:
    """The whole CSV file as text (BOM, ``;``, CRLF), ready to send as ``text/csv``."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([neutralise(c.header) for c in columns])
    for row in rows:
        writer.writerow([format_cell(c.value(row)) for c in columns])
    return BOM + out.getvalue()


# --- reading -------------------------------------------------------------------------

MAX_ROWS = 5000


class CsvUnreadable(ValueError):
    """The file cannot be read as CSV at all; the message is French."""


@dataclass(frozen=True)
class CsvRow:
    line: int  # line number in the file, header = 1
    values: dict[str, str]  # normalised header → cell text


@dataclass(frozen=True)
class CsvTable:
    headers: tuple[str, ...]  # normalised
    rows: tuple[CsvRow, ...]
    encoding: str
    delimiter: str
    warnings: tuple[str, ...] = field(default_factory=tuple)


def unneutralise(text: str) -> str:
    """Undo ``neutralise``: a file exported here and imported back keeps its values."""
    return text[1:] if text.startswith("'") and text[1:].startswith(DANGEROUS_STARTS) else text


def normalise_header(name: str) -> str:
    """``« Adhésion : année »`` → ``adhesion_annee``: how import columns are matched."""
    return re.sub(r"[^a-z0-9]+", "_", fold(name)).strip("_")


def decode(data: bytes) -> tuple[str, str, list[str]]:
    """The text of an uploaded file, its encoding, and warnings for staff."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        try:
            return data.decode("utf-8"), "UTF-8 (avec BOM)", []
        except UnicodeDecodeError:
            raise CsvUnreadable("Le fichier annonce l'encodage UTF-8 mais contient des caractères invalides.") from None
    try:
        return data.decode("utf-8"), "UTF-8", []
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise CsvUnreadable("Encodage du fichier non reconnu : enregistrez-le en « CSV UTF-8 ».") from None
    return text, "Windows-1252", [
        "Le fichier n'est pas en UTF-8 : il a été lu en Windows-1252 (encodage d'Excel). "
        "Vérifiez les accents ci-dessous ; au besoin, enregistrez-le en « CSV UTF-8 »."
    ]


def guess_delimiter(header_line: str) -> str:
    """``;`` or ``,``, whichever separates more columns in the header line."""
    return ";" if header_line.count(";") >= header_line.count(",") else ","


def read_csv(data: bytes, *, max_rows: int = MAX_ROWS) -> CsvTable:
    """Parse an uploaded CSV file into rows keyed by normalised header names."""
    if b"\x00" in data:
        raise CsvUnreadable("Ce fichier n'est pas un fichier CSV (texte) : exportez-le en CSV depuis le tableur.")
    text, encoding, warnings = decode(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n", 1)
    if not lines[0].strip():
        raise CsvUnreadable("Le fichier est vide ou sa première ligne (les en-têtes de colonnes) est vide.")
    delimiter = guess_delimiter(lines[0])
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"', strict=False)
    try:
        header_cells = next(reader)
        headers = tuple(normalise_header(h) for h in header_cells)
        duplicates = sorted({h for h in headers if h and headers.count(h) > 1})
        if duplicates:
            raise CsvUnreadable("Colonnes en double dans l'en-tête : " + ", ".join(duplicates) + ".")
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= max_rows:
                raise CsvUnreadable(f"Le fichier dépasse {max_rows} lignes : découpez-le en plusieurs fichiers.")
            values = {h: (unneutralise(cells[i].strip()) if i < len(cells) else "") for i, h in enumerate(headers) if h}
            rows.append(CsvRow(reader.line_num, values))
    except csv.Error as error:
        raise CsvUnreadable(f"Le fichier CSV est mal formé (ligne {reader.line_num}).") from error
    return CsvTable(headers, tuple(rows), encoding, delimiter, tuple(warnings))
