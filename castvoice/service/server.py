"""Running the service in this process: `serve`."""

from __future__ import annotations

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
