"""The checks a dataset clip must pass, each with the reason a user reads when it fails: duration,
clipping, another voice over the line, noise under the voice, a voice unlike the character's, and a
re-transcription that misses words at the clip's edges or differs from the text."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass

import numpy as np

from castvoice.media.decode import ANALYSIS_RATE
from castvoice.workspace import Workspace, catalog
from castvoice.workspace.db import fingerprint

FRAME_SECONDS = 0.02
WORD_PAD = 0.03  # frames this close to a word count as speech when estimating the noise
MIN_NOISE_SECONDS = 0.1


@dataclass(frozen=True)
class CheckSettings:
    """When a clip is excluded. Each bound can be relaxed per run (`castvoice clean --help`)."""

    min_duration: float = 1.0
    max_duration: float = 15.0
    merge_gap: float = 0.5  # adjacent short lines of the character closer than this are merged (touching ones always)
    min_snr_db: float = 12.0
    max_clipping: float = 0.001  # fraction of samples at full scale
    max_overlap: float = 0.05  # fraction of the kept words' span during which another voice is active
    min_similarity: float = 0.5  # CAM++ cosine to the character's voice (castvoice.speech.finding.SAME_VOICE)
    max_cer: float = 0.3  # character error rate of a re-transcription against the text
    asr_model: str = "base"


# Checks in the order their reasons are reported: the first that fails names the exclusion. Reasons are
# formatted with the check settings and the clip's scores.
REASONS = {
    "covered": "another voice over every word of the line",
    "trimmed_short": "too short once the other voice is trimmed away ({duration:.1f} s left)",
    "too_short": "shorter than {min_duration:g} s",
    "too_long": "longer than {max_duration:g} s",
    "clipping": "clipped audio",
    "overlap": "another voice over the middle of the line",
    "low_snr": "noise or music under the voice (SNR below {min_snr_db:g} dB)",
    "other_voice": "voice unlike the character's (similarity below {min_similarity:g})",
    "unheard_edge": "re-transcription misses {unheard}",
    "mismatch": "re-transcription differs from the text (CER above {max_cer:g})",
}
QUOTED_WORDS = 5  # words of an unheard edge a reason quotes
EDGE_SLACK = 2  # words heard beyond a word's own place where it may be found
SAME_WORD_LIKENESS = 0.75  # difflib ratio above which a word heard counts as the word said
FEW_VOICE_LINES = 3  # a character voice made of fewer lines is judged against the other characters' too
RIVAL_MARGIN = 0.15  # how much closer to its own character than to any other such a clip must be
MIN_RELATIVE_SIMILARITY = 0.3  # CAM++ cosine under which a clip is unlike every voice, its own included


def failed_check(scores: dict, checks: CheckSettings) -> str | None:
    """The first check the scores fail, as a reason a user reads; None when all pass."""
    short = scores["duration"] < checks.min_duration
    failed = {
        "covered": scores.get("covered", False) and scores["overlap"] > checks.max_overlap,
        "trimmed_short": short and bool(scores.get("trim")),
        "too_short": short,
        "too_long": scores["duration"] > checks.max_duration,
        "clipping": scores["clipping"] > checks.max_clipping,
        "overlap": scores["overlap"] > checks.max_overlap,
        "low_snr": scores["snr_db"] is not None and scores["snr_db"] < checks.min_snr_db,
        "other_voice": unlike_voice(scores, checks.min_similarity),
        "unheard_edge": bool(scores.get("unheard_start") or scores.get("unheard_end")),
        "mismatch": scores["cer"] is not None and scores["cer"] > checks.max_cer,
    }
    first = next((key for key in REASONS if failed[key]), None)
    if first is None:
        return None
    return REASONS[first].format(**asdict(checks), duration=scores["duration"], unheard=_unheard(scores))


def _unheard(scores: dict) -> str:
    """The words a re-transcription misses, as a reason quotes them: “okay then” at its start."""
    edges = [f"“{_quote(scores[key])}” at its {edge}"
             for key, edge in (("unheard_start", "start"), ("unheard_end", "end")) if scores.get(key)]
    return " and ".join(edges)


def _quote(words: str) -> str:
    found = words.split()
    return " ".join(found[:QUOTED_WORDS]) + (" …" if len(found) > QUOTED_WORDS else "")


def source_snr(raw: np.ndarray, rate: int, words: list[tuple[float, float]], steps: list[dict]) -> float | None:
    """The clip's SNR before cleaning: what the denoiser kept against what it removed, or, without a
    denoiser, the words against the pauses (a denoiser can clean loud music away, but a trainer
    then learns its artifacts, so the source is what is judged)."""
    denoised = next((s for s in steps if s["name"] == "denoise" and s.get("snr_db") is not None), None)
    return denoised["snr_db"] if denoised else estimate_snr(raw, rate, words)


def _frame_power(audio: np.ndarray, rate: int) -> np.ndarray:
    """Mean power of consecutive FRAME_SECONDS frames (a last partial frame is left out)."""
    size = max(1, round(FRAME_SECONDS * rate))
    count = len(audio) // size
    return np.mean(audio[: count * size].reshape(count, size).astype(np.float64) ** 2, axis=1)


def removal_snr(kept: np.ndarray, removed: np.ndarray, rate: int) -> float | None:
    """SNR in dB from what a denoiser kept and removed: the kept power of the louder half of the frames
    (the voice) against the median frame of what was removed (the noise under it). A denoiser also takes
    away things that come only with the loudest speech, such as a headset's breath pops and the room's
    colour on a meeting recording; they lie above the median and do not count. None when nothing was removed."""
    voice, residue = _frame_power(kept, rate), _frame_power(removed, rate)
    if len(voice) == 0 or len(residue) == 0:
        return None
    noise = float(np.median(residue))
    if noise <= 0.0:
        return None
    return round(10 * np.log10(max(float(np.mean(voice[voice >= np.median(voice)])), 1e-20) / noise), 2)


def estimate_snr(audio: np.ndarray, rate: int, words: list[tuple[float, float]]) -> float | None:
    """Speech-to-background ratio in dB: power inside the words against the median power of the
    frames between and around them. None when the clip has too little audio outside its words."""
    power = _frame_power(audio, rate)
    count = len(power)
    if count == 0:
        return None
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


def retranscribe(audio: np.ndarray, rate: int, language: str, model: str) -> str:
    """What Whisper hears in a clip."""
    import soxr

    from castvoice.speech.asr import get_asr

    audio16k = soxr.resample(audio, rate, ANALYSIS_RATE).astype(np.float32) if rate != ANALYSIS_RATE else audio
    return get_asr(model).transcribe(audio16k, language=language).text.strip()


def transcript_cer(text: str, heard: str, language: str) -> float | None:
    """Character error rate of a re-transcription against the clip's text (words normalised)."""
    from castvoice.text.metrics import character_error_rate

    cer = character_error_rate(text, heard, language)
    return None if cer is None else round(cer, 3)


