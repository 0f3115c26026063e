"""A character's dataset clips: cut each line (short neighbours merged) clear of other voices, clean it,
score it, and keep or exclude it with a reason. Every clip is committed on its own, so a killed run
resumes."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from itertools import groupby
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from castvoice.atomic import atomic_path
from castvoice.console import log
from castvoice.dataset.checks import (CheckSettings, VoiceScorer, failed_check, retranscribe, source_snr,
                                      transcript_cer, unheard_edges)
from castvoice.dataset.enhance import Enhanced, EnhanceSettings, enhance, enhance_many
from castvoice.dataset.salvage import Salvaged, drop_unheard, salvage
from castvoice.dataset.types import DatasetClip
from castvoice.errors import CastvoiceError
from castvoice.media.cut import REACH, TOUCHING, quiet_edge
from castvoice.spans import Span
from castvoice.text.normalize import slug, spoken_text
from castvoice.progress import track
from castvoice.workspace import Workspace, catalog, db, records
from castvoice.workspace.catalog import LineRecord, all_lines, lines_of, media_duration

CLEAN_VERSION = "4"


@dataclass
class CleanSettings:
    clean: EnhanceSettings = field(default_factory=EnhanceSettings)
    checks: CheckSettings = field(default_factory=CheckSettings)

    def to_json(self) -> str:
        return json.dumps({"clean": asdict(self.clean), "checks": asdict(self.checks)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CleanSettings:
        data = json.loads(text)
        return cls(EnhanceSettings(**data["clean"]), CheckSettings(**data["checks"]))


def settings_key(character: str) -> str:
    return f"dataset:{slug(character)}"


def stored_settings(ws: Workspace, character: str) -> CleanSettings | None:
    text = db.get_setting(ws.conn, settings_key(character))
    return CleanSettings.from_json(text) if text else None


@dataclass
class _Plan:
    """What bringing a character's clips up to date takes."""

    character: str
    settings: CleanSettings
    language: str
    folder: Path
    voices: VoiceScorer
    labels: list[str]  # every clip, in film order
    todo: list[_Pending]  # clips to build
    stale: list[str]  # clips whose lines are gone

    @property
    def up_to_date(self) -> bool:
        return not self.todo and not self.stale


def _plan(ws: Workspace, name: str, settings: CleanSettings | None) -> _Plan:
    lines = lines_of(ws, name)
    if not lines:
        raise CastvoiceError(f"{name!r} has no lines to build a dataset from", ws.root)
    character = lines[0].character
    settings = settings or stored_settings(ws, character) or CleanSettings()
    language = catalog.film_setting(ws.for_film(lines[0].film_id), "language") or db.get_setting(
        ws.conn, "language") or "en"
    words = catalog.words_by_line(ws)
    folder = ws.clips_dir(character)
    voices = VoiceScorer(ws, character, settings.checks.min_similarity)
    existing = catalog.clip_fingerprints(ws, character)
    labels, todo = [], []
    for film, group in _groups_by_film(ws, lines, settings.checks):
        label = f"{slug(character)}_{group[0].id:05d}"
        labels.append(label)
        busy = catalog.other_voices(film, [line.id for line in group], group[0].start - 2 * REACH,
                                    group[-1].end + 2 * REACH)
        kept = salvage(group, words, busy, media_duration(film))
        cut = _cut(film, kept)
        # Thresholds are left out: changing one only re-judges the stored scores, below.
        fingerprint = db.fingerprint(CLEAN_VERSION, asdict(settings.clean), settings.checks.asr_model, language,
                              cut.start, cut.end, [(ln.id, ln.text, ln.start, ln.end) for ln in group],
                              asdict(kept), voices.version)
        if existing.get(label) != fingerprint or not (folder / f"{label}.flac").is_file():
            todo.append(_Pending(label, group, cut, kept, fingerprint, busy, film))
    return _Plan(character, settings, language, folder, voices, labels, todo, sorted(set(existing) - set(labels)))


def _groups_by_film(ws: Workspace, lines: list[LineRecord],
                    checks: CheckSettings) -> Iterator[tuple[Workspace, list[LineRecord]]]:
    """A character's lines grouped into clips film by film (a clip never spans two films), each with the
    workspace seen from its film."""
    for film_id, film_lines in groupby(lines, key=lambda line: line.film_id):
        film = ws.for_film(film_id)
        for group in group_lines(list(film_lines), checks, film):
            yield film, group


