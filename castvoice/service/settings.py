"""What one service process allows and where it keeps its voices."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    voices_dir: Path  # the voice store: POST /v1/voices writes here, DELETE removes from here
    extra_voice_folders: tuple[Path, ...] = ()  # read-only, e.g. a workspace's voices/
    token: str | None = None  # bearer token every /v1 request must carry; None: no authentication
    asr_model: str = "base"  # Whisper model for `whisper-1` and requests that name none
    tts_backend: str = "kokoro"
    default_voice: str = "af_heart"  # the stock voice that `default` names
    workers: int = 1  # jobs that run at once; each uses every core
    queue_limit: int = 32  # jobs that may wait beyond those; more are turned away with 503
    max_upload_bytes: int = 25 * 1024 * 1024
    max_audio_seconds: float = 600.0
    max_text_chars: int = 4096
    request_timeout: float = 120.0  # seconds a request may wait and run
    voice_budget_seconds: float = 60.0  # default search time when a voice is made over HTTP
    max_voice_budget_seconds: float = 900.0
    clone_budget_seconds: float = 10.0  # default search time for a one-off clone from reference audio
    clone_cache_dir: Path | None = None  # where clones of reference audio are kept; None: castvoice's cache, clones/
    sensevoice_model: Path | None = None  # folder with SenseVoice's model.int8.onnx and tokens.txt
    preload: bool = False  # load the default models at start instead of on first use
    voice_folders: tuple[Path, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "voice_folders", (Path(self.voices_dir), *map(Path, self.extra_voice_folders)))
        for name in ("sensevoice_model", "clone_cache_dir"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))


def is_loopback(host: str) -> bool:
    """Whether `host` binds only this machine (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False