def unheard_edges(text: str, heard: str, language: str) -> tuple[list[str], list[str]]:
    """The text's first and last words that a re-transcription does not hear at its start and end.

    Words are compared normalised (numbers spelled out, contractions expanded, fillers dropped) and
    alike words count as heard (`same_word`). Each of the text's words, from the start, is looked for
    among the words heard there (up to EDGE_SLACK further on, as Whisper may add a word or drop a
    repeated one); the words before the first one found are unheard. The same from the end."""
    from castvoice.text.normalize import scoring_words

    said, got = scoring_words(text, language), scoring_words(heard, language)
    at_start = _unheard_lead(said, got)
    if len(at_start) == len(said):
        return said, []
    return at_start, _unheard_lead(said[::-1], got[::-1], backwards=True)[::-1]


def _unheard_lead(said: list[str], got: list[str], backwards: bool = False) -> list[str]:
    """The first words of `said` (of lists read backwards: the last) not heard near the start of `got`."""

    def compound(a: str, b: str) -> str:  # written as one word or two: "username", "user name"
        return b + a if backwards else a + b

    for place, word in enumerate(said):
        near = got[: place + 1 + EDGE_SLACK]
        joined_heard = {compound(a, b) for a, b in zip(near, near[1:])}
        joined_said = {compound(word, following) for following in said[place + 1:place + 2]}
        # Joined forms must match exactly: alike is too loose once a short word is appended ("stuff at"
        # is 83% like "stuff", so "at" would pass as heard).
        if any(same_word(word, other) for other in near) or word in joined_heard or joined_said & set(near):
            return said[:place]
    return said


