"""What the service's requests do, as blocking calls made on the work queue's threads: speech in a stored,
stock or freshly cloned voice, transcription with per-segment emotion, and making a stored voice."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from castvoice.assets import cache_dir
from castvoice.errors import CastvoiceError
from castvoice.service.audio import decode_upload
from castvoice.service.clones import Clones
from castvoice.speech.emotion import Emotion
from castvoice.service.errors import ApiError
from castvoice.service.models import Models
from castvoice.service.settings import Settings
from castvoice.service.voices import VoiceStore, is_voice_id
from castvoice.service.work import Job
from castvoice.speech.types import Transcript
from castvoice.voice.profile import VoiceProfile

# OpenAI's built-in voice names; each speaks as the stock voice of that name (Kokoro has alloy, echo,
# fable, onyx and nova), else as the default voice, so that unchanged OpenAI clients work.
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
                 "marin", "cedar")


def check_speech(text: str, speed: float) -> None:
    """422 for a speed out of range or a text with nothing to say: checked before any work is done."""
    from castvoice.voice.engines.base import SPEED_RANGE, speakable

    if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
        raise ApiError(422, f"speed {speed:g} is out of range; use {SPEED_RANGE[0]} to {SPEED_RANGE[1]}",
                       "invalid_speed", "speed")
    speakable(text)


@dataclass
class Speech:
    """Text ready to be spoken: the backend, its voice argument, speed and language."""

    text: str
    backend: object  # a castvoice.voice.engines.base.TTSBackend
    voice: str | np.ndarray
    speed: float
    language: str | None

    @property
    def sample_rate(self) -> int:
        return self.backend.sample_rate


@dataclass
class Transcription:
    transcript: Transcript
    emotions: list[Emotion] | None  # one per segment; None when not asked for


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models = Models(settings)
        self.voices = VoiceStore(settings.voice_folders)
        self.clones = Clones(settings.clone_cache_dir or cache_dir() / "clones")

    # -- speech ---------------------------------------------------------------

    def speech(self, text: str, voice: str | None, backend: str | None, speed: float, language: str | None,
               profile: VoiceProfile | None = None) -> Speech:
        """Resolve what to say and how. The voice is, in this order: `profile` (a clone of reference audio),
        `default`, a stored voice (which speaks with its own backend), a stock voice of `backend`, or an OpenAI
        voice name."""
        from castvoice.voice.engines.base import SPEED_RANGE
        from castvoice.voice.profile import speaking_voice

        check_speech(text, speed)
        backend = self.models.tts_name(backend)
        name = voice or "default"
        if profile is None and name != "default" and is_voice_id(name) and self.voices.find(name):
            profile = self.voices.load(name)
        if profile is not None:
            self.models.tts(profile.backend)  # loaded through the registry, so /health lists it
            tts, voice_argument, own_speed = speaking_voice(profile)
            speed = min(max(speed * own_speed, SPEED_RANGE[0]), SPEED_RANGE[1])
            return Speech(text, tts, voice_argument, speed, language or profile.state.get("language"))
        tts = self.models.tts(backend)
        return Speech(text, tts, self._stock_voice(tts, name), speed, language)

    def clone(self, job: Job, key: str, reference: np.ndarray, backend: str, language: str,
              budget_seconds: float) -> VoiceProfile:
        """Search the voice of 16 kHz reference audio and keep it in the clone cache under `key`."""
        from castvoice.voice.profile import make_profile

        profile = make_profile("upload", backend, [reference], budget_seconds, "uploaded reference", language)
        job.check()
        return self.clones.keep(key, profile)

    def _stock_voice(self, tts, name: str) -> str:
        stock = tts.voices()
        if name == "default":
            return self.settings.default_voice if self.settings.default_voice in stock else stock[0]
        if name in stock:
            return name
        if name in OPENAI_VOICES:
            return next((v for v in stock if v.split("_", 1)[-1] == name), self._stock_voice(tts, "default"))
        raise ApiError(422, f"unknown voice {name!r}: not a stored voice (GET /v1/voices), nor a {tts.name} voice "
                            f"({', '.join(stock[:6])}, ...), nor 'default'", "unknown_voice", "voice")

    @staticmethod
    def say(speech: Speech, job: Job) -> Iterator[np.ndarray]:
        """The speech piece by piece (a sentence or clause each); stops when the job is stopped."""
        with contextlib.closing(speech.backend.stream(speech.text, speech.voice, speech.speed, speech.language)) as pieces:
            for piece in pieces:
                job.check()
                yield piece

    # -- transcription ----------------------------------------------------------

    def transcribe(self, job: Job, upload: BinaryIO, model: str, language: str | None, words: bool,
                   emotion: str = "none") -> Transcription:
        """Decode, transcribe and (unless `emotion` is none) judge each segment's emotion."""
        audio = decode_upload(upload, self.settings.max_audio_seconds)
        job.check()
        transcript = self.models.asr(model).transcribe(audio, language, words)
        job.check()
        backend = self.models.emotion(emotion)
        emotions = backend.classify(audio, transcript.segments) if backend else None
        return Transcription(transcript, emotions)

    # -- stored voices ----------------------------------------------------------

    def create_voice(self, job: Job, name: str, references: list[BinaryIO], profile_file: BinaryIO | None,
                     backend: str, budget_seconds: float, language: str, replace: bool, source: str) -> dict:
        """Clone a voice from reference recordings, or import a .cvoice profile, into the voice store."""
        from castvoice.text.normalize import words
        from castvoice.voice.backends import BACKENDS
        from castvoice.voice.profile import load_profile, make_profile

        if not words(name):
            raise ApiError(422, "a voice name needs a letter or a digit", "invalid_voice_name", "name")
        if profile_file is not None:
            with tempfile.NamedTemporaryFile(suffix=".cvoice") as copy:
                copy.write(profile_file.read())
                copy.flush()
                try:
                    profile = load_profile(copy.name)
                except CastvoiceError as error:
                    raise ApiError(415, f"not a castvoice voice profile: {error.problem}", "unsupported_media",
                                   "profile") from None
            if profile.backend not in BACKENDS:
                raise ApiError(422, f"the profile needs the {profile.backend!r} backend, which this server lacks",
                               "unknown_model", "profile")
            profile.name = name
        else:
            audio = [decode_upload(reference, self.settings.max_audio_seconds) for reference in references]
            job.check()
            profile = make_profile(name, backend, audio, budget_seconds, source, language)
        job.check()
        return self.voices.add(profile, replace)
