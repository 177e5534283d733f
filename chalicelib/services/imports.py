"""Importing organisations, contacts and memberships from CSV: dry run first, then confirm.

``check_import`` stores the uploaded file on the server (S3, key chosen here; a record in
DynamoDB that expires after a day) and returns what the import would do, writing nothing
else. ``confirm_import`` takes only the record's id: it reads the stored file again,
checks it against the data as they are *now*, and applies it only if no line has an
error. A record is confirmed once (conditional update), so a double click or a replay
does nothing twice — and the import itself is idempotent anyway (see
``domain.member_import``).
"""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, replace
from datetime import timedelta

from ..domain.chorus import check_buyer
from ..domain.csv_io import Column, CsvUnreadable, csv_export, read_csv
from ..domain.errors import AlreadyExists, ConcurrentUpdate, NotFound, ValidationError
from ..domain.member_import import COLUMNS, ExistingState, ImportPlan, ImportUpload, plan_import, template_rows
from ..domain.members import organisation_diff
from ..runtime import Runtime
from . import chorus
from .audit import record

MAX_BYTES = 2 * 1024 * 1024
DIRECTORY_SECONDS = 8.0  # of Chorus Pro directory look-ups per check, within the API's 28 s
UPLOAD_LIFETIME = timedelta(hours=24)
_ID = re.compile(r"[a-f0-9]{32}")


@dataclass(frozen=True)
class ImportCheck:
    upload: ImportUpload
    plan: ImportPlan


@dataclass(frozen=True)
class ImportResult:
    created: dict[str, int]
    updated: dict[str, int]


def template_csv() -> str:
    """An import template with every column and one example line."""
    return csv_export(template_rows(), [Column(c.header, lambda row, k=c.key: row.get(k)) for c in COLUMNS])


def _state(rt: Runtime, years: set[int]) -> ExistingState:
    memberships = rt.memberships.all()
    today = rt.today().year
    grid_years = years | {today - 1, today, today + 1}
    grids = {y: {t.code: t for t in rt.tariffs.grid(y).tiers} for y in sorted(grid_years)}
    return ExistingState(tuple(rt.organisations.all()), tuple(rt.contacts.all()),
                         {k: tuple(v) for k, v in memberships.items()}, grids)


def _years_in(table) -> set[int]:
    from ..domain.member_import import column_key

    keys = {h: column_key(h) for h in table.headers}
    years = set()
    for row in table.rows:
        for header, value in row.values.items():
            if keys.get(header) == "membership_year" and value.strip().isdigit() and len(value.strip()) == 4:
                years.add(int(value.strip()))
    return years


def _plan(rt: Runtime, data: bytes) -> ImportPlan:
    try:
        table = read_csv(data)
    except CsvUnreadable as error:
        raise ValidationError({"fichier": str(error)}) from None
    plan = plan_import(table, _state(rt, _years_in(table)), lambda: f"org-{rt.id_factory()}")
    _check_directory(rt, plan)
    return plan


def _check_directory(rt: Runtime, plan: ImportPlan) -> None:
    """Public buyers new to the app (or with a new SIRET) checked in the Chorus Pro directory:
    an unknown or inactive SIRET, or a service code the structure lacks, is an error (nothing
    is imported); found, the structure's requirement is recorded. At most
    ``DIRECTORY_SECONDS`` of look-ups per check (an import may hold hundreds of communes): the
    rest, and all of them when the directory does not answer, are listed as not checked — the
    renewal form checks each one again."""
    deadline = time.monotonic() + DIRECTORY_SECONDS
    unchecked: list[str] = []
    for key, (before, after) in list(plan.organisations.items()):
        if not after.public_buyer or not after.siret or \
                (before is not None and before.public_buyer and before.siret == after.siret):
            continue
        answer = chorus.look_up(rt, after.siret) if time.monotonic() < deadline else None
        if answer is None or answer.outcome == "unavailable":
            unchecked.append(after.name)
            continue
        errors: dict[str, str] = {}
        service_code, requirement = check_buyer(answer, after.service_code, errors, fallback=after.buyer_requirement)
        if errors:
            plan.file_errors.append(f"{after.name} (SIRET {after.siret}) : " + " ".join(errors.values()))
        else:
            plan.organisations[key] = (before, replace(after, service_code=service_code, buyer_requirement=requirement))
    if unchecked:
        plan.warnings.append(f"{len(unchecked)} acheteur(s) public(s) non vérifié(s) dans l'annuaire Chorus Pro "
                             f"(annuaire injoignable ou fichier trop long) : {', '.join(unchecked[:10])}"
                             f"{'…' if len(unchecked) > 10 else ''}. Leur formulaire de renouvellement les vérifiera.")