def same_word(said: str, heard: str) -> bool:
    """Equal, or alike enough to be the word misheard ("oliver" heard as "over", "than" for "then")."""
    return said == heard or difflib.SequenceMatcher(None, said, heard).ratio() >= SAME_WORD_LIKENESS


class VoiceScorer:
    """Similarity of lines to the character's voice: the centroid of the character's line
    embeddings (one pass drops outliers), leaving the scored lines out of it; and to the closest other
    character's voice, for characters with too few lines for the centroid alone to judge."""

    def __init__(self, ws: Workspace, character: str, threshold: float) -> None:
        ids, vectors = catalog.line_embeddings(ws, character)
        self.vectors = {line_id: _unit(vector) for line_id, vector in zip(ids, vectors)}
        self.sum = np.zeros(0)
        self.rivals = np.zeros((0, 0))
        if self.vectors:
            matrix = np.stack(list(self.vectors.values()))
            sims = matrix @ _unit(matrix.sum(axis=0))
            self.members = {k for k, s in zip(self.vectors, sims) if s >= threshold} or set(self.vectors)
            self.sum = np.sum([self.vectors[k] for k in self.members], axis=0)
            self.rivals = _other_characters(ws, character)
        self.version = fingerprint(sorted(self.vectors), float(self.sum.sum()) if self.sum.size else 0.0,
                                   float(self.rivals.sum()))

    def scores(self, line_ids: list[int]) -> dict:
        """similarity: cosine to the character's voice (None when there is nothing to compare with);
        voice_lines: how many of the character's other lines that voice is made of; rival_similarity:
        cosine to the closest other character's voice (absent when there is none)."""
        present = [i for i in line_ids if i in self.vectors]
        if not present or len(self.vectors) < 2:
            return {"similarity": None}
        own = _unit(np.sum([self.vectors[i] for i in present], axis=0))
        rest = self.sum - sum(self.vectors[i] for i in present if i in self.members)
        if not np.any(rest):
            return {"similarity": None}
        found = {"similarity": round(float(own @ _unit(rest)), 3),
                 "voice_lines": len(self.members - set(present))}
        if len(self.rivals):
            found["rival_similarity"] = round(float(np.max(self.rivals @ own)), 3)
        return found


def _other_characters(ws: Workspace, character: str) -> np.ndarray:
    """One unit centroid (row) of line embeddings per other named character."""
    named = {line.id: line.character for line in catalog.lines_of(ws, None)
             if line.character and line.character.casefold() != character.casefold()}
    ids, vectors = catalog.line_embeddings(ws)
    groups: dict[str, list[np.ndarray]] = {}
    for line_id, vector in zip(ids, vectors):
        if line_id in named:
            groups.setdefault(named[line_id], []).append(_unit(vector))
    return np.stack([_unit(np.sum(group, axis=0)) for group in groups.values()]) if groups else np.zeros((0, 0))


def unlike_voice(scores: dict, min_similarity: float) -> bool:
    """Whether a clip's voice is unlike its character's. A voice made of fewer than FEW_VOICE_LINES
    short lines is too unsteady for the bound alone (two lines of one person on a meeting recording
    often score 0.4-0.5): there a clip clearly closer to its character than to any other passes."""
    own = scores.get("similarity")
    if own is None or own >= min_similarity:
        return False
    rival, support = scores.get("rival_similarity"), scores.get("voice_lines")
    return not (support is not None and support < FEW_VOICE_LINES and rival is not None
                and own >= max(rival + RIVAL_MARGIN, MIN_RELATIVE_SIMILARITY))


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-9)
