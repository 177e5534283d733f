"""The WeasyPrint layer's contents check (``infra/layer/contents.py``).

The layer itself is built in the Lambda image with Docker (``infra/layer/build.sh``), which
this machine lacks. So the check runs on a layer laid out exactly as the build lays it out,
from this machine's own Debian libraries and fonts (the same libraries WeasyPrint uses here),
and on the real archive when ``LAYER_ZIP`` names one.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from infra.layer.contents import REQUIRED_FONTS, REQUIRED_LIBRARIES, check_layer

ROOT = Path(__file__).resolve().parents[2]
LIB_DIRS = [Path("/usr/lib/x86_64-linux-gnu"), Path("/lib/x86_64-linux-gnu"), Path("/usr/lib64")]
FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu")]


def _find(name: str, dirs: list[Path]) -> Path:
    for directory in dirs:
        if (directory / name).exists():
            return (directory / name).resolve()
    pytest.fail(f"{name} not found on this machine (see README: Debian packages)")


def lay_out(path: Path, leave_out: str = "", foreign: bytes | None = None) -> Path:
    """A layer archive as build.sh makes it: lib/, fonts/, MANIFEST.txt."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        manifest = []
        for name in REQUIRED_LIBRARIES:
            if name != leave_out:
                data = _find(name, LIB_DIRS).read_bytes()
                archive.writestr(f"lib/{name}", data)
                manifest.append(f"{name}-debian.x86_64 {hashlib.sha256(data).hexdigest()}")
        for name in REQUIRED_FONTS:
            if name != leave_out:
                source = ROOT / "infra" / "layer" / name if name == "fonts.conf" else _find(name, FONT_DIRS)
                archive.writestr(f"fonts/{name}", source.read_bytes())
        if foreign is not None:
            archive.writestr("lib/libforeign.so.1", foreign)
        archive.writestr("MANIFEST.txt", "\n".join(manifest) + "\n")
    return path


def test_a_complete_layer_passes_and_is_listed(tmp_path):
    problems, found = check_layer(lay_out(tmp_path / "layer.zip"))
    assert problems == []
    assert set(REQUIRED_LIBRARIES) <= set(found["libraries"]) and len(found["packages"]) == len(REQUIRED_LIBRARIES)
    assert found["unzipped_mb"] > 1


@pytest.mark.parametrize("missing", ["libharfbuzz-subset.so.0", "libpango-1.0.so.0", "DejaVuSans.ttf", "fonts.conf"])
def test_a_layer_missing_a_library_or_a_font_is_refused(tmp_path, missing):
    problems, _ = check_layer(lay_out(tmp_path / "layer.zip", leave_out=missing))
    assert any(missing in p and "missing" in p for p in problems)


def test_a_library_for_another_machine_is_refused(tmp_path):
    arm_elf = b"\x7fELF\x02\x01\x01" + bytes(11) + (183).to_bytes(2, "little") + bytes(44)
    problems, _ = check_layer(lay_out(tmp_path / "layer.zip", foreign=arm_elf))
    assert problems == ["lib/libforeign.so.1: not built for x86_64"]
    problems, _ = check_layer(lay_out(tmp_path / "layer.zip"), "arm64")
    assert any("libpango-1.0.so.0: not built for arm64" in p for p in problems)


@pytest.mark.skipif(not os.environ.get("LAYER_ZIP"), reason="LAYER_ZIP names no built layer archive")
def test_the_built_layer_archive():
    problems, found = check_layer(Path(os.environ["LAYER_ZIP"]), os.environ.get("LAYER_ARCH", "x86_64"))
    assert problems == [], found
