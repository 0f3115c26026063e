"""The TTS and cloning backends, one table: for each name its engine, how it makes a voice profile, the
package that provides it, a line for help texts and what it needs beyond the embedded models.

An engine lives in castvoice/voice/engines/NAME.py with its `profile_state` (Kokoro's is the voice search,
castvoice.voice.clone; kokoro-trained's is training, castvoice.voice.train); adding a backend is its engine
file and one entry here. Engines and builders are imported on first use, through the small functions below,
so that reading the table (for help texts) is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from castvoice.errors import CastvoiceError

if TYPE_CHECKING:
    import numpy as np

    from castvoice.voice.engines.base import TTSBackend

    # (engine, voice name, 16 kHz references, budget in seconds, language) -> (state, arrays, similarity)
    Builder = Callable[[TTSBackend, str, list[np.ndarray], float, str],
                       tuple[dict, dict[str, np.ndarray], dict[str, float]]]

NEEDS = {"download": "downloads its weights on first use", "key": "with your own API key"}


@dataclass(frozen=True)
class Backend:
    """One TTS backend: how to make its engine and its voices, and how to describe it."""

    engine: Callable[[], TTSBackend]  # makes the engine (get_tts keeps it for the process)
    build: Builder  # turns reference speech into a voice profile's state
    package: str  # the Python package that provides the engine
    description: str  # for help texts
    needs: str | None = None  # beyond the embedded models: "download" or "key" (see NEEDS)
    # a VoiceProfile to the voice argument it speaks with, when that is not its style, prompt or voice name
    voice: Callable[..., object] | None = None


def _kokoro() -> TTSBackend:
    from castvoice.voice.engines.kokoro import kokoro_engine

    return kokoro_engine()


def _kokoro_profile(tts, name, references, budget_seconds, language):
    from castvoice.voice.clone import profile_state

    return profile_state(tts, name, references, budget_seconds, language)


def _kokoro_trained() -> TTSBackend:
    from castvoice.voice.engines.kokoro_trained import trained_engine

    return trained_engine()


def _kokoro_trained_profile(tts, name, references, budget_seconds, language):
    from castvoice.voice.engines.kokoro_trained import profile_state

    return profile_state(tts, name, references, budget_seconds, language)


def _kokoro_trained_voice(profile):
    from castvoice.voice.engines.kokoro_trained import profile_voice

    return profile_voice(profile)


def _piper() -> TTSBackend:
    from castvoice.voice.engines.piper import PiperTTS

    return PiperTTS()


def _piper_profile(tts, name, references, budget_seconds, language):
    from castvoice.voice.engines.piper import profile_state

    return profile_state(tts, name, references, budget_seconds, language)


def _pocket() -> TTSBackend:
    from castvoice.voice.engines.pocket import PocketTTS

    return PocketTTS()


def _pocket_profile(tts, name, references, budget_seconds, language):
    from castvoice.voice.engines.pocket import profile_state

    return profile_state(tts, name, references, budget_seconds, language)


def _elevenlabs() -> TTSBackend:
    from castvoice.voice.engines.elevenlabs import ElevenLabsTTS

    return ElevenLabsTTS()


def _elevenlabs_profile(tts, name, references, budget_seconds, language):
    from castvoice.voice.engines.elevenlabs import profile_state

    return profile_state(tts, name, references, budget_seconds, language)


BACKENDS: dict[str, Backend] = {
    "kokoro": Backend(_kokoro, _kokoro_profile, "kokoro-onnx", "clones within Kokoro's voice space"),
    "kokoro-trained": Backend(_kokoro_trained, _kokoro_trained_profile, "torch",
                              "Kokoro fine-tuned on the voice, see train-voice", voice=_kokoro_trained_voice),
    "piper": Backend(_piper, _piper_profile, "piper-tts", "a fixed voice"),
    "pocket": Backend(_pocket, _pocket_profile, "pocket-tts", "Kyutai Pocket TTS", needs="download"),
    "elevenlabs": Backend(_elevenlabs, _elevenlabs_profile, "httpx", "ElevenLabs' instant voice cloning",
                          needs="key"),
}


@cache
def get_tts(name: str = "kokoro") -> TTSBackend:
    """The named TTS backend, created on first use and kept for the process."""
    if name not in BACKENDS:
        raise CastvoiceError(f"unknown TTS backend {name!r}; choose from {', '.join(BACKENDS)}")
    return BACKENDS[name].engine()


def backend_help() -> str:
    """The backends in one line, for a `--backend` option's help."""
    described = [f"{name} ({', '.join(filter(None, [b.description, NEEDS.get(b.needs)]))})"
                 for name, b in BACKENDS.items()]
    return f"{', '.join(described[:-1])} or {described[-1]}."
