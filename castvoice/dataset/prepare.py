"""A character's dataset clips: cut each line (short neighbours merged), clean it, score it, and
keep or exclude it with a reason. Every clip is committed on its own, so a killed run resumes."""

from __future__ import annotations

import hashlib
import json
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from castvoice.atomic import atomic_path
from castvoice.console import log
from castvoice.dataset.clean import Cleaned, CleanSettings, clean_many
from castvoice.dataset.types import DatasetClip
from castvoice.errors import CastvoiceError
from castvoice.media.cut import plan_cuts
from castvoice.spans import Span
from castvoice.media.decode import ANALYSIS_RATE
from castvoice.text.normalize import scoring_words, slug, spoken_text
from castvoice.progress import track
from castvoice.workspace import Workspace, catalog, db, records
from castvoice.workspace.catalog import LineRecord, all_lines, lines_of, media_duration

PREPARE_VERSION = "1"
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


@dataclass
class PrepareSettings:
    clean: CleanSettings = field(default_factory=CleanSettings)
    checks: CheckSettings = field(default_factory=CheckSettings)

    def to_json(self) -> str:
        return json.dumps({"clean": asdict(self.clean), "checks": asdict(self.checks)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PrepareSettings:
        data = json.loads(text)
        return cls(CleanSettings(**data["clean"]), CheckSettings(**data["checks"]))


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


def settings_key(character: str) -> str:
    return f"dataset:{slug(character)}"


def stored_settings(ws: Workspace, character: str) -> PrepareSettings | None:
    text = db.get_setting(ws.conn, settings_key(character))
    return PrepareSettings.from_json(text) if text else None


def prepare(ws: Workspace, name: str, settings: PrepareSettings | None = None) -> list[DatasetClip]:
    """Build (or bring up to date) a character's clips; settings default to the last used, else defaults."""
    lines = lines_of(ws, name)
    if not lines:
        raise CastvoiceError(f"{name!r} has no lines to build a dataset from", ws.root)
    character = lines[0].character
    settings = settings or stored_settings(ws, character) or PrepareSettings()
    language = db.get_setting(ws.conn, "language") or "en"
    groups = merge_short_lines(lines, settings.checks, ws)
    cuts = _group_cuts(ws, groups)
    words = catalog.words_by_line(ws)
    folder = ws.clips_dir(character)
    folder.mkdir(parents=True, exist_ok=True)
    voices = _VoiceScorer(ws, character, settings.checks.min_similarity)
    existing = catalog.clip_fingerprints(ws, character)
    labels, todo = [], []
    for group, cut in zip(groups, cuts):
        label = f"{slug(character)}_{group[0].id:05d}"
        labels.append(label)
        # Without alignment, a line's own span stands for its words.
        group_words = [w for line in group for w in words.get(line.id, [(line.start, line.end)])]
        # Thresholds are left out: changing one only re-judges the stored scores, below.
        fingerprint = _digest(PREPARE_VERSION, asdict(settings.clean), settings.checks.asr_model, language,
                              cut.start, cut.end, [(ln.id, ln.text, ln.start, ln.end) for ln in group],
                              group_words, voices.version)
        if existing.get(label) != fingerprint or not (folder / f"{label}.flac").is_file():
            todo.append(_Pending(label, group, cut, group_words, fingerprint))
    reused = len(groups) - len(todo)
    with track(f"cleaning and checking {character}", total=len(groups), done=reused) as progress:
        sources: deque = deque()  # source audio of the clips handed to the cleaners, read once

        def cleaner_jobs():
            for pending in todo:
                sources.append(_source_audio(ws, pending))
                yield sources[-1]

        for pending, cleaned in zip(todo, clean_many(cleaner_jobs(), settings.clean)):
            clip, steps = _finish_clip(ws, pending, sources.popleft(), cleaned, language, settings, voices, folder)
            with ws.transaction() as conn:
                records.store_clip(conn, clip, steps, [ln.id for ln in pending.group], pending.fingerprint, ws.root)
            progress.advance()
    with ws.transaction() as conn:
        stale = sorted(set(existing) - set(labels))
        records.delete_clips(conn, stale)
        records.set_clip_reasons(conn, {label: failed_check(scores, settings.checks)
                                        for label, scores in catalog.clip_scores(ws, character).items()})
        db.set_setting(conn, settings_key(character), settings.to_json())
    for label in stale:
        (folder / f"{label}.flac").unlink(missing_ok=True)
    log.info("%s: %d clips up to date, %d built", character, reused, len(groups) - reused)
    return catalog.clips_of(ws, character)


def merge_short_lines(lines: list[LineRecord], checks: CheckSettings, ws: Workspace) -> list[list[LineRecord]]:
    """Group a character's lines: a line shorter than the minimum joins its neighbour when nobody
    speaks between them, the gap is under `merge_gap` and the result stays within the maximum."""
    order = {line_id: i for i, (line_id, _, _) in enumerate(all_lines(ws))}
    groups: list[list[LineRecord]] = []
    for line in lines:
        if groups:
            last = groups[-1]
            adjacent = order[line.id] == order[last[-1].id] + 1
            short = min(line.end - line.start, last[-1].end - last[0].start) < checks.min_duration
            fits = line.end - last[0].start <= checks.max_duration
            if adjacent and short and fits and line.start - last[-1].end < checks.merge_gap:
                last.append(line)
                continue
        groups.append([line])
    return groups


def _group_cuts(ws: Workspace, groups: list[list[LineRecord]]) -> list[Span]:
    spans = all_lines(ws)
    index = {line_id: i for i, (line_id, _, _) in enumerate(spans)}
    wanted = sorted({index[line.id] for group in groups for line in group})
    cuts = plan_cuts([Span(s, e) for _, s, e in spans], ws.analysis_audio, media_duration(ws), wanted)
    return [Span(cuts[index[g[0].id]].start, cuts[index[g[-1].id]].end) for g in groups]


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:20]


@dataclass
class _Pending:
    """A clip to build: its lines, where it is cut, and the words in movie seconds."""

    label: str
    group: list[LineRecord]
    cut: Span
    words: list[tuple[float, float]]
    fingerprint: str

    @property
    def relative_words(self) -> list[tuple[float, float]]:
        return [(max(0.0, a - self.cut.start), max(0.0, b - self.cut.start)) for a, b in self.words]


def _source_audio(ws: Workspace, pending: _Pending) -> tuple[np.ndarray, int, list[tuple[float, float]]]:
    """The source audio of a pending clip's cut, its rate, and the words relative to the cut."""
    import soundfile as sf

    with sf.SoundFile(ws.source_audio) as source:
        rate = source.samplerate
        source.seek(max(0, round(pending.cut.start * rate)))
        raw = source.read(max(1, round((pending.cut.end - pending.cut.start) * rate)), dtype="float32")
    return raw, rate, pending.relative_words


def _finish_clip(ws: Workspace, pending: _Pending, source: tuple[np.ndarray, int, list[tuple[float, float]]],
                 cleaned: Cleaned, language: str, settings: PrepareSettings, voices: _VoiceScorer, folder: Path
                 ) -> tuple[DatasetClip, list[dict]]:
    """Write a cleaned clip and score it against its source; returns it with the cleaning steps taken."""
    import soundfile as sf

    raw, rate, relative = source
    group = pending.group
    file = folder / f"{pending.label}.flac"
    with atomic_path(file) as tmp:
        sf.write(tmp, cleaned.audio, cleaned.rate, subtype="PCM_24", format="FLAC")
    text = " ".join(line.text for line in group)
    scores = {
        "duration": round(len(cleaned.audio) / cleaned.rate, 3),
        "clipping": round(float(np.mean(np.abs(raw) >= 0.999)), 5),
        "overlap": overlap_fraction(ws, group),
        "snr_db": source_snr(raw, rate, relative, cleaned.steps),
        "similarity": voices.similarity([line.id for line in group]),
        "cer": transcript_cer(cleaned.audio, cleaned.rate, text, language, settings.checks.asr_model),
        "loudness_before": next((s.get("lufs_before") for s in cleaned.steps if s["name"] == "loudness"), None),
    }
    reason = failed_check(scores, settings.checks)
    start = round(pending.cut.start + cleaned.offset, 3)
    clip = DatasetClip(pending.label, group[0].id, group[0].character, start, round(start + scores["duration"], 3),
                       text, spoken_text(text, language), language, file, reason is None, reason, scores)
    return clip, cleaned.steps


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
    import jiwer
    import soxr

    from castvoice.speech.asr import get_asr

    expected = " ".join(scoring_words(text))
    if not expected:
        return None
    audio16k = soxr.resample(audio, rate, ANALYSIS_RATE).astype(np.float32) if rate != ANALYSIS_RATE else audio
    heard = " ".join(scoring_words(get_asr(model).transcribe(audio16k, language=language).text))
    return round(min(1.0, float(jiwer.cer(expected, heard))), 3)


class _VoiceScorer:
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
        self.version = _digest(sorted(self.vectors), float(self.sum.sum()) if self.sum.size else 0.0)

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


def set_override(ws: Workspace, label: str, decision: str) -> DatasetClip:
    """Include or exclude a clip by hand, whatever its checks say; returns the clip."""
    character = catalog.clip_character(ws, label)
    if character is None:
        raise CastvoiceError(f"no clip {label!r}; `castvoice review NAME` lists them", ws.root)
    with ws.transaction() as conn:
        records.set_override(conn, label, decision)
    log.info("clip %s: %sd by hand", label, decision)
    return next(c for c in catalog.clips_of(ws, character) if c.id == label)
