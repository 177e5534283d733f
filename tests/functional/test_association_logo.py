"""The association's logo: uploaded by staff in « Identité de l'association », shown on the home page."""
from __future__ import annotations

import base64
import re
import struct
import zlib

import pytest

from chalicelib.adapters.dynamo.audit import AuditTable
from tests.functional.conftest import MEMBER, STAFF


def png(width: int = 2, height: int = 1, padding: int = 0) -> bytes:
    """A valid PNG; ``padding`` bytes of a text chunk make it as large as needed."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x1f\x6f\x3c" * width for _ in range(height))
    extra = chunk(b"tEXt", b"Comment\x00" + b"x" * padding) if padding else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + extra + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'


def multipart(fields: dict[str, str], filename: str, content: bytes, content_type: str) -> tuple[bytes, dict]:
    boundary = "----adhesions-logo-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="logo"; filename="{filename}"\r\n'
                 f"Content-Type: {content_type}\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def upload(browser, filename: str, content: bytes, content_type: str = "image/png"):
    page = browser.get("/admin/parametres").body.decode()
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    body, headers = multipart({"csrf_token": browser.csrf(), "version": version}, filename, content, content_type)
    return browser.post("/admin/parametres/logo", body, headers=headers)


def logo_events() -> list:
    return [e for e in AuditTable.scan() if e.action == "settings.updated" and '"logo"' in e.data]


@pytest.fixture
def staff(browser):
    assert browser.login(STAFF).status_code == 303
    return browser


def test_an_uploaded_png_is_shown_on_the_home_page_beside_the_name_and_journaled(staff, rt):
    image = png()
    response = upload(staff, "logo.png", image)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/parametres?fait=logo-enregistre#logo"
    stored = rt.settings.association().logo
    assert stored == "data:image/png;base64," + base64.b64encode(image).decode()
    staff.get("/admin/parametres?fait=logo-enregistre")
    assert "Le logo a été enregistré" in staff.text() and "Logo actuel (PNG, 1 Ko)" in staff.text()
    home = staff.get("/").body.decode()
    name = rt.association().name
    assert f'<img class="logo" src="{stored}" alt="{name}">' in home.replace("&#39;", "'")
    assert "img-src 'self' data:" in staff.last.headers["Content-Security-Policy"]
    [event] = logo_events()
    assert "aucun" in event.data and "PNG, 1 Ko" in event.data and "base64" not in event.data
    staff.get("/admin/journal")
    assert "Logo de l'association" in staff.text()


def test_a_jpeg_is_accepted_by_its_first_bytes_whatever_its_name(staff, rt):
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x00" * 200 + b"\xff\xd9"
    assert upload(staff, "logo.gif", jpeg, "image/gif").status_code == 303
    assert rt.settings.association().logo.startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize(("filename", "content", "content_type"), [
    ("logo.gif", GIF, "image/gif"),
    ("logo.svg", SVG, "image/svg+xml"),
    ("logo.png", SVG, "image/png"),  # an SVG under a PNG's name
    ("logo.txt", "Cité Verte, notre logo".encode(), "text/plain"),
])
def test_anything_but_png_or_jpeg_is_refused_in_french_and_nothing_stored(staff, rt, filename, content,
                                                                          content_type):
    response = upload(staff, filename, content, content_type)
    assert response.status_code == 400
    assert "Le logo doit être une image PNG ou JPEG" in staff.text()
    assert 'href="#f-logo"' in response.body.decode()
    assert rt.settings.association().logo == "" and logo_events() == []


@pytest.mark.parametrize("padding", [100 * 1024, 170 * 1024])  # over the limit; over the body's limit too
def test_a_logo_over_100_kb_is_refused_and_nothing_stored(staff, rt, padding):
    response = upload(staff, "logo.png", png(padding=padding))
    assert response.status_code == 400
    assert "Le logo dépasse 100 Ko" in staff.text()
    assert rt.settings.association().logo == "" and logo_events() == []


def test_an_empty_file_field_is_refused(staff, rt):
    response = upload(staff, "", b"")
    assert response.status_code == 400 and "Choisissez le fichier du logo" in staff.text()


def test_the_logo_can_be_removed(staff, rt):
    assert upload(staff, "logo.png", png()).status_code == 303
    staff.get("/admin/parametres")
    version = re.search(r'name="version" value="(\d+)"', staff.last.body.decode()).group(1)
    response = staff.post("/admin/parametres/logo/suppression", {"version": version})
    assert response.status_code == 303
    assert rt.settings.association().logo == ""
    assert "<img" not in staff.get("/").body.decode()
    staff.get("/admin/parametres")
    assert "Aucun logo pour l'instant" in staff.text()
    assert [e for e in logo_events() if "PNG, 1 Ko" in e.data and e.data.index("PNG") < e.data.index("aucun")]


def test_a_stale_upload_is_refused(staff, rt):
    staff.get("/admin/parametres")
    body, headers = multipart({"csrf_token": staff.csrf(), "version": "999"}, "logo.png", png(), "image/png")
    assert staff.post("/admin/parametres/logo", body, headers=headers).status_code == 409
    assert rt.settings.association().logo == ""


def test_a_member_can_neither_upload_nor_remove_the_logo(browser, rt):
    assert browser.login(MEMBER).status_code == 303
    version = str(rt.settings.association_with_version()[1])
    body, headers = multipart({"csrf_token": browser.csrf(), "version": version}, "logo.png", png(), "image/png")
    assert browser.post("/admin/parametres/logo", body, headers=headers).status_code == 403
    assert browser.post("/admin/parametres/logo/suppression", {"version": version}).status_code == 403
    assert rt.settings.association().logo == ""