def built_clips(ws: Workspace, name: str) -> list[DatasetClip]:
    """A character's clips as last built, provided they are up to date: for a read-only workspace, where
    `clean_clips` cannot run. (Built with the settings last used, nothing needs re-judging.)"""
    plan = _plan(ws, name, None)
    if not plan.up_to_date:
        raise CastvoiceError(f"{plan.character}'s clips need building first, which writes to the workspace, and "
                             "it is read-only; make it writable or work on a copy", ws.root)
    return catalog.clips_of(ws, plan.character)


def clean_clips(ws: Workspace, name: str, settings: CleanSettings | None = None) -> list[DatasetClip]:
    """Build (or bring up to date) a character's clips; settings default to the last used, else defaults."""
    import soundfile as sf

    plan = _plan(ws, name, settings)
    character, settings, folder = plan.character, plan.settings, plan.folder
    folder.mkdir(parents=True, exist_ok=True)
    reused = len(plan.labels) - len(plan.todo)
    with track(f"cleaning and checking {character}", total=len(plan.labels), done=reused) as progress:
        sources: deque = deque()  # source audio of the clips handed to the cleaners, read once

        def cleaner_jobs():
            for pending in plan.todo:
                sources.append(_source_audio(pending))
                yield sources[-1]

        for pending, cleaned in zip(plan.todo, enhance_many(cleaner_jobs(), settings.clean)):
            clip = _scored_clip(pending, sources.popleft(), cleaned, plan)
            if (recut := _without_unheard_edges(pending, clip, plan)) is not None:
                raw, rate, words = source = _source_audio(recut)
                cleaned_again = enhance(raw, rate, settings.clean, words)
                second = _scored_clip(recut, source, cleaned_again, plan)
                if not _unheard(second):  # else the first cut stands, with what it missed as its reason
                    clip, cleaned = second, cleaned_again
            with atomic_path(clip.audio_file) as tmp:
                sf.write(tmp, cleaned.audio, cleaned.rate, subtype="PCM_24", format="FLAC")
            with ws.transaction() as conn:
                records.store_clip(conn, clip, cleaned.steps, [ln.id for ln in pending.group], pending.fingerprint, ws.root)
            progress.advance()
    with ws.transaction() as conn:
        records.delete_clips(conn, plan.stale)
        records.set_clip_reasons(conn, {label: failed_check(scores, settings.checks)
                                        for label, scores in catalog.clip_scores(ws, character).items()})
        db.set_setting(conn, settings_key(character), settings.to_json())
    for label in plan.stale:
        (folder / f"{label}.flac").unlink(missing_ok=True)
    log.info("%s: %d clips up to date, %d built", character, reused, len(plan.labels) - reused)
    return catalog.clips_of(ws, character)


def _cut(ws: Workspace, kept: Salvaged) -> Span:
    """Where a clip holding `kept` is cut: at quiet points between its words and the room around them."""
    return Span(quiet_edge(ws.analysis_audio, kept.speech.start, kept.room.start),
                quiet_edge(ws.analysis_audio, kept.speech.end, kept.room.end))


def _without_unheard_edges(pending: _Pending, clip: DatasetClip, plan: _Plan) -> _Pending | None:
    """The clip cut again without the words its re-transcription missed at its start or end, when some
    are missed and the words heard still make a clip long enough; None otherwise (the clip stands, and
    its check says what was missed)."""
    if not _unheard(clip):
        return None
    missed = [len(clip.scores.get(key, "").split()) for key in ("unheard_start", "unheard_end")]
    kept = drop_unheard(pending.kept, *missed, pending.busy, plan.language)
    if kept is None or kept.speech.duration < plan.settings.checks.min_duration:
        return None
    return _Pending(pending.label, pending.group, _cut(pending.film, kept), kept, pending.fingerprint, pending.busy,
                    pending.film)


def _unheard(clip: DatasetClip) -> bool:
    """Whether the clip's re-transcription misses words at its start or end."""
    return bool(clip.scores.get("unheard_start") or clip.scores.get("unheard_end"))


