"""Per-segment emotion (HAPPY, SAD, ANGRY, NEUTRAL) for transcripts.

No speech-emotion model ships offline, so the embedded backend *estimates*: loud, fast speech with a
lively pitch reads as aroused, quiet, slow, flat speech as low, and a short list of English cue words
pulls the estimate towards happy, sad or angry. It is a heuristic, not a trained classifier, and its
`source` says so. Where a SenseVoice model (and sherpa-onnx) is installed, SenseVoice classifies instead.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from castvoice.errors import CastvoiceError
from castvoice.media.decode import ANALYSIS_RATE
from castvoice.media.pitch import track_pitch
from castvoice.spans import Segment
from castvoice.text.normalize import count_syllables, words

EMOTIONS = ("HAPPY", "SAD", "ANGRY", "NEUTRAL")


@dataclass
class Emotion:
    label: str  # one of EMOTIONS
    confidence: float | None  # 0-1; None where the backend gives no score
    source: str  # the backend that decided, and how


class EmotionBackend(Protocol):
    name: str

    def classify(self, audio: np.ndarray, segments: list[Segment]) -> list[Emotion]:
        """One emotion per segment of 16 kHz mono `audio`."""


# ---------------------------------------------------------------------------
# The embedded estimate: prosody and words
# ---------------------------------------------------------------------------

# Typical values and spreads, for files too short to judge a speaker against their own other segments.
NORMS = {"pitch": None, "spread": (2.5, 1.2), "loudness": (-22.0, 5.0), "rate": (4.5, 1.2)}
FLOORS = {"pitch": 1.0, "spread": 0.5, "loudness": 2.0, "rate": 0.7}  # smallest spread a z-score divides by
OWN_BASELINE_SEGMENTS = 3
CUES = {
    "HAPPY": frozenset(
        "happy glad great wonderful love lovely loved joy delighted excellent amazing fantastic beautiful laugh "
        "yay hooray thanks thank awesome fun excited perfect congratulations celebrate smile best nice wow "
        "brilliant marvelous enjoy pleased".split()),
    "SAD": frozenset(
        "sad sorry cry crying cried tears miss missed lost lonely alone grief died dead death funeral hurt pain "
        "unhappy depressed goodbye regret heartbroken tragic mourn weep gone afraid".split()),
    "ANGRY": frozenset(
        "angry hate hated furious damn hell stupid idiot shut liar enough kill rage mad outrageous ridiculous "
        "dare fool disgusting sick pathetic useless".split()),
}
NEGATIONS = frozenset("not no never nothing nobody".split())
ESTIMATE_SOURCE = "estimate from prosody (pitch, energy, speaking rate) and cue words; not an emotion model"


class ProsodyEmotion:
    """The embedded estimator; always available."""

    name = "prosody"

    def __init__(self) -> None:
        # librosa compiles its kernels on first use (seconds): done here, while loading, not in a request
        track_pitch(np.zeros(ANALYSIS_RATE, np.float32))

    def classify(self, audio: np.ndarray, segments: list[Segment]) -> list[Emotion]:
        features = [self._features(audio[round(s.start * ANALYSIS_RATE):round(s.end * ANALYSIS_RATE)], s)
                    for s in segments]
        scales = _baseline([f for f in features if f])
        return [_estimate(f, scales, s.text) for f, s in zip(features, segments)]

    def _features(self, audio: np.ndarray, segment: Segment) -> dict[str, float] | None:
        """Median pitch and its spread (semitones), loudness (dBFS) and syllables per second; None when
        the segment holds no voiced frame."""
        pitch = track_pitch(audio)
        if pitch is None:
            return None
        voiced = pitch.voiced()
        if voiced.sum() < 3:
            return None
        semitones = 12 * np.log2(pitch.f0[voiced] / 100.0)
        low, middle, high = np.percentile(semitones, [10, 50, 90])
        return {
            "pitch": float(middle),
            "spread": float((high - low) / 2.56),  # the standard deviation, were it normal, without outliers
            "loudness": float(np.median(pitch.level_db[voiced])),
            "rate": count_syllables(segment.text) / max(segment.end - segment.start, 0.25),
        }


def mood_of_words(text: str) -> Emotion:
    """The estimate from words alone (cue words and exclamation marks), for text nobody spoke."""
    return _estimate(None, NORMS, text)


def mood_of_speech(audio: np.ndarray, text: str) -> Emotion:
    """The estimate for one utterance: 16 kHz mono `audio` and the words heard in it."""
    return ProsodyEmotion().classify(audio, [Segment(0.0, len(audio) / ANALYSIS_RATE, text)])[0]


def _baseline(features: list[dict[str, float]]) -> dict[str, tuple[float, float] | None]:
    """Centre and scale of each feature: the speaker's own over the file when it has enough segments,
    else typical values (pitch then has none: a voice's usual pitch is unknown from one segment)."""
    if len(features) < OWN_BASELINE_SEGMENTS:
        return NORMS
    scales = {}
    for key in NORMS:
        values = np.array([f[key] for f in features])
        centre = float(np.median(values))
        scales[key] = (centre, max(1.4826 * float(np.median(np.abs(values - centre))), FLOORS[key]))
    return scales


def _estimate(features: dict[str, float] | None, scales: dict, text: str) -> Emotion:
    """Scores for each emotion from arousal (prosody) and cue words, turned into probabilities."""
    z = {key: 0.0 if features is None or scales[key] is None
         else float(np.clip((features[key] - scales[key][0]) / scales[key][1], -3, 3)) for key in NORMS}
    arousal = 0.4 * z["loudness"] + 0.3 * z["spread"] + 0.2 * z["rate"] + 0.2 * z["pitch"]
    arousal += 0.5 * min(text.count("!"), 2)
    cues = _cue_counts(text)
    scores = {
        "NEUTRAL": 1.0 - 0.5 * abs(arousal),
        "HAPPY": 1.2 * cues["HAPPY"] + 0.3 * arousal - 0.5 * (cues["SAD"] + cues["ANGRY"]),
        "ANGRY": 1.2 * cues["ANGRY"] + 0.5 * arousal - 0.5 * cues["HAPPY"],
        "SAD": 1.2 * cues["SAD"] - 0.6 * arousal - 0.3 * cues["HAPPY"],
    }
    total = sum(math.exp(v) for v in scores.values())
    label = max(scores, key=scores.get)
    return Emotion(label, round(math.exp(scores[label]) / total, 3), ESTIMATE_SOURCE)


def _cue_counts(text: str) -> dict[str, int]:
    """Cue words per emotion; a negated happy word ("not happy") counts as sad, other negated cues not at all."""
    counts = dict.fromkeys(CUES, 0)
    said = words(text)
    for i, word in enumerate(said):
        negated = any(w in NEGATIONS for w in said[max(0, i - 2):i])
        for emotion, cue_words in CUES.items():
            if word in cue_words:
                if not negated:
                    counts[emotion] += 1
                elif emotion == "HAPPY":
                    counts["SAD"] += 1
    return counts


# ---------------------------------------------------------------------------
# SenseVoice, where its model is installed
# ---------------------------------------------------------------------------

SENSEVOICE_FILES = ("model.int8.onnx", "tokens.txt")


class SenseVoiceEmotion:
    """SenseVoice-Small through sherpa-onnx: its emotion tag for each segment (no confidence is given)."""

    name = "sensevoice"

    def __init__(self, model_dir: Path | None) -> None:
        reason = sensevoice_unavailable(model_dir)
        if reason:
            raise CastvoiceError(f"SenseVoice is not available: {reason}")
        import sherpa_onnx

        self._recognizer = sherpa_onnx.OfflineRecognizer.from_sense_voice(
            model=str(model_dir / SENSEVOICE_FILES[0]), tokens=str(model_dir / SENSEVOICE_FILES[1]), use_itn=False)

    def classify(self, audio: np.ndarray, segments: list[Segment]) -> list[Emotion]:
        found = []
        for segment in segments:
            stream = self._recognizer.create_stream()
            stream.accept_waveform(ANALYSIS_RATE, audio[round(segment.start * ANALYSIS_RATE):round(segment.end * ANALYSIS_RATE)])
            self._recognizer.decode_stream(stream)
            tag = stream.result.emotion.strip("<|>")
            found.append(Emotion(tag if tag in EMOTIONS else "NEUTRAL", None, f"SenseVoice-Small ({tag})"))
        return found


def sensevoice_unavailable(model_dir: Path | None) -> str | None:
    """Why SenseVoice cannot run here, or None when it can."""
    if importlib.util.find_spec("sherpa_onnx") is None:
        return "the sherpa-onnx package is not installed"
    if model_dir is None or not all((model_dir / f).is_file() for f in SENSEVOICE_FILES):
        return f"no SenseVoice model ({', '.join(SENSEVOICE_FILES)}) in {model_dir or 'a configured folder'}"
    return None


def inline_tags(language: str, emotion: Emotion, text: str) -> str:
    """SenseVoice-style tagged text: `<|en|><|HAPPY|> Hello world.`"""
    return f"<|{language}|><|{emotion.label}|> {text}"
