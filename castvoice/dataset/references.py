"""Reference clips for zero-shot cloning: the character's cleanest, most typical 3-10 s sentences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from castvoice.dataset.types import DatasetClip

MIN_SECONDS = 3.0
MAX_SECONDS = 10.0


@dataclass
class Reference:
    clip: DatasetClip
    score: float
    pitch_hz: float | None  # median pitch of the voiced frames
    typicality: float  # distance from the character's median pitch and loudness, in spreads (0 = typical)
    complete: bool  # the text is whole sentences


def pick_references(clips: list[DatasetClip], count: int = 5) -> list[Reference]:
    """Rank the kept 3-10 s clips, best first, and return up to `count`.

    Score: speaker similarity, plus 0.01 per dB of SNR up to 30 dB, minus the re-transcription CER,
    minus 0.1 per spread of pitch or loudness away from the character's median, minus 0.2 for text
    that is not whole sentences.
    """
    kept = [c for c in clips if c.kept]
    features = {c.id: (_median_pitch(c), c.scores.get("loudness_before")) for c in kept}
    pitch_centre, pitch_spread = _centre_spread([p for p, _ in features.values()])
    loud_centre, loud_spread = _centre_spread([v for _, v in features.values()])
    ranked = []
    for clip in kept:
        if not MIN_SECONDS <= clip.duration <= MAX_SECONDS:
            continue
        pitch, loudness = features[clip.id]
        typicality = sum(
            abs(value - centre) / spread
            for value, centre, spread in ((pitch, pitch_centre, pitch_spread), (loudness, loud_centre, loud_spread))
            if value is not None and centre is not None
        )
        complete = is_complete_sentence(clip.text)
        scores = clip.scores
        score = (
            (scores.get("similarity") or 0.0)
            + 0.01 * min(scores.get("snr_db") or 0.0, 30.0)
            - (scores.get("cer") or 0.0)
            - 0.1 * typicality
            - (0.0 if complete else 0.2)
        )
        ranked.append(Reference(clip, round(score, 3), pitch and round(pitch, 1), round(typicality, 2), complete))
    ranked.sort(key=lambda r: -r.score)
    return ranked[:count]


def is_complete_sentence(text: str) -> bool:
    """Starts with a capital (or a digit or quote) and ends with sentence punctuation."""
    text = text.strip().strip("\"'“”‘’")
    return bool(text) and (text[0].isupper() or text[0].isdigit()) and text[-1] in ".!?…"


def _median_pitch(clip: DatasetClip) -> float | None:
    """The clip's median pitch (Hz) over its voiced frames; None when nothing is voiced."""
    import soundfile as sf
    import soxr

    from castvoice.media.decode import ANALYSIS_RATE
    from castvoice.media.pitch import median_pitch

    audio, rate = sf.read(clip.audio_file, dtype="float32")
    return median_pitch(soxr.resample(audio, rate, ANALYSIS_RATE) if rate != ANALYSIS_RATE else audio)


def _centre_spread(values: list[float | None]) -> tuple[float | None, float]:
    """Median and median absolute deviation (at least a small floor, so one clip is not infinitely odd)."""
    present = np.array([v for v in values if v is not None], dtype=float)
    if not len(present):
        return None, 1.0
    centre = float(np.median(present))
    return centre, max(float(np.median(np.abs(present - centre))), 1e-3 * max(abs(centre), 1.0))