def group_lines(lines: list[LineRecord], checks: CheckSettings, ws: Workspace) -> list[list[LineRecord]]:
    """Group a character's lines into clips. A line joins its neighbour when nobody speaks between them
    and the result stays within the maximum, if the two touch (a cue boundary inside one stretch of
    speech, which no cut there would keep whole) or if one is shorter than the minimum and the gap is
    under `merge_gap`."""
    order = {line_id: i for i, (line_id, _, _) in enumerate(all_lines(ws))}
    groups: list[list[LineRecord]] = []
    for line in lines:
        if groups:
            last = groups[-1]
            adjacent = order[line.id] == order[last[-1].id] + 1
            gap = line.start - last[-1].end
            short = min(line.end - line.start, last[-1].end - last[0].start) < checks.min_duration
            fits = line.end - last[0].start <= checks.max_duration
            if adjacent and fits and (gap < TOUCHING or (short and gap < checks.merge_gap)):
                last.append(line)
                continue
        groups.append([line])
    return groups


@dataclass
class _Pending:
    """A clip to build: its lines, where it is cut, and what of them is kept."""

    label: str
    group: list[LineRecord]
    cut: Span
    kept: Salvaged
    fingerprint: str
    busy: list[tuple[float, float]]  # other voices around it
    film: Workspace  # the workspace seen from the film it is cut from

    @property
    def relative_words(self) -> list[tuple[float, float]]:
        return [(max(0.0, w.start - self.cut.start), max(0.0, w.end - self.cut.start)) for w in self.kept.words]


def _source_audio(pending: _Pending) -> tuple[np.ndarray, int, list[tuple[float, float]]]:
    """The source audio of a pending clip's cut, its rate, and the words relative to the cut."""
    import soundfile as sf

    with sf.SoundFile(pending.film.source_audio) as source:
        rate = source.samplerate
        source.seek(max(0, round(pending.cut.start * rate)))
        raw = source.read(max(1, round((pending.cut.end - pending.cut.start) * rate)), dtype="float32")
    return raw, rate, pending.relative_words


def _scored_clip(pending: _Pending, source: tuple[np.ndarray, int, list[tuple[float, float]]], cleaned: Enhanced,
                 plan: _Plan) -> DatasetClip:
    """A cleaned clip scored against its source and judged (its audio is written by the caller)."""
    raw, rate, relative = source
    group, language, settings = pending.group, plan.language, plan.settings
    text = pending.kept.text
    heard = retranscribe(cleaned.audio, cleaned.rate, language, settings.checks.asr_model)
    unheard_start, unheard_end = unheard_edges(text, heard, language)
    scores = {
        "duration": round(len(cleaned.audio) / cleaned.rate, 3),
        "clipping": round(float(np.mean(np.abs(raw) >= 0.999)), 5),
        "overlap": pending.kept.overlap,
        "snr_db": source_snr(raw, rate, relative, cleaned.steps),
        **plan.voices.scores([line.id for line in group]),
        "cer": transcript_cer(text, heard, language),
        "loudness_before": next((s.get("lufs_before") for s in cleaned.steps if s["name"] == "loudness"), None),
        "heard": heard,
    }
    # Present only when they say something, so the report's score columns stay numbers.
    optional = {"trim": pending.kept.notes, "covered": pending.kept.covered,
                "unheard_start": " ".join(unheard_start), "unheard_end": " ".join(unheard_end)}
    scores.update({key: value for key, value in optional.items() if value})
    reason = failed_check(scores, settings.checks)
    start = round(pending.cut.start + cleaned.offset, 3)
    return DatasetClip(pending.label, group[0].id, group[0].character, start, round(start + scores["duration"], 3),
                       text, spoken_text(text, language), language, plan.folder / f"{pending.label}.flac",
                       reason is None, reason, scores, film=group[0].film)


def set_override(ws: Workspace, label: str, decision: str) -> DatasetClip:
    """Include or exclude a clip by hand, whatever its checks say; returns the clip."""
    character = catalog.clip_character(ws, label)
    if character is None:
        raise CastvoiceError(f"no clip {label!r}; `castvoice review NAME` lists them", ws.root)
    with ws.transaction() as conn:
        records.set_override(conn, label, decision)
    log.info("clip %s: %sd by hand", label, decision)
    return next(c for c in catalog.clips_of(ws, character) if c.id == label)
