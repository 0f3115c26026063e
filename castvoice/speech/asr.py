"""Speech recognition behind one small interface, always gated by voice activity detection."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np

from castvoice.console import log
from castvoice.errors import CastvoiceError
from castvoice.media.decode import ANALYSIS_RATE
from castvoice.spans import Segment, Span, Word
from castvoice.speech.resegment import sentence_lines
from castvoice.speech.types import Transcript
from castvoice.speech.vad import VadSettings, get_vad, iter_speech_chunks

DEFAULT_MODEL = "base"
MULTILINGUAL_FALLBACK = "base"
# Speech must last a quarter second to count, so a lone cymbal or shout in a score is not sent to Whisper;
# the long silence and padding keep Whisper's context around each stretch of speech.
ASR_VAD = VadSettings(threshold=0.5, min_silence=2.0, min_speech=0.25, pad=0.4)
# Finer regions: where speech without long pauses may be cut, and the pauses that end sentences.
SPLIT_VAD = VadSettings(threshold=0.5, min_silence=0.2, min_speech=0.25, pad=0.1)
BATCH_SIZE = 8  # Whisper windows decoded together: keeps both cores busy
CHUNK_SECONDS = 600.0
WHISPER_WINDOW = 30.0


def embedded_models() -> dict[str, Callable[[], Path]]:
    """Model names that work offline, mapped to the function that assembles each."""
    from castvoice.assets import whisper_base, whisper_tiny_en

    return {"base": whisper_base, "tiny.en": whisper_tiny_en}


class ASRBackend(Protocol):
    name: str
    english_only: bool

    def transcribe(self, audio: np.ndarray, language: str | None = None, words: bool = False) -> Transcript:
        """Transcribe 16 kHz mono float32 audio; `language` None means detect it."""


class FasterWhisperASR:
    """Whisper through faster-whisper (CTranslate2, int8 on the CPU)."""

    def __init__(self, model: str = DEFAULT_MODEL, beam_size: int | None = None) -> None:
        self.name = model
        self._whisper = load_whisper(model)
        self.english_only = not self._whisper.model.is_multilingual
        self.beam_size = beam_size or (1 if model == "tiny.en" else 5)
        from faster_whisper import BatchedInferencePipeline

        self._batched = BatchedInferencePipeline(self._whisper)

    def transcribe(self, audio: np.ndarray, language: str | None = None, words: bool = False) -> Transcript:
        if language is not None and not self.english_only and language not in self._whisper.supported_languages:
            raise CastvoiceError(f"unknown language code {language!r} (use a code such as en, de, fr)")
        audio = np.asarray(audio, dtype=np.float32)
        duration = len(audio) / ANALYSIS_RATE
        regions = get_vad().regions(audio, ASR_VAD)
        if not regions:
            return Transcript(language=language or "", duration=duration)
        probability = None
        if self.english_only and language != "en":
            if language is None:
                language, probability = _detect(audio, regions)
            if language != "en":
                log.warning("model %s is English-only but the speech is in %r: using the multilingual %s model",
                            self.name, language, MULTILINGUAL_FALLBACK)
                result = get_asr(MULTILINGUAL_FALLBACK).transcribe(audio, language, words)
                result.language_probability = probability or result.language_probability
                return result
        segments, info = self._batched.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            word_timestamps=words,
            batch_size=BATCH_SIZE,
            clip_timestamps=[{"start": a, "end": b} for a, b in _clips(_within_window(audio, regions), duration)],
        )
        return Transcript(
            language=info.language,
            segments=[_segment(s, duration) for s in segments if s.text.strip()],
            language_probability=probability or info.language_probability,
            duration=duration,
        )


def _within_window(audio: np.ndarray, regions: list[Span]) -> list[Span]:
    """Regions no longer than Whisper's window: a longer one is split at its shorter pauses, and
    what still runs on is cut every WHISPER_WINDOW seconds."""
    result = []
    for region in regions:
        if region.end - region.start <= WHISPER_WINDOW:
            result.append(region)
            continue
        first = round(region.start * ANALYSIS_RATE)
        parts = get_vad().regions(audio[first : round(region.end * ANALYSIS_RATE)], SPLIT_VAD)
        for part in parts or [Span(0.0, region.end - region.start)]:
            start = region.start + part.start
            while start < region.start + part.end:
                end = min(start + WHISPER_WINDOW, region.start + part.end)
                result.append(Span(start, end))
                start = end
    return result


def _clips(regions: list[Span], duration: float) -> list[tuple[float, float]]:
    """Speech regions grouped into the stretches Whisper decodes: no longer than its window, so that a
    window never runs across a long silence (Whisper may skip speech after one); they never overlap
    and stay inside the audio."""
    clips: list[list[float]] = []
    for region in regions:
        start, end = max(region.start, clips[-1][1] if clips else 0.0), min(region.end, duration)
        if end <= start:
            continue
        if clips and end - clips[-1][0] <= WHISPER_WINDOW:
            clips[-1][1] = end
        else:
            clips.append([start, end])
    return [(start, end) for start, end in clips]


def _segment(found, duration: float) -> Segment:
    """A faster-whisper segment as ours, with word times kept in order and inside the audio."""
    words: list[Word] = []
    for w in found.words or []:
        start = min(max(float(w.start), words[-1].end if words else 0.0), duration)
        words.append(Word(start, min(max(float(w.end), start), duration), w.word.strip(), float(w.probability)))
    return Segment(min(float(found.start), duration), min(float(found.end), duration), found.text.strip(),
                   words=words)


def detect_language(audio: np.ndarray) -> tuple[str | None, float]:
    """The spoken language (code, probability) of 16 kHz audio, from its first 30 s of speech; None if silent."""
    audio = np.asarray(audio, dtype=np.float32)
    regions = get_vad().regions(audio, ASR_VAD)
    return _detect(audio, regions) if regions else (None, 0.0)


def _detect(audio: np.ndarray, regions: list[Span]) -> tuple[str, float]:
    """Language ID by the multilingual model on the speech regions joined end to end."""
    speech = np.concatenate([audio[round(r.start * ANALYSIS_RATE):round(r.end * ANALYSIS_RATE)] for r in regions])
    language, probability, _ = load_whisper(MULTILINGUAL_FALLBACK).detect_language(speech)
    return language, float(probability)


@cache
def load_whisper(model: str):
    """A faster-whisper model by embedded name, local folder, or name to download; loaded once per process."""
    from faster_whisper import WhisperModel

    offline = embedded_models()
    if model in offline:
        source = str(offline[model]())
    elif Path(model).expanduser().exists():
        source = str(Path(model).expanduser())
        if not (Path(source) / "model.bin").is_file():
            raise CastvoiceError("not a CTranslate2 Whisper model folder (no model.bin)", source)
    else:
        source = model
    try:
        return WhisperModel(source, device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 1)
    except ValueError as error:
        raise CastvoiceError(f"unknown Whisper model {model!r} ({error}); offline choices: {', '.join(offline)}") from None
    except OSError as error:
        raise CastvoiceError(
            f"the Whisper model {model!r} needs a download, which failed ({error.__class__.__name__}); "
            f"models that work offline: {', '.join(offline)}"
        ) from None


ASR_BACKENDS: dict[str, Callable[[str], ASRBackend]] = {"faster-whisper": FasterWhisperASR}


@cache
def get_asr(model: str = DEFAULT_MODEL, backend: str = "faster-whisper") -> ASRBackend:
    """The ASR backend for a model name or path, created on first use and kept for the process."""
    if backend not in ASR_BACKENDS:
        raise CastvoiceError(f"unknown ASR backend {backend!r}; choose from {', '.join(ASR_BACKENDS)}")
    return ASR_BACKENDS[backend](model)


def transcribe_file(
    path: Path,
    model: str = DEFAULT_MODEL,
    language: str | None = None,
    chunk_seconds: float = CHUNK_SECONDS,
    on_progress: Callable[[float], None] | None = None,
) -> Transcript:
    """Transcribe a media file of any length in chunks cut at silences, as sentences with their words
    (`sentence_lines`), with times from the file's start.

    Without `language`, the language heard in the first chunk with speech is kept for the rest.
    `on_progress` receives the seconds of audio done after each chunk.
    """
    asr = get_asr(model)
    result = Transcript(language=language or "", duration=0.0)
    for chunk in iter_speech_chunks(Path(path), chunk_seconds, ASR_VAD):
        if chunk.regions:
            part = asr.transcribe(chunk.audio, language, words=True)
            if language is None and part.segments:
                language = result.language = part.language
                result.language_probability = part.language_probability
            if asr.english_only and language not in (None, "en"):
                asr = get_asr(MULTILINGUAL_FALLBACK)  # it has warned once already
            sentences = sentence_lines(part.segments, get_vad().regions(chunk.audio, SPLIT_VAD), language)
            result.segments += [_shifted(s, chunk.offset) for s in sentences]
        result.duration = chunk.end
        if on_progress:
            on_progress(chunk.end)
    return result


def _shifted(segment: Segment, seconds: float) -> Segment:
    words = [Word(w.start + seconds, w.end + seconds, w.text, w.probability) for w in segment.words]
    return Segment(segment.start + seconds, segment.end + seconds, segment.text, segment.speaker, words)
