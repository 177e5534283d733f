"""CSV exports (organisations, contacts) and the CSV import with its dry run and confirmation."""
from __future__ import annotations

import csv
import io

import pytest

from chalicelib.adapters.dynamo.audit import AuditTable
from chalicelib.domain.errors import ConcurrentUpdate, NotFound, ValidationError
from chalicelib.services import exports, imports
from tests.functional.conftest import STAFF

HEADER = ("SIRET;Nom de la structure;Catégorie;Adresse;Code postal;Ville;E-mail de facturation;"
          "Contact : nom;Contact : e-mail;Adhésion : année;Adhésion : tranche;Adhésion : statut\r\n")
NEW_LINE = ("73282932000074;Ville de Belleville;Collectivité;1 place;44100;Belleville;compta@belleville.example;"
            "Marie Dupont;m.dupont@belleville.example;2026;COL-2;Payée\r\n")


@pytest.fixture
def staff(rt, demo):
    return rt.contacts.find_by_email(STAFF).contact_id


def rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff") and "\r\n" in text
    return list(csv.DictReader(io.StringIO(text[1:], newline=""), delimiter=";"))


def test_organisations_export_has_every_organisation_and_its_last_membership(rt, staff):
    file = exports.export_organisations(rt, staff)
    assert file.filename.startswith("structures-2026-11-28")
    lines = rows(file.text)
    assert len(lines) == 7
    montclair = next(r for r in lines if r["Nom de la structure"] == "Ville de Montclair")
    assert montclair["SIRET"] == "21440987600019" and montclair["Catégorie"] == "Collectivité"
    assert montclair["Adhésion : année"] == "2026" and montclair["Adhésion : montant"] == "720,00"
    assert montclair["Acheteur public"] == "oui"
    [event] = [i for i in AuditTable.scan() if i.action == "export.downloaded"]
    assert event.actor == staff


def test_contacts_export_lists_member_contacts_not_the_team(rt, staff):
    lines = rows(exports.export_contacts(rt, staff).text)
    emails = [r["Contact : e-mail"] for r in lines]
    assert "m.lefevre@montclair.example" in emails and STAFF not in emails
    from chalicelib.local.demo import demo_organisations

    assert len(lines) == sum(len(d.contacts) for d in demo_organisations())


def test_exported_values_are_neutralised(rt, staff):
    from chalicelib.domain.members import organisation_values
    from chalicelib.services.admin_members import update_organisation

    values = organisation_values(rt.organisations.get("org-durand"))
    update_organisation(rt, staff, "org-durand", {**values, "name": '=HYPERLINK("http://x","y")'})
    line = next(r for r in rows(exports.export_organisations(rt, staff).text) if r["SIRET"] == "48312345600027")
    assert line["Nom de la structure"] == '\'=HYPERLINK("http://x","y")'


def test_exporting_then_importing_changes_nothing(rt, staff):
    data = exports.export_organisations(rt, staff).text.encode("utf-8")
    check = imports.check_import(rt, staff, "structures.csv", data)
    assert not check.plan.has_errors, [line.errors for line in check.plan.lines if line.errors]
    assert check.plan.writes == 0


def test_dry_run_writes_nothing_and_confirmation_applies_once(rt, staff):
    data = (HEADER + NEW_LINE).encode("utf-8")
    check = imports.check_import(rt, staff, "adherents.csv", data)
    assert check.plan.counts()["organisation"]["create"] == 1
    assert all(o.siret != "73282932000074" for o in rt.organisations.all())
    result = imports.confirm_import(rt, staff, check.upload.import_id)
    assert result.created == {"organisation": 1, "contact": 1, "membership": 1}
    org = next(o for o in rt.organisations.all() if o.siret == "73282932000074")
    [contact] = rt.contacts.for_organisation(org.org_id)
    assert contact.email == "m.dupont@belleville.example" and contact.password_hash == ""
    [membership] = rt.memberships.for_organisation(org.org_id)
    assert membership.tier_code == "COL-2" and membership.amount == rt.tariffs.grid(2026).tier("COL-2").amount
    with pytest.raises(ConcurrentUpdate):
        imports.confirm_import(rt, staff, check.upload.import_id)
    again = imports.check_import(rt, staff, "adherents.csv", data)  # the same file twice changes nothing
    assert again.plan.writes == 0


def test_a_file_with_errors_cannot_be_confirmed(rt, staff):
    data = (HEADER + NEW_LINE + "123;;;;;;;;;;;\r\n").encode("utf-8")
    check = imports.check_import(rt, staff, "adherents.csv", data)
    assert check.plan.has_errors
    with pytest.raises(ValidationError, match="formulaire"):
        imports.confirm_import(rt, staff, check.upload.import_id)
    assert all(o.siret != "73282932000074" for o in rt.organisations.all())


