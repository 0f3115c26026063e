"""Piper (VITS): a fixed, fast voice, embedded."""

from __future__ import annotations

import json

import numpy as np

from castvoice.errors import CastvoiceError
from castvoice.voice.engines.base import TUNED, OnnxSettings, PieceByPiece


class PiperTTS(PieceByPiece):
    """Piper (VITS) with the en_US-joe-medium voice; 22.05 kHz, several times faster than Kokoro."""

    name = "piper"
    sample_rate = 22_050
    languages = ("en-us",)
    voice_name = "en_US-joe-medium"

    def __init__(self, onnx: OnnxSettings = TUNED) -> None:
        from piper import PiperVoice
        from piper.config import PiperConfig

        from castvoice.assets import piper_joe

        model = piper_joe()
        config = PiperConfig.from_dict(json.loads(model.with_suffix(".onnx.json").read_text(encoding="utf-8")))
        assert config.sample_rate == self.sample_rate
        self._piper = PiperVoice(session=onnx.session(model), config=config)

    def voices(self) -> list[str]:
        return [self.voice_name]

    def _voice(self, voice: str | np.ndarray) -> str:
        if not isinstance(voice, str):
            raise CastvoiceError("piper speaks only its stock voice; a style array needs the kokoro backend")
        if voice != self.voice_name:
            raise self._unknown_voice(voice)
        return voice

    def _whole(self, text: str, voice: str, speed: float, language: str) -> np.ndarray:
        from piper import SynthesisConfig

        # Piper would scale each sentence to full scale on its own; the model's level is even across sentences.
        config = SynthesisConfig(length_scale=1.0 / speed, normalize_audio=False)
        chunks = [chunk.audio_float_array for chunk in self._piper.synthesize(text, config)]
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)

    _piece = _whole  # Piper's output keeps its own pauses at the ends


def profile_state(tts: PiperTTS, name: str, references: list[np.ndarray], budget_seconds: float, language: str):
    """A Piper voice profile: its one voice, whatever the references."""
    return {"voice": tts.voices()[0], "speed": 1.0, "language": language}, {}, {}
