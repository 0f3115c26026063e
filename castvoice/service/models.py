"""The models one service process uses: each loaded once, on first use, and kept; a fixed, small set of
names is allowed so that no request can make the process load (and hold) yet another model."""

from __future__ import annotations

import threading
import time
from importlib.metadata import PackageNotFoundError, version

from castvoice.service.errors import ApiError
from castvoice.service.settings import Settings
from castvoice.voice.backends import BACKENDS, get_tts

OPENAI_ASR_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")
OPENAI_TTS_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
# The package behind each model that is not a TTS backend (those name theirs in castvoice.voice.backends).
PACKAGES = {"asr": "faster-whisper", "prosody": "librosa", "sensevoice": "sherpa-onnx"}
EMOTION_BACKENDS = ("auto", "prosody", "sensevoice", "none")


class Models:
    """Loads ASR, TTS and emotion backends on demand (one at a time) and says what is loaded."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loaded: dict[str, dict] = {}  # "kind:name" -> {"package", "version", "load_seconds"}
        self._instances: dict[str, object] = {}
        self._lock = threading.Lock()

    def asr_name(self, requested: str | None) -> str:
        """The Whisper model a request asks for (OpenAI's names mean the default); 422 for others."""
        from castvoice.speech.asr import embedded_models

        if not requested or requested in OPENAI_ASR_MODELS:
            return self.settings.asr_model
        allowed = sorted({self.settings.asr_model, *embedded_models()})
        if requested not in allowed:
            raise ApiError(422, f"unknown transcription model {requested!r}; choose from {', '.join(allowed)} "
                                f"or {OPENAI_ASR_MODELS[0]}", "unknown_model", "model")
        return requested

    def tts_name(self, requested: str | None) -> str:
        """The TTS backend a request asks for (OpenAI's names mean the default); 422 for others."""
        if not requested or requested in OPENAI_TTS_MODELS:
            return self.settings.tts_backend
        if requested not in BACKENDS:
            raise ApiError(422, f"unknown speech model {requested!r}; choose from {', '.join(BACKENDS)} "
                                f"or {OPENAI_TTS_MODELS[0]}", "unknown_model", "model")
        return requested

    def asr(self, name: str):
        from castvoice.speech.asr import get_asr

        return self._load(f"asr:{name}", PACKAGES["asr"], lambda: get_asr(name))

    def tts(self, name: str):
        return self._load(f"tts:{name}", BACKENDS[name].package, lambda: get_tts(name))

    def emotion(self, requested: str):
        """The emotion backend for `auto` (SenseVoice where installed, else the estimate) or a named one;
        None for `none`."""
        from castvoice.speech.emotion import ProsodyEmotion, SenseVoiceEmotion, sensevoice_unavailable

        if requested not in EMOTION_BACKENDS:
            raise ApiError(422, f"unknown emotion backend {requested!r}; choose from {', '.join(EMOTION_BACKENDS)}",
                           "unknown_model", "emotion")
        if requested == "none":
            return None
        model_dir = self.settings.sensevoice_model
        if requested == "auto":
            requested = "prosody" if sensevoice_unavailable(model_dir) else "sensevoice"
        elif requested == "sensevoice" and (reason := sensevoice_unavailable(model_dir)):
            raise ApiError(422, f"the sensevoice emotion backend is not available here: {reason}",
                           "model_unavailable", "emotion")
        make = ProsodyEmotion if requested == "prosody" else lambda: SenseVoiceEmotion(model_dir)
        return self._load(f"emotion:{requested}", PACKAGES[requested], make)

    def _load(self, key: str, package: str, make):
        model = self._instances.get(key)
        if model is None:
            with self._lock:  # two first requests at once load the model once
                model = self._instances.get(key)
                if model is None:
                    began = time.perf_counter()
                    model = self._instances[key] = make()
                    self.loaded[key] = {"package": package, "version": _version(package),
                                        "load_seconds": round(time.perf_counter() - began, 2)}
        return model

    def preload(self) -> None:
        """Load the default ASR and TTS models and the emotion estimate now."""
        self.asr(self.settings.asr_model)
        self.tts(self.settings.tts_backend)
        self.emotion("auto")

    def status(self) -> dict:
        """What is loaded, and whether the optional emotion model could be."""
        from castvoice.speech.emotion import sensevoice_unavailable

        reason = sensevoice_unavailable(self.settings.sensevoice_model)
        return {"loaded": self.loaded, "sensevoice": "available" if reason is None else f"unavailable: {reason}"}


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None
