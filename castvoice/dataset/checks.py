"""The checks a dataset clip must pass, each with the reason a user reads when it fails: duration,
clipping, another voice over the line, noise under the voice, a voice unlike the character's, and a
re-transcription that differs from the text."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from castvoice.media.decode import ANALYSIS_RATE
from castvoice.workspace import Workspace, catalog
from castvoice.workspace.catalog import LineRecord
from castvoice.workspace.db import fingerprint

FRAME_SECONDS = 0.02
WORD_PAD = 0.03  # frames this close to a word count as speech when estimating the noise
MIN_NOISE_SECONDS = 0.1
EDGE_COLLAR = 0.2


@dataclass(frozen=True)
class CheckSettings:
    """When a clip is excluded. Each bound can be relaxed per run (`castvoice clean --help`)."""

    min_duration: float = 1.0
    max_duration: float = 15.0
    merge_gap: float = 0.5  # adjacent short lines of the character closer than this are merged
    min_snr_db: float = 12.0
    max_clipping: float = 0.001  # fraction of samples at full scale
    max_overlap: float = 0.05  # fraction of the line during which another voice is active
    min_similarity: float = 0.5  # CAM++ cosine to the character's voice (castvoice.speech.finding.SAME_VOICE)
    max_cer: float = 0.3  # character error rate of a re-transcription against the text
    asr_model: str = "base"


# Checks in the order their reasons are reported: the first that fails names the exclusion.
REASONS = {
    "too_short": "shorter than {min_duration:g} s",
    "too_long": "longer than {max_duration:g} s",
    "clipping": "clipped audio",
    "overlap": "another voice over the line",
    "low_snr": "noise or music under the voice (SNR below {min_snr_db:g} dB)",
    "other_voice": "voice unlike the character's (similarity below {min_similarity:g})",
    "mismatch": "re-transcription differs from the text (CER above {max_cer:g})",
}


def failed_check(scores: dict, checks: CheckSettings) -> str | None:
    """The first check the scores fail, as a reason a user reads; None when all pass."""
    failed = {
        "too_short": scores["duration"] < checks.min_duration,
        "too_long": scores["duration"] > checks.max_duration,
        "clipping": scores["clipping"] > checks.max_clipping,
        "overlap": scores["overlap"] > checks.max_overlap,
        "low_snr": scores["snr_db"] is not None and scores["snr_db"] < checks.min_snr_db,
        "other_voice": scores["similarity"] is not None and scores["similarity"] < checks.min_similarity,
        "mismatch": scores["cer"] is not None and scores["cer"] > checks.max_cer,
    }
    first = next((key for key in REASONS if failed[key]), None)
    return REASONS[first].format(**asdict(checks)) if first else None


def overlap_fraction(ws: Workspace, group: list[LineRecord]) -> float:
    """How much of the lines' time another voice is active: another line, or a diarized turn of
    another speaker. The first and last EDGE_COLLAR seconds of each line are not scored: turn
    boundaries are that uncertain (as in DER scoring)."""
    own_ids = [line.id for line in group]
    spans = [(line.start + EDGE_COLLAR, line.end - EDGE_COLLAR) for line in group]
    spans = [(a, b) for a, b in spans if b > a]
    total = sum(b - a for a, b in spans)
    if total <= 0:
        return 0.0
    busy = catalog.other_voices(ws, own_ids, spans[0][0], spans[-1][1])
    return round(sum(_intersection(span, busy) for span in spans) / total, 3)


def _intersection(span: tuple[float, float], others: list[tuple[float, float]]) -> float:
    """Seconds of `span` covered by the union of `others`."""
    clipped = sorted((max(span[0], s), min(span[1], e)) for s, e in others if e > span[0] and s < span[1])
    covered, reach = 0.0, span[0]
    for s, e in clipped:
        if e > reach:
            covered += e - max(s, reach)
            reach = e
    return covered


def source_snr(raw: np.ndarray, rate: int, words: list[tuple[float, float]], steps: list[dict]) -> float | None:
    """The clip's SNR before cleaning: what the denoiser kept against what it removed, or, without a
    denoiser, the words against the pauses (a denoiser can clean loud music away, but a trainer
    then learns its artifacts, so the source is what is judged)."""
    denoised = next((s for s in steps if s["name"] == "denoise" and s.get("snr_db") is not None), None)
    return denoised["snr_db"] if denoised else estimate_snr(raw, rate, words)


def estimate_snr(audio: np.ndarray, rate: int, words: list[tuple[float, float]]) -> float | None:
    """Speech-to-background ratio in dB: power inside the words against the median power of the
    frames between and around them. None when the clip has too little audio outside its words."""
    size = max(1, round(FRAME_SECONDS * rate))
    count = len(audio) // size
    if count == 0:
        return None
    power = np.mean(audio[: count * size].reshape(count, size).astype(np.float64) ** 2, axis=1)
    centres = (np.arange(count) + 0.5) * FRAME_SECONDS
    in_word = np.zeros(count, bool)
    near_word = np.zeros(count, bool)
    for a, b in words:
        in_word |= (centres >= a) & (centres <= b)
        near_word |= (centres >= a - WORD_PAD) & (centres <= b + WORD_PAD)
    background = power[~near_word]
    if len(background) * FRAME_SECONDS < MIN_NOISE_SECONDS or not in_word.any():
        return None
    noise = max(float(np.median(background)), 1e-12)
    speech = float(np.mean(power[in_word]))
    return round(10 * np.log10(max(speech - noise, 1e-12) / noise), 1)


def transcript_cer(audio: np.ndarray, rate: int, text: str, language: str, model: str) -> float | None:
    """Character error rate of a re-transcription of the clip against its text (words normalised)."""
    import soxr

    from castvoice.speech.asr import get_asr
    from castvoice.text.metrics import character_error_rate

    audio16k = soxr.resample(audio, rate, ANALYSIS_RATE).astype(np.float32) if rate != ANALYSIS_RATE else audio
    cer = character_error_rate(text, get_asr(model).transcribe(audio16k, language=language).text, language)
    return None if cer is None else round(cer, 3)


class VoiceScorer:
    """Similarity of lines to the character's voice: the centroid of the character's line
    embeddings (one pass drops outliers), leaving the scored lines out of it."""

    def __init__(self, ws: Workspace, character: str, threshold: float) -> None:
        ids, vectors = catalog.line_embeddings(ws, character)
        self.vectors = {line_id: _unit(vector) for line_id, vector in zip(ids, vectors)}
        self.sum = np.zeros(0)
        if self.vectors:
            matrix = np.stack(list(self.vectors.values()))
            sims = matrix @ _unit(matrix.sum(axis=0))
            self.members = {k for k, s in zip(self.vectors, sims) if s >= threshold} or set(self.vectors)
            self.sum = np.sum([self.vectors[k] for k in self.members], axis=0)
        self.version = fingerprint(sorted(self.vectors), float(self.sum.sum()) if self.sum.size else 0.0)

    def similarity(self, line_ids: list[int]) -> float | None:
        present = [i for i in line_ids if i in self.vectors]
        if not present or len(self.vectors) < 2:
            return None
        own = _unit(np.sum([self.vectors[i] for i in present], axis=0))
        rest = self.sum - sum(self.vectors[i] for i in present if i in self.members)
        if not np.any(rest):
            return None
        return round(float(own @ _unit(rest)), 3)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-9)
