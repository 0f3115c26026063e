"""Reference speech for zero-shot cloning: the character's cleanest, most typical 3-10 s sentences, or, where
those are too few, short kept clips joined into pieces of 3 s or more."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from castvoice.dataset.types import DatasetClip
from castvoice.errors import CastvoiceError

MIN_SECONDS = 3.0
MAX_SECONDS = 10.0
MIN_CLEAN_SPEECH_SECONDS = MIN_SECONDS  # kept speech a character needs for a voice
JOIN_GAP_SECONDS = 0.25  # silence between the clips of a joined reference

Features = tuple[float | None, float | None]  # a clip's median pitch and loudness before cleaning
CentreSpread = tuple[float | None, float]  # a median and its spread


@dataclass
class Reference:
    clips: list[DatasetClip]  # one clip, or several shorter ones joined in film order
    score: float
    pitch_hz: float | None  # median pitch of the voiced frames
    typicality: float  # distance from the character's median pitch and loudness, in spreads (0 = typical)
    complete: bool  # the text is whole sentences
    scores: dict[str, float | None]  # the clip's check scores; for joined clips, their means weighted by duration

    @property
    def joined(self) -> bool:
        return len(self.clips) > 1

    @property
    def id(self) -> str:
        return "+".join(c.id for c in self.clips)

    @property
    def duration(self) -> float:
        return joined_duration(self.clips)

    @property
    def text(self) -> str:
        return " ".join(c.text for c in self.clips)

    def audio(self) -> np.ndarray:
        """The reference as 16 kHz mono: its clips with JOIN_GAP_SECONDS of silence between them."""
        from castvoice.media.decode import ANALYSIS_RATE, load_audio

        gap = np.zeros(round(JOIN_GAP_SECONDS * ANALYSIS_RATE), np.float32)
        parts = [load_audio(self.clips[0].audio_file)]
        for clip in self.clips[1:]:
            parts += [gap, load_audio(clip.audio_file)]
        return np.concatenate(parts)


def joined_duration(clips: list[DatasetClip]) -> float:
    """Seconds of `clips` joined, the silences between them included."""
    return sum(c.duration for c in clips) + JOIN_GAP_SECONDS * (len(clips) - 1)


def require_clean_speech(clips: list[DatasetClip], name: str) -> None:
    """Refuse a character whose kept clips hold less than MIN_CLEAN_SPEECH_SECONDS of speech, saying how much
    they hold and how much was excluded."""
    kept = sum(c.duration for c in clips if c.kept)
    if kept >= MIN_CLEAN_SPEECH_SECONDS:
        return
    character = clips[0].character if clips else name
    excluded = [c for c in clips if not c.kept]
    also = (f" ({len(excluded)} more clip{'s' * (len(excluded) != 1)}, {sum(c.duration for c in excluded):.1f} s, "
            "excluded)") if excluded else ""
    found = np.floor(kept * 10 + 1e-6) / 10  # rounded down, so 2.96 s does not read as the 3 s needed
    raise CastvoiceError(f"{character} has {found:.1f} s of clean speech in kept clips{also}; a voice needs at least "
                         f"{MIN_CLEAN_SPEECH_SECONDS:g} s (see `castvoice review {character}`)")


def pick_references(clips: list[DatasetClip], count: int = 5) -> list[Reference]:
    """Up to `count` references, best first: the kept 3-10 s clips, ranked; then, while there are fewer than
    `count`, the best-ranked shorter kept clips joined (in film order) into pieces of at least 3 s; then the
    longer ones.

    Score: speaker similarity, plus 0.01 per dB of SNR up to 30 dB, minus the re-transcription CER,
    minus 0.1 per spread of pitch or loudness away from the character's median, minus 0.2 for text
    that is not whole sentences.
    """
    kept = [c for c in clips if c.kept]
    features = {c.id: (_median_pitch(c), c.scores.get("loudness_before")) for c in kept}
    centres = (_centre_spread([p for p, _ in features.values()]), _centre_spread([v for _, v in features.values()]))

    def rated(group: list[DatasetClip]) -> Reference:
        return _rated(group, [features[c.id] for c in group], *centres)

    singles = sorted((rated([clip]) for clip in kept), key=lambda r: -r.score)
    whole = [r for r in singles if MIN_SECONDS <= r.duration <= MAX_SECONDS]
    groups = _join_short([r.clips[0] for r in singles if r.duration < MIN_SECONDS], count - len(whole))
    joined = sorted(map(rated, groups), key=lambda r: -r.score)
    longer = [r for r in singles if r.duration > MAX_SECONDS]  # a last resort: a voice from them beats none
    return (whole + joined + longer)[:count]


def _join_short(ranked: list[DatasetClip], wanted: int) -> list[list[DatasetClip]]:
    """Up to `wanted` groups of the short clips, taken best first, each just long enough to be a reference
    with the silences between its clips; each group in film order."""
    groups: list[list[DatasetClip]] = []
    group: list[DatasetClip] = []
    for clip in ranked:
        if len(groups) >= wanted:
            break
        group.append(clip)
        if joined_duration(group) >= MIN_SECONDS:
            groups.append(sorted(group, key=lambda c: c.start))
            group = []
    return groups


def _rated(clips: list[DatasetClip], features: list[Features], pitch_centre: CentreSpread,
           loudness_centre: CentreSpread) -> Reference:
    """A reference of `clips` (their pitch and loudness in `features`), scored against the character's medians."""
    pitch = _median([p for p, _ in features])
    loudness = _median([v for _, v in features])
    typicality = sum(
        abs(value - centre) / spread
        for value, (centre, spread) in ((pitch, pitch_centre), (loudness, loudness_centre))
        if value is not None and centre is not None
    )
    complete = all(is_complete_sentence(c.text) for c in clips)
    scores = _weighted_scores(clips)
    score = (
        (scores.get("similarity") or 0.0)
        + 0.01 * min(scores.get("snr_db") or 0.0, 30.0)
        - (scores.get("cer") or 0.0)
        - 0.1 * typicality
        - (0.0 if complete else 0.2)
    )
    return Reference(clips, round(score, 3), pitch and round(pitch, 1), round(typicality, 2), complete, scores)


def _weighted_scores(clips: list[DatasetClip]) -> dict[str, float | None]:
    """One clip's scores, or each figure's mean over several clips weighted by their durations (what is not a
    figure, such as the words heard, is left out)."""
    if len(clips) == 1:
        return clips[0].scores
    means: dict[str, float | None] = {}
    for key in dict.fromkeys(k for c in clips for k, v in c.scores.items() if isinstance(v, (int, float))):
        present = [(c.scores[key], c.duration) for c in clips if isinstance(c.scores.get(key), (int, float))]
        weight = sum(d for _, d in present)
        means[key] = round(sum(v * d for v, d in present) / weight, 3) if present and weight > 0 else None
    return means


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


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.median(present)) if present else None


def _centre_spread(values: list[float | None]) -> tuple[float | None, float]:
    """Median and median absolute deviation (at least a small floor, so one clip is not infinitely odd)."""
    centre = _median(values)
    if centre is None:
        return None, 1.0
    present = np.array([v for v in values if v is not None], dtype=float)
    return centre, max(float(np.median(np.abs(present - centre))), 1e-3 * max(abs(centre), 1.0))
