"""What a WeasyPrint layer archive must hold, and the check of one (``check_layer``).

    python -m infra.layer.contents build/weasyprint-layer-x86_64.zip   # lists it, exits 1 on a problem

The layer is ``lib/`` (native libraries, on Lambda's ``LD_LIBRARY_PATH`` as ``/opt/lib``),
``fonts/`` (DejaVu and ``fonts.conf``, ``FONTCONFIG_PATH=/opt/fonts``) and ``MANIFEST.txt``
(the packages it was built from, name-version-release.arch and SHA-256, written by
``in_container.sh``). ``tests/integration/test_layer_contents.py`` runs the check on the
archive named by ``LAYER_ZIP`` when one is given, and always on a layer laid out from this
machine's own Debian libraries, so that the check itself is tested.
"""
from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path, PurePosixPath

# What WeasyPrint opens through cffi (weasyprint/text/ffi.py), and HarfBuzz's subsetter, without
# which fonts are embedded whole and PDFs take about six times longer.
REQUIRED_LIBRARIES = ("libgobject-2.0.so.0", "libglib-2.0.so.0", "libpango-1.0.so.0", "libpangoft2-1.0.so.0",
                      "libharfbuzz.so.0", "libharfbuzz-subset.so.0", "libfontconfig.so.1", "libfreetype.so.6")
REQUIRED_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "fonts.conf")
ELF_MACHINES = {"x86_64": 62, "arm64": 183}
UNZIPPED_LIMIT = 50 * 1000 * 1000  # what infra/wheels.py leaves the layer of Lambda's 250 MB


def check_layer(path: Path, architecture: str = "x86_64", *, manifest: bool = True) -> tuple[list[str], dict]:
    """Problems found in the layer archive, and what it holds (libraries, fonts, packages, size)."""
    problems = []
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        names = {i.filename for i in infos}
        libraries = sorted(PurePosixPath(n).name for n in names if n.startswith("lib/"))
        fonts = sorted(PurePosixPath(n).name for n in names if n.startswith("fonts/"))
        for library in REQUIRED_LIBRARIES:
            if library not in libraries:
                problems.append(f"lib/{library} is missing")
        for font in REQUIRED_FONTS:
            if font not in fonts:
                problems.append(f"fonts/{font} is missing")
        for info in infos:
            if info.filename.startswith("lib/") and re.search(r"\.so(\.\d+)*$", info.filename):
                head = archive.read(info)[:20]
                if head[:4] != b"\x7fELF":
                    problems.append(f"{info.filename}: not an ELF library")
                elif int.from_bytes(head[18:20], "little") != ELF_MACHINES[architecture]:
                    problems.append(f"{info.filename}: not built for {architecture}")
            elif not info.filename.startswith(("lib/", "fonts/")) and info.filename != "MANIFEST.txt":
                problems.append(f"{info.filename}: outside lib/ and fonts/")
        packages = []
        if "MANIFEST.txt" in names:
            for line in archive.read("MANIFEST.txt").decode().splitlines():
                fields = line.split()
                if len(fields) != 2 or not re.fullmatch(r"[0-9a-f]{64}", fields[1]):
                    problems.append(f"MANIFEST.txt: unreadable line {line!r}")
                else:
                    packages.append(fields[0])
        elif manifest:
            problems.append("MANIFEST.txt is missing: the packages the layer was built from are unknown")
        unzipped = sum(i.file_size for i in infos)
    if unzipped > UNZIPPED_LIMIT:
        problems.append(f"{unzipped / 1e6:.1f} MB unzipped: over the {UNZIPPED_LIMIT / 1e6:.0f} MB kept for the layer")
    return problems, {"libraries": libraries, "fonts": fonts, "packages": packages, "unzipped_mb": unzipped / 1e6}


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: python -m infra.layer.contents LAYER.zip [x86_64|arm64]", file=sys.stderr)
        return 2
    problems, found = check_layer(Path(argv[0]), argv[1] if len(argv) == 2 else "x86_64")
    print(f"{len(found['libraries'])} libraries, {len(found['fonts'])} font files, "
          f"{len(found['packages'])} packages, {found['unzipped_mb']:.1f} MB unzipped")
    for line in problems:
        print(f"problem: {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
