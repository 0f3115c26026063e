"""The service as a child process (for benchmarks and tests), and what a process uses."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

from castvoice.errors import CastvoiceError
from castvoice.processes import tied_to_this_process


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
                               env={**os.environ, **(env or {})}, preexec_fn=tied_to_this_process())
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
