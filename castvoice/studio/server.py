"""Running the studio in this process: `serve_studio`."""

from __future__ import annotations

import threading
import webbrowser
from pathlib import Path

from castvoice.console import log
from castvoice.workspace import DEFAULT_ROOT

DEFAULT_MAX_UPLOAD_MB = 4096  # movies are large; the HTTP service alone keeps its own, smaller default


def serve_studio(workspace: Path | None = None, projects: Path | None = None, host: str = "127.0.0.1",
                 port: int = 7860, open_browser: bool = False, token: str | None = None, no_auth: bool = False,
                 max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, log_level: str = "warning") -> None:
    """Serve the studio (and the HTTP API beside it) until interrupted, on one workspace or on every project
    in a folder (default: ./castvoice-work). A non-loopback `host` needs a `token` unless `no_auth`."""
    import uvicorn

    from castvoice.service.server import make_settings
    from castvoice.studio.app import create_studio
    from castvoice.studio.projects import Projects

    if workspace is None and projects is None:
        projects = Path.cwd() / DEFAULT_ROOT
    found = Projects(workspace, projects)
    voices = found.single / "voices" if found.single else None
    settings = make_settings(host, token, no_auth, workspace_voices=voices, max_upload_bytes=int(max_upload_mb * 1e6))
    app = create_studio(settings, found)
    address = f"http://{'localhost' if host in ('127.0.0.1', '::1', 'localhost') else host}:{port}/"
    address += f"?token={settings.token}" if settings.token else ""
    log.info("castvoice studio: %s", address)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, [address]).start()
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
