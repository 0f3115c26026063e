"""Text-to-speech backends behind one small interface, registered by name and loaded once."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Protocol

import numpy as np

from castvoice.errors import CastvoiceError


class TTSBackend(Protocol):
    name: str
    sample_rate: int
    languages: tuple[str, ...]

    def voices(self) -> list[str]:
        """Names of the voices this backend offers."""

    def synthesize(self, text: str, voice: str | np.ndarray, speed: float = 1.0, language: str = "en-us") -> np.ndarray:
        """Speech for `text` as float32 mono samples at `sample_rate`; `voice` is a stock voice name or,
        for backends that clone by style, the voice's style array."""


class KokoroTTS:
    """Kokoro-82M (int8 ONNX) with its 54 stock voices; 24 kHz."""

    name = "kokoro"
    sample_rate = 24_000
    languages = ("en-us", "en-gb", "es", "fr-fr", "hi", "it", "pt-br", "ja", "cmn")

    def __init__(self) -> None:
        from kokoro_onnx import Kokoro

        from castvoice.assets import kokoro_model, kokoro_voices

        self._kokoro = Kokoro(str(kokoro_model()), str(kokoro_voices()))

    def voices(self) -> list[str]:
        return sorted(self._kokoro.get_voices())

    def style(self, voice: str) -> np.ndarray:
        """A stock voice's style pack: 510 x 1 x 256 float32, one style row per input length."""
        return np.asarray(self._kokoro.get_voice_style(voice), dtype=np.float32)

    def synthesize(self, text: str, voice: str | np.ndarray, speed: float = 1.0, language: str = "en-us") -> np.ndarray:
        if isinstance(voice, str) and voice not in self._kokoro.voices:
            raise CastvoiceError(f"unknown kokoro voice {voice!r}")
        audio, rate = self._kokoro.create(text, voice=voice, speed=speed, lang=language)
        assert rate == self.sample_rate
        return np.asarray(audio, dtype=np.float32)


BACKENDS: dict[str, Callable[[], TTSBackend]] = {"kokoro": KokoroTTS}


@cache
def get_tts(name: str = "kokoro") -> TTSBackend:
    """The named TTS backend, created on first use and kept for the process."""
    if name not in BACKENDS:
        raise CastvoiceError(f"unknown TTS backend {name!r}; choose from {', '.join(BACKENDS)}")
    return BACKENDS[name]()
