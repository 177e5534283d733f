"""Starts the `make run` entry point in a subprocess on a free port (for HTTP and browser tests)."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class DevServer:
    url: str
    output: str
    process: subprocess.Popen

    @property
    def demo_password(self) -> str:
        return re.search(r"mot de passe pour tous : (\S+)\)", self.output).group(1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_devserver(today: str = "", timeout: float = 120) -> DevServer:
    """Run ``python -m chalicelib.local.devserver`` as `make run` does, with a clean AWS environment.

    ``today`` (``YYYY-MM-DD[THH:MM]``) is the app's today, as `make run TODAY=…` sets it; empty:
    the machine's date.
    """
    port = free_port()
    prefixes = ("AWS_", "APP_", "TABLE_", "BASE_URL", "DOCUMENTS_", "SENDER_", "TODAY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.local.devserver", "--port", str(port)] + (["--today", today] if today else []),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Ctrl+C"):
            return DevServer(f"http://127.0.0.1:{port}", "".join(lines), proc)
    proc.kill()
    raise RuntimeError("the local server did not start:\n" + "".join(lines))
