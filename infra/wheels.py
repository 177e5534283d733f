"""The runtime dependencies as binary wheels for the Lambda platform: fetched, never compiled.

``make package`` used to let Chalice find wheels: for any dependency without a wheel it
accepted, Chalice compiled the sdist with this machine's compiler against this machine's
Python, then silently left out what it could not use (cffi, Pillow, lxml). Here instead:

- ``fetch`` asks pip for binary wheels only (``--only-binary=:all:``), for the target's
  Python version, ABI and platform tags (the manylinux tags Amazon Linux 2023's glibc
  accepts), dependencies included; a requirement with no such wheel stops the build with its
  name. pip never runs a build backend, so no compiler runs.
- ``unpack`` lays the wheels out in the build's ``vendor/``, which Chalice zips as it is (the
  build's own ``requirements.txt`` is left empty).
- ``check_package`` reads a deployment zip and lists what would fail on Lambda: a
  requirement or a dependency of one missing (from the ``Requires-Dist`` of every shipped
  distribution, markers evaluated for the target), a wheel or a compiled extension built for
  another Python or platform, the templates missing, the size over Lambda's limits.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path, PurePosixPath

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags, parse_tag
from packaging.utils import canonicalize_name, parse_wheel_filename

# Lambda's limits: 250 MB unzipped for the function and its layers together; the WeasyPrint
# layer takes about 40 MB of it (infra/layer), so the function keeps 200 MB.
UNZIPPED_LIMIT = 200 * 1000 * 1000
# A zip uploaded through S3 (what `aws cloudformation package` does) may be larger than the
# 50 MB of a direct upload; we still keep under it so that a console upload works too.
ZIPPED_LIMIT = 50 * 1000 * 1000
ELF_MACHINES = {"x86_64": 62, "arm64": 183}
PIP_ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}


class WheelError(Exception):
    """The package cannot be built or would not run on the target."""


@dataclass(frozen=True)
class Target:
    """Where the package runs: Lambda's ``python3.X`` runtime on Amazon Linux 2023."""

    python: str = "3.12"
    architecture: str = "x86_64"
    glibc: tuple[int, int] = (2, 34)  # Amazon Linux 2023

    @classmethod
    def for_runtime(cls, runtime: str, architecture: str) -> Target:
        match = re.fullmatch(r"python(3\.\d+)", runtime)
        if match is None or architecture not in PIP_ARCH:
            raise WheelError(f"unsupported Lambda runtime {runtime!r} / architecture {architecture!r}")
        return cls(match.group(1), architecture)

    @property
    def version(self) -> tuple[int, int]:
        major, minor = self.python.split(".")
        return int(major), int(minor)

    @property
    def abi(self) -> str:
        return "cp{}{}".format(*self.version)

    @property
    def platforms(self) -> list[str]:
        """Newest first: every manylinux tag this glibc accepts, then the legacy aliases."""
        arch = PIP_ARCH[self.architecture]
        tags = [f"manylinux_{self.glibc[0]}_{minor}_{arch}" for minor in range(self.glibc[1], 16, -1)]
        tags.append(f"manylinux2014_{arch}")
        if arch == "x86_64":
            tags += ["manylinux2010_x86_64", "manylinux1_x86_64", "manylinux_2_12_x86_64", "manylinux_2_5_x86_64"]
        return tags

    def tags(self) -> set[Tag]:
        return (set(cpython_tags(self.version, abis=[self.abi, "abi3", "none"], platforms=self.platforms))
                | set(compatible_tags(self.version, interpreter=self.abi, platforms=self.platforms)))

    def marker_environment(self) -> dict[str, str]:
        env = default_environment()
        env.update(python_version=self.python, python_full_version=f"{self.python}.0", implementation_name="cpython",
                   platform_python_implementation="CPython", sys_platform="linux", os_name="posix",
                   platform_system="Linux", platform_machine=PIP_ARCH[self.architecture], extra="")
        return env

    def __str__(self) -> str:
        return f"CPython {self.python} {self.architecture} (glibc {self.glibc[0]}.{self.glibc[1]})"


