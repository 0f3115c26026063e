"""Kyutai Pocket TTS: zero-shot cloning with weights downloaded on first use (an optional extra, not embedded).

Pocket TTS (`pip install castvoice[pocket]`) is a 100M-parameter flow language model over Mimi latents,
24 kHz, faster than real time on two CPU cores. Its default config (`english`, inside the `pocket-tts` package)
downloads `languages/english/model.safetensors` from the Hugging Face repo kyutai/pocket-tts (gated: accept
its terms and log in with `hf auth login`) and the tokenizer from kyutai/pocket-tts-without-voice-cloning.
$CASTVOICE_POCKET_CONFIG names another pocket-tts config YAML (a local path, https:// or hf://).

A cloned voice is its reference speech: one 16 kHz mono float32 array (`reference_prompt`), stored in the
voice profile; the model turns it into its conditioning (a key-value cache) once per process.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from castvoice.errors import CastvoiceError
from castvoice.voice.engines.base import PieceByPiece

POCKET_CONFIG_ENV = "CASTVOICE_POCKET_CONFIG"
POCKET_WEIGHTS = "kyutai/pocket-tts languages/english/model.safetensors"
PROMPT_RATE = 16_000
PROMPT_SECONDS = 20.0  # Pocket TTS clones from a single prompt; longer prompts slow every step
PROMPT_GAP_SECONDS = 0.2
MIN_PROMPT_SECONDS = 1.0
# The language of each config the package ships (english_2026-04.yaml, french_24l.yaml, ...), by its name's
# first word; another config is taken to be English.
POCKET_LANGUAGES = {"english": ("en-us", "en-gb"), "french": ("fr-fr",), "german": ("de",), "spanish": ("es",),
                    "italian": ("it",), "portuguese": ("pt-br",), "dutch": ("nl",)}
CACHED_VOICES = 4


def reference_prompt(references: list[np.ndarray], seconds: float = PROMPT_SECONDS) -> np.ndarray:
    """The references (16 kHz, best first) joined into one prompt of at most `seconds`, with short pauses
    between them; a reference that does not fit whole is left out, unless it is the first."""
    gap = np.zeros(round(PROMPT_GAP_SECONDS * PROMPT_RATE), np.float32)
    limit = round(seconds * PROMPT_RATE)
    parts: list[np.ndarray] = []
    for reference in references:
        reference = np.asarray(reference, dtype=np.float32)
        used = sum(len(part) for part in parts)
        if not parts:
            parts.append(reference[:limit])
        elif used + len(gap) + len(reference) <= limit:
            parts += [gap, reference]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:200]


class PocketTTS(PieceByPiece):
    """Kyutai Pocket TTS: its catalogue voices, or a voice cloned from reference speech; 24 kHz. `config` is a
    language the package has a config for (default english) or a config YAML."""

    name = "pocket"
    sample_rate = 24_000
    languages = POCKET_LANGUAGES["english"]

    def __init__(self, config: str | Path | None = None) -> None:
        try:
            from pocket_tts import TTSModel
        except ImportError:
            raise CastvoiceError("Pocket TTS is not installed; install it with `pip install castvoice[pocket]`") from None
        self.config = str(config or os.environ.get(POCKET_CONFIG_ENV) or "english")
        try:
            if Path(self.config.split("@")[0]).suffix in (".yaml", ".yml"):
                self._model = TTSModel.load_model(config=self.config)
            else:  # a language the package has a config for: english, french, german, ...
                self._model = TTSModel.load_model(language=self.config)
        except Exception as error:  # downloads (hub, https) and the package's own checks fail in many ways
            raise CastvoiceError(
                f"Pocket TTS could not load its weights for {self.config!r} ({_first_line(error)}); the first use "
                f"downloads {POCKET_WEIGHTS}, so it needs the network once") from None
        self.sample_rate = self._model.sample_rate
        stem = Path(self.config.split("@")[0]).stem
        self.languages = POCKET_LANGUAGES.get(stem.split("_")[0], POCKET_LANGUAGES["english"])
        self._lock = threading.Lock()  # the model keeps state while it speaks: one text at a time
        self._states: OrderedDict[str, dict] = OrderedDict()

    def voices(self) -> list[str]:
        from pocket_tts.utils.utils import _ORIGINS_OF_PREDEFINED_VOICES

        return sorted(_ORIGINS_OF_PREDEFINED_VOICES)

    def conditioning(self, voice: str | np.ndarray) -> dict:
        """The model state conditioned on a catalogue voice or on a 16 kHz prompt (see `reference_prompt`),
        made once per process for the last few voices."""
        if isinstance(voice, str):
            if voice not in self.voices():
                raise self._unknown_voice(voice)
            key = voice
        else:
            voice = self._checked_prompt(voice)
            key = hashlib.sha1(voice.tobytes()).hexdigest()
        with self._lock:
            if key not in self._states:
                self._states[key] = self._condition(voice)
                while len(self._states) > CACHED_VOICES:
                    self._states.popitem(last=False)
            self._states.move_to_end(key)
            return self._states[key]

    def _checked_prompt(self, prompt: np.ndarray) -> np.ndarray:
        prompt = np.asarray(prompt, dtype=np.float32)
        if prompt.ndim != 1:
            raise CastvoiceError(f"a Pocket TTS voice prompt is mono 16 kHz audio, not an array of shape {prompt.shape}")
        if len(prompt) < MIN_PROMPT_SECONDS * PROMPT_RATE or not np.isfinite(prompt).all():
            raise CastvoiceError(f"a Pocket TTS voice prompt needs at least {MIN_PROMPT_SECONDS:g} s of finite audio")
        if not self._model.has_voice_cloning:
            raise CastvoiceError("these Pocket TTS weights cannot clone voices: accept the terms of kyutai/pocket-tts "
                                 "on Hugging Face and log in with `hf auth login`, or use a catalogue voice")
        return prompt

    def _condition(self, voice: str | np.ndarray) -> dict:
        import soxr
        import torch

        if isinstance(voice, np.ndarray):
            audio = soxr.resample(voice, PROMPT_RATE, self.sample_rate).astype(np.float32)
            voice = torch.from_numpy(audio)[None, :]
        try:
            return self._model.get_state_for_audio_prompt(voice)
        except (OSError, ValueError) as error:  # a catalogue voice not downloadable, or not for these weights
            raise CastvoiceError(f"Pocket TTS cannot use this voice: {_first_line(error)}") from None

    def _checked(self, voice, speed: float, language: str | None):
        if speed != 1.0:
            raise CastvoiceError("Pocket TTS speaks at its own pace; use speed 1.0")
        return super()._checked(voice, speed, language)

    def _voice(self, voice: str | np.ndarray) -> dict:
        return self.conditioning(voice)

    def _whole(self, text: str, state: dict, speed: float, language: str) -> np.ndarray:
        with self._lock:
            audio = self._model.generate_audio(state, text, copy_state=True)
        return audio.numpy().astype(np.float32, copy=False)

    _piece = _whole  # the model ends each text on its own pause


def profile_state(tts: PocketTTS, name: str, references: list[np.ndarray], budget_seconds: float, language: str):
    """A Pocket TTS voice profile: the best references joined into one prompt, kept as the `prompt` array."""
    tts.spoken_language(language)
    prompt = reference_prompt(references)
    tts.conditioning(prompt)  # fails now, not at the first `speak`, where these weights cannot clone
    state = {"model": tts.config, "language": language, "speed": 1.0,
             "prompt_seconds": round(len(prompt) / PROMPT_RATE, 2)}
    return state, {"prompt": prompt}, {}