def check_import(rt: Runtime, actor: str, filename: str, data: bytes) -> ImportCheck:
    """Keep the uploaded file aside and say what importing it would do (nothing else is written)."""
    if not data:
        raise ValidationError({"fichier": "Choisissez un fichier CSV à importer."})
    if len(data) > MAX_BYTES:
        raise ValidationError({"fichier": "Le fichier dépasse 2 Mo : découpez-le en plusieurs fichiers."})
    plan = _plan(rt, data)
    now = rt.clock()
    import_id = rt.id_factory()
    key = rt.storage.new_key("imports", "staff", ".csv")
    rt.storage.put(key, data, content_type="text/csv")
    upload = ImportUpload(import_id, key, _safe_name(filename), hashlib.sha256(data).hexdigest(), len(data),
                          actor, now, now + UPLOAD_LIFETIME)
    rt.imports.add(upload)
    counts = plan.counts()
    record(rt, "import.checked", actor=actor, target=upload.filename, import_id=import_id, lines=len(plan.lines),
           errors=plan.error_count, counts=counts)
    return ImportCheck(upload, plan)


def _safe_name(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in name if c.isprintable())[:120] or "import.csv"


def _upload(rt: Runtime, import_id: str) -> tuple[ImportUpload, bytes]:
    upload = rt.imports.get(import_id) if _ID.fullmatch(import_id or "") else None
    if upload is None or upload.expires_at <= rt.clock():
        raise NotFound("Cet import n'existe pas ou a expiré : déposez le fichier à nouveau.")
    if upload.confirmed_at is not None:
        raise ConcurrentUpdate("Cet import a déjà été confirmé.")
    data = rt.storage.get(upload.s3_key)
    if hashlib.sha256(data).hexdigest() != upload.sha256:
        raise ConcurrentUpdate("Le fichier déposé a changé : déposez-le à nouveau.")
    return upload, data


def confirm_import(rt: Runtime, actor: str, import_id: str) -> ImportResult:
    """Apply a checked import, after checking it again against the current data."""
    upload, data = _upload(rt, import_id)
    plan = _plan(rt, data)
    if plan.has_errors:
        raise ValidationError({"form": f"Le fichier contient {plan.error_count} erreur(s) : corrigez-les et "
                                       "déposez-le à nouveau. Rien n'a été importé."})
    rt.imports.claim(import_id, actor, rt.clock())
    created = {"organisation": 0, "contact": 0, "membership": 0}
    updated = dict(created)
    for before, after in plan.organisations.values():
        if before is None:
            rt.organisations.add(after)
            created["organisation"] += 1
        elif organisation_diff(before, after):
            rt.organisations.update(after)
            updated["organisation"] += 1
    for before, after in plan.contacts.values():
        if before is None:
            try:
                rt.contacts.add(after)
            except AlreadyExists:  # created meanwhile: the next import will see it
                continue
            created["contact"] += 1
        elif before != after:
            rt.contacts.update(before, after)
            updated["contact"] += 1
    for before, after in plan.memberships.values():
        if before != after:
            rt.memberships.save(after)
            (created if before is None else updated)["membership"] += 1
    try:
        rt.storage.delete(upload.s3_key)
    except Exception:  # the file expires with the bucket's lifecycle rule anyway
        pass
    record(rt, "import.confirmed", actor=actor, target=upload.filename, import_id=import_id,
           created=created, updated=updated)
    return ImportResult(created, updated)