def fetch(requirements: Path, dest: Path, target: Target) -> list[Path]:
    """Download every requirement and its dependencies as wheels for ``target`` into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "--implementation", "cp", "--python-version", target.python,
               "--abi", target.abi, "--abi", "abi3", "--abi", "none", "--dest", str(dest), "-r", str(requirements)]
    for platform in target.platforms:
        command += ["--platform", platform]
    # No build ever runs (binary only); a compiler that fails makes sure of it.
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "CC": "false", "CXX": "false"})
    if done.returncode != 0:
        missing = sorted(set(re.findall(r"No matching distribution found for (\S+)", done.stderr)))
        if missing:
            raise WheelError(f"no binary wheel for {target} of: {', '.join(missing)} "
                             "(pin a version that publishes one, or vendor it)")
        raise WheelError(f"pip download failed:\n{done.stderr[-3000:]}")
    wheels = sorted(dest.glob("*.whl"))
    wrong = [w.name for w in wheels if not (parse_wheel_filename(w.name)[3] & target.tags())]
    if wrong:
        raise WheelError(f"wheels not built for {target}: {', '.join(wrong)}")
    return wheels


def unpack(wheels: list[Path], vendor: Path) -> None:
    """Install the wheels' files into ``vendor/`` as a site-packages (``.data`` dirs folded in)."""
    vendor.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                parts = PurePosixPath(info.filename).parts
                if parts[0].endswith(".data"):
                    if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                        continue  # scripts, headers, data: not importable, not needed on Lambda
                    parts = parts[2:]
                path = vendor.joinpath(*parts)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(archive.read(info))


# --- checking a deployment zip -------------------------------------------------------------------


@dataclass(frozen=True)
class Shipped:
    """A distribution found in the zip, from its ``.dist-info``."""

    name: str
    version: str
    requires: tuple[str, ...]
    tags: frozenset[Tag]


def shipped_distributions(archive: zipfile.ZipFile) -> dict[str, Shipped]:
    found, names = {}, set(archive.namelist())
    for name in names:
        match = re.fullmatch(r"([^/]+)\.dist-info/METADATA", name)
        if not match:
            continue
        metadata = Parser().parsestr(archive.read(name).decode("utf-8", "replace"))
        wheel_file = f"{match.group(1)}.dist-info/WHEEL"
        tags = frozenset()
        if wheel_file in names:
            lines = archive.read(wheel_file).decode().splitlines()
            tags = frozenset(t for line in lines if line.startswith("Tag:")
                             for t in parse_tag(line.split(":", 1)[1].strip()))
        dist = Shipped(canonicalize_name(metadata["Name"]), metadata["Version"],
                       tuple(metadata.get_all("Requires-Dist") or ()), tags)
        found[dist.name] = dist
    return found


def requirement_names(requirements: Path) -> list[str]:
    names = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(canonicalize_name(Requirement(line).name))
    return names


def _extension_problem(name: str, data: bytes, target: Target) -> str | None:
    """A compiled file built for another Python or machine, or None."""
    base = PurePosixPath(name).name
    tagged = re.search(r"\.(cpython-(\d+)-([a-z0-9_]+)-linux-gnu|abi3)\.so$", base)
    if tagged and tagged.group(2) and tagged.group(2) != "{}{}".format(*target.version):
        return f"{name}: built for CPython {tagged.group(2)}, not {target.python}"
    if data[:4] != b"\x7fELF":
        return f"{name}: not a Linux (ELF) library"
    machine = int.from_bytes(data[18:20], "little")
    if machine != ELF_MACHINES[target.architecture]:
        return f"{name}: built for machine {machine}, not {target.architecture}"
    return None


def check_package(zip_path: Path, requirements: Path, target: Target) -> tuple[list[str], dict[str, float]]:
    """What would fail on Lambda in this deployment zip, and its sizes in MB."""
    problems: list[str] = []
    tags = target.tags()
    env = target.marker_environment()
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        shipped = shipped_distributions(archive)
        for wanted in requirement_names(requirements):
            if wanted not in shipped:
                problems.append(f"requirement {wanted} is not in the zip")
        for dist in shipped.values():
            if dist.tags and not dist.tags & tags:
                problems.append(f"{dist.name} {dist.version}: wheel tags {sorted(map(str, dist.tags))} "
                                f"do not run on {target}")
            for text in dist.requires:
                requirement = Requirement(text)
                if requirement.marker is not None and not requirement.marker.evaluate(env):
                    continue
                if canonicalize_name(requirement.name) not in shipped:
                    problems.append(f"{requirement.name}, needed by {dist.name}, is not in the zip")
        for info in archive.infolist():
            if re.search(r"\.so(\.[0-9.]+)?$", info.filename):
                problem = _extension_problem(info.filename, archive.read(info)[:64], target)
                if problem:
                    problems.append(problem)
        if not any(n.startswith("chalicelib/templates/") for n in names):
            problems.append("chalicelib/templates/ is not in the zip")
        unzipped = sum(i.file_size for i in archive.infolist())
    zipped = zip_path.stat().st_size
    if unzipped > UNZIPPED_LIMIT:
        problems.append(f"{unzipped / 1e6:.1f} MB unzipped: over the {UNZIPPED_LIMIT / 1e6:.0f} MB left beside the layer")
    if zipped > ZIPPED_LIMIT:
        problems.append(f"{zipped / 1e6:.1f} MB zipped: over Lambda's {ZIPPED_LIMIT / 1e6:.0f} MB direct upload")
    return problems, {"zipped_mb": zipped / 1e6, "unzipped_mb": unzipped / 1e6}