def test_confirmation_checks_the_file_again_against_current_data(rt, staff):
    check = imports.check_import(rt, staff, "adherents.csv", (HEADER + NEW_LINE).encode())
    from chalicelib.services.admin_members import add_contact
    add_contact(rt, staff, "org-durand", {"name": "Marie", "email": "m.dupont@belleville.example"})
    with pytest.raises(ValidationError):
        imports.confirm_import(rt, staff, check.upload.import_id)


def test_windows_1252_files_are_read_with_a_warning(rt, staff):
    check = imports.check_import(rt, staff, "excel.csv", (HEADER + NEW_LINE).replace(";", ",").encode("cp1252"))
    assert not check.plan.has_errors
    assert any("Windows-1252" in w for w in check.plan.warnings)


def test_unknown_expired_or_oversized_imports_are_refused(rt, staff, clock):
    with pytest.raises(NotFound):
        imports.confirm_import(rt, staff, "0" * 32)
    with pytest.raises(NotFound):
        imports.confirm_import(rt, staff, "../../etc")
    check = imports.check_import(rt, staff, "a.csv", (HEADER + NEW_LINE).encode())
    clock.advance(hours=25)
    with pytest.raises(NotFound):
        imports.confirm_import(rt, staff, check.upload.import_id)
    with pytest.raises(ValidationError) as raised:
        imports.check_import(rt, staff, "big.csv", b"SIRET\n" + b"1" * (2 * 1024 * 1024))
    assert "2 Mo" in raised.value.errors["fichier"]


def test_template_has_every_column_and_reimports_cleanly(rt, staff):
    text = imports.template_csv()
    header = rows(text)[0].keys()
    assert "SIRET" in header and "Adhésion : statut" in header


# --- through the app ---------------------------------------------------------------------

def multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, dict]:
    boundary = "----adhesions-test-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="fichier"; filename="{filename}"\r\n'
                 f"Content-Type: text/csv\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_csv_downloads_are_text_attachments(browser):
    browser.login(STAFF)
    for path in ("/admin/exports/structures.csv", "/admin/exports/contacts.csv", "/admin/import/modele.csv"):
        response = browser.get(path)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert response.headers["Content-Disposition"].startswith('attachment; filename="')
        assert response.body.startswith("\ufeff".encode())


def test_upload_dry_run_then_confirm_through_the_pages(browser, rt):
    browser.login(STAFF)
    browser.get("/admin/import")
    body, headers = multipart({"csrf_token": browser.csrf()}, "adhérents.csv", (HEADER + NEW_LINE).encode())
    response = browser.post("/admin/import", body, headers=headers)
    assert response.status_code == 200, browser.text()[:2000]
    page = browser.text()
    assert "Rien n'a encore été enregistré" in page and "Structure Ville de Belleville (73282932000074) : création" in page
    assert all(o.siret != "73282932000074" for o in rt.organisations.all())
    import re
    action = re.search(r'action="(/admin/import/[a-f0-9]{32}/confirmation)"', browser.last.body.decode()).group(1)
    response = browser.post(action, {})
    assert response.status_code == 200 and "Le fichier a été importé." in browser.text()
    assert any(o.siret == "73282932000074" for o in rt.organisations.all())
    assert browser.post(action, {}).status_code == 409  # a second confirmation does nothing


def test_upload_with_line_errors_shows_them_in_french(browser):
    browser.login(STAFF)
    browser.get("/admin/import")
    bad = HEADER + "123;;;;;;;;;;;\r\n" + NEW_LINE.replace("44100", "441")
    body, headers = multipart({"csrf_token": browser.csrf()}, "a.csv", bad.encode())
    response = browser.post("/admin/import", body, headers=headers)
    assert response.status_code == 200
    page = browser.text()
    assert "SIRET : Le SIRET doit comporter 14 chiffres" in page
    assert "Code postal : Le code postal comporte 5 chiffres" in page
    assert "Confirmer l'import" not in page


def test_upload_without_token_or_file_is_refused(browser):
    browser.login(STAFF)
    browser.get("/admin/import")
    body, headers = multipart({}, "a.csv", (HEADER + NEW_LINE).encode())
    assert browser.post("/admin/import", body, headers=headers).status_code == 403
    body, headers = multipart({"csrf_token": browser.csrf()}, "vide.csv", b"")
    response = browser.post("/admin/import", body, headers=headers)
    assert response.status_code == 400 and "Choisissez un fichier CSV" in browser.text()
    body, headers = multipart({"csrf_token": browser.csrf()}, "image.png", b"\x89PNG\x00\x00")
    response = browser.post("/admin/import", body, headers=headers)
    assert response.status_code == 400 and 'id="f-fichier-error"' in response.body.decode()
