"""Running the service: `serve` in this process, `spawn` in a child process (for benchmarks and tests)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from castvoice.errors import CastvoiceError

TOKEN_ENV = "CASTVOICE_TOKEN"


def serve(host: str = "127.0.0.1", port: int = 8000, token: str | None = None, no_auth: bool = False,
          voices_dir: Path | None = None, workspace_voices: Path | None = None, log_level: str = "info",
          **limits) -> None:
    """Run the service until interrupted. A non-loopback `host` needs a `token` (clients send it as
    `Authorization: Bearer TOKEN`) unless `no_auth`; `limits` are further `Settings` fields
    (asr_model, workers, queue_limit, max_upload_bytes, request_timeout, preload, ...)."""
    import uvicorn

    from castvoice.service.app import create_app

    settings = make_settings(host, token, no_auth, voices_dir, workspace_voices, **limits)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)


def make_settings(host: str, token: str | None, no_auth: bool, voices_dir: Path | None = None,
                  workspace_voices: Path | None = None, **limits):
    """Settings for a server on `host`, refusing a network-facing one without a token."""
    from castvoice.service.settings import Settings, is_loopback
    from castvoice.voice.profile import library_dir

    if not token and not no_auth and not is_loopback(host):
        raise CastvoiceError(f"refusing to listen on {host} without a token: anyone who can reach it could use it. "
                             f"Give --token (or set {TOKEN_ENV}), or pass --no-auth to allow that")
    return Settings(voices_dir=Path(voices_dir) if voices_dir else library_dir(),
                    extra_voice_folders=(Path(workspace_voices),) if workspace_voices else (),
                    token=token or None, **limits)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spawn(port: int, wait_seconds: float = 120.0, env: dict | None = None, **serve_args) -> subprocess.Popen:
    """Start `serve(host="127.0.0.1", port=port, **serve_args)` in a child process and wait until it answers
    /health; the caller stops it (terminate, then wait)."""
    import httpx

    args = {"host": "127.0.0.1", "port": port, "log_level": "warning", **serve_args}
    code = "import json, sys; from castvoice.service.server import serve; serve(**json.loads(sys.argv[1]))"
    process = subprocess.Popen([sys.executable, "-c", code, json.dumps(args, default=str)],
                               env={**os.environ, **(env or {})})
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CastvoiceError(f"the server exited with status {process.returncode} before answering")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise CastvoiceError(f"the server did not answer within {wait_seconds:g} s")


def resident_bytes(pid: int | str = "self") -> int | None:
    """A process's resident memory (VmRSS) in bytes; None where /proc does not tell (not Linux)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
