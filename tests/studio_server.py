"""For the studio's tests: the studio running as `castvoice studio` in a child process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Studio:
    """`castvoice studio` in a child process, started and stopped by the test."""

    def __init__(self, projects: Path, max_upload_mb: float = 20) -> None:
        self.projects, self.max_upload_mb, self.port = projects, max_upload_mb, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> Studio:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "castvoice", "studio", "--projects", str(self.projects), "--port", str(self.port),
             "--max-upload-mb", str(self.max_upload_mb)], cwd=REPO, env=os.environ.copy())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.3)
            if self.process.poll() is not None:
                raise AssertionError(f"the studio exited with status {self.process.returncode}")
        raise AssertionError("the studio did not start within 60 s")

    def kill(self) -> None:
        """End the server at once, as a crash or a power cut would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def api(self, path: str) -> str:
        return f"{self.url}/studio/api{path}"


def wait_for(check, seconds: float = 300, what: str = "the condition"):
    """Poll `check` until it returns something true; that value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen within {seconds:.0f} s")
