"""ElevenLabs speech and instant voice cloning over its REST API, with the user's own key.

Opt-in: nothing is sent unless a key is configured, in $ELEVENLABS_API_KEY or as `api_key` in the
`[elevenlabs]` table of the config file ($CASTVOICE_CONFIG, default ~/.config/castvoice/config.toml), where
`url` and `model` may be set too. Cloning uploads the reference clips to ElevenLabs (POST /v1/voices/add);
speech streams back as 24 kHz 16-bit PCM (POST /v1/text-to-speech/VOICE_ID/stream).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from castvoice.config import config_table
from castvoice.errors import CastvoiceError
from castvoice.voice.engines.base import PieceByPiece

API_URL = "https://api.elevenlabs.io"
API_KEY_ENV = "ELEVENLABS_API_KEY"
MODEL = "eleven_multilingual_v2"
SAMPLE_RATE = 24_000
OUTPUT_FORMAT = f"pcm_{SAMPLE_RATE}"  # raw signed 16-bit little-endian mono
SETTINGS = ("api_key", "url", "model")
CONNECT_SECONDS, READ_SECONDS = 10.0, 60.0
REFERENCE_RATE = 16_000


@dataclass(frozen=True)
class ElevenLabsSettings:
    api_key: str | None = None
    url: str = API_URL
    model: str = MODEL


def load_settings(path: Path | None = None) -> ElevenLabsSettings:
    """The `[elevenlabs]` table of the config file, with $ELEVENLABS_API_KEY taking precedence for the key."""
    table, path = config_table("elevenlabs", SETTINGS, path)
    if any(not isinstance(value, str) for value in table.values()):
        raise CastvoiceError("[elevenlabs] settings must be strings", path)
    key = os.environ.get(API_KEY_ENV) or table.get("api_key") or None
    return ElevenLabsSettings(key, table.get("url", API_URL).rstrip("/"), table.get("model", MODEL))


class ElevenLabsTTS(PieceByPiece):
    """ElevenLabs voices (the account's, by voice id), multilingual; 24 kHz."""

    name = "elevenlabs"
    sample_rate = SAMPLE_RATE
    languages = ("en-us", "en-gb", "es", "fr-fr", "de", "it", "pt-br", "nl", "pl", "hi", "ja", "cmn", "ko", "ar", "ru")

    def __init__(self, settings: ElevenLabsSettings | None = None) -> None:
        settings = settings or load_settings()
        if not settings.api_key:
            raise CastvoiceError(f"ElevenLabs is not configured: set {API_KEY_ENV}, or api_key in the [elevenlabs] "
                                 "table of the config file")
        import httpx

        self.settings = settings
        self._client = httpx.Client(base_url=settings.url, headers={"xi-api-key": settings.api_key},
                                    timeout=httpx.Timeout(READ_SECONDS, connect=CONNECT_SECONDS))

    def voices(self) -> list[str]:
        """The ids of the voices in the account (GET /v1/voices)."""
        with self._request("GET", "/v1/voices") as response:
            response.read()
            return [voice["voice_id"] for voice in response.json().get("voices", [])]

    def clone(self, name: str, references: list[np.ndarray]) -> str:
        """Upload 16 kHz reference speech as an instant voice clone named `name`; its voice id."""
        import soundfile as sf

        files = []
        for number, audio in enumerate(references, 1):
            buffer = io.BytesIO()
            sf.write(buffer, np.asarray(audio, dtype=np.float32), REFERENCE_RATE, format="WAV", subtype="PCM_16")
            files.append(("files", (f"reference-{number:02d}.wav", buffer.getvalue(), "audio/wav")))
        data = {"name": name, "description": "cloned by castvoice"}
        with self._request("POST", "/v1/voices/add", data=data, files=files) as response:
            response.read()
            return response.json()["voice_id"]

    def _voice(self, voice: str | np.ndarray) -> str:
        if not isinstance(voice, str) or not voice.strip():
            raise CastvoiceError("an ElevenLabs voice is a voice id; clone one with "
                                 "`castvoice voice create NAME --backend elevenlabs`")
        return voice

    def _whole(self, text: str, voice_id: str, speed: float, language: str) -> np.ndarray:
        body: dict = {"text": text, "model_id": self.settings.model}
        if speed != 1.0:
            body["voice_settings"] = {"speed": speed}
        with self._request("POST", f"/v1/text-to-speech/{voice_id}/stream", params={"output_format": OUTPUT_FORMAT},
                           json=body) as response:
            chunks = list(pcm16_samples(response.iter_bytes()))
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)

    _piece = _whole

    @contextlib.contextmanager
    def _request(self, method: str, path: str, **kwargs):
        """The streamed response to a request that ElevenLabs answered with 2xx; a CastvoiceError naming the
        problem otherwise."""
        import httpx

        try:
            with self._client.stream(method, path, **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    raise CastvoiceError(_refusal(response))
                yield response
        except httpx.TransportError as error:
            raise CastvoiceError(f"ElevenLabs could not be reached at {self.settings.url} ({error})") from None


def profile_state(tts: ElevenLabsTTS, name: str, references: list[np.ndarray], budget_seconds: float,
                  language: str):
    """An ElevenLabs voice profile: the references are uploaded as an instant voice clone, the profile keeps
    its voice id."""
    tts.spoken_language(language)
    voice_id = tts.clone(name, references)
    return {"voice": voice_id, "model": tts.settings.model, "speed": 1.0, "language": language}, {}, {}


def pcm16_samples(chunks: Iterator[bytes]) -> Iterator[np.ndarray]:
    """Float32 samples from a stream of 16-bit little-endian PCM bytes cut anywhere (even inside a sample)."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk
        whole = len(data) - len(data) % 2
        carry = data[whole:]
        if whole:
            yield np.frombuffer(data[:whole], dtype="<i2").astype(np.float32) / 32768.0


def _refusal(response) -> str:
    """One line for an error answer: the status and ElevenLabs' own message."""
    try:
        detail = response.json().get("detail", "")
    except ValueError:
        detail = response.text.strip()
    if isinstance(detail, dict):
        detail = detail.get("message") or detail.get("status") or ""
    elif isinstance(detail, list):  # request validation errors
        detail = "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail)
    detail = " ".join(str(detail).split())[:300]
    if response.status_code == 401:
        return f"ElevenLabs refused the API key (401){': ' + detail if detail else ''}; check {API_KEY_ENV}"
    return f"ElevenLabs answered {response.status_code}{': ' + detail if detail else ''}"
