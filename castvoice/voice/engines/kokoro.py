"""Kokoro-82M: the embedded engine that speaks in any voice of its style space (castvoice.voice.clone
clones within it)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from castvoice.errors import CastvoiceError
from castvoice.voice.engines.base import TUNED, OnnxSettings, PieceByPiece


class KokoroTTS(PieceByPiece):
    """Kokoro-82M (int8 ONNX) with its 54 stock voices; 24 kHz."""

    name = "kokoro"
    sample_rate = 24_000
    languages = ("en-us", "en-gb", "es", "fr-fr", "hi", "it", "pt-br", "ja", "cmn")
    style_shape = (510, 1, 256)

    def __init__(self, onnx: OnnxSettings = TUNED, precision: str = "int8") -> None:
        """`precision` int8 is the model as it ships; fp32 is it dequantised, slower on 2 cores (bench tts)."""
        from kokoro_onnx import Kokoro

        from castvoice.assets import kokoro_model, kokoro_voices

        model = {"int8": kokoro_model, "fp32": kokoro_model_fp32}[precision]()
        self._kokoro = Kokoro.from_session(onnx.session(model), str(kokoro_voices()))

    def voices(self) -> list[str]:
        return sorted(self._kokoro.get_voices())

    def style(self, voice: str) -> np.ndarray:
        """A stock voice's style pack: 510 x 1 x 256 float32, one style row per input length."""
        if voice not in self._kokoro.voices:
            raise self._unknown_voice(voice)
        return np.asarray(self._kokoro.get_voice_style(voice), dtype=np.float32)

    def _voice(self, voice: str | np.ndarray) -> np.ndarray:
        if isinstance(voice, str):
            return self.style(voice)
        style = np.asarray(voice, dtype=np.float32)
        if style.shape != self.style_shape:
            raise CastvoiceError(f"a Kokoro style array must be 510 x 1 x 256, not {' x '.join(map(str, style.shape))}")
        return style

    def _whole(self, text: str, style: np.ndarray, speed: float, language: str) -> np.ndarray:
        return self._speech(self._kokoro.tokenizer.phonemize(text, language), style, speed, language)

    def _piece(self, text: str, style: np.ndarray, speed: float, language: str) -> np.ndarray:
        from kokoro_onnx.chunker import pause_after

        phonemes = self._kokoro.tokenizer.phonemize(text, language)
        # Kokoro trims the silence around its output; the pause the punctuation calls for is added back,
        # as Kokoro itself does between the batches of one text.
        pause = pause_after(phonemes, sentence=0.25, clause=0.1) if phonemes else 0.0
        speech = self._speech(phonemes, style, speed, language)
        return np.concatenate([speech, np.zeros(round(pause * self.sample_rate), np.float32)])

    def _speech(self, phonemes: str, style: np.ndarray, speed: float, language: str) -> np.ndarray:
        if not phonemes:  # e.g. a piece of symbols espeak does not read
            return np.zeros(0, np.float32)
        # Kokoro cuts phonemes into batches within its limit (MAX_PHONEME_LENGTH, 510) before inference.
        audio, rate = self._kokoro.create(phonemes, voice=style, speed=speed, lang=language, is_phonemes=True)
        assert rate == self.sample_rate
        return np.asarray(audio, dtype=np.float32)


@cache
def kokoro_engine() -> KokoroTTS:
    """The process's Kokoro (int8, tuned settings), made on first use and kept: `get_tts("kokoro")` and the
    voice search share it."""
    return KokoroTTS()


@cache
def kokoro_model_fp32() -> Path:
    """Kokoro-82M as float32 ONNX: the int8 model with its weights dequantised (see castvoice.voice.dequantize),
    made once into castvoice's cache."""
    import onnx

    from castvoice.assets import kokoro_model, models_dir, sha256_file
    from castvoice.atomic import atomic_path
    from castvoice.voice.dequantize import dequantize_model

    source = kokoro_model()
    path = models_dir() / "kokoro" / f"kokoro-fp32-{sha256_file(source)[:12]}.onnx"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            onnx.save(dequantize_model(onnx.load(source)), tmp)
    return path
