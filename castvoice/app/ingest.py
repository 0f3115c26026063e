"""Ingest: bring a movie and its text sources into a workspace, stage by stage.

Every input is read and checked before anything is written, so bad input leaves the workspace as
it was (audio that fails to decode part-way through removes the workspace folder the run created).
Each stage records a fingerprint of its inputs when it completes; a rerun skips stages whose
fingerprint is unchanged, and a killed run resumes at the first unfinished stage.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from castvoice.console import log
from castvoice.errors import CastvoiceError, user_error
from castvoice.media.decode import decode_audio
from castvoice.media.embedded import read_embedded_dialogue
from castvoice.media.probe import MediaInfo, probe
from castvoice.text.attribution import attribute
from castvoice.text.screenplay import read_screenplay
from castvoice.text.subtitles import read_subtitles, track_from_dialogue
from castvoice.progress import track
from castvoice.spans import Segment
from castvoice.text.types import Screenplay, SubtitleTrack
from castvoice.speech.finding import SpeakerMatch
from castvoice.text.normalize import slug
from castvoice.workspace import Workspace, catalog, db, default_for_movie, films, is_workspace, records, snapshots
from castvoice.workspace.catalog import ClipOverride, LineRecord
from castvoice.workspace.names import USER_SOURCES, drop_unused_characters, name_line

ATTRIBUTION_VERSION = "1"
ASR_LINES_VERSION = "3"  # sentences cut at pauses, capitals and speaker changes

Writer = Callable[[sqlite3.Connection], dict]


@dataclass
class Stage:
    name: str
    fingerprint: str
    run: Callable[[Workspace], Writer]  # heavy work first; the returned writer fills the database


@dataclass
class IngestResult:
    workspace: Workspace
    ran: list[str]
    skipped: list[str]
    snapshot: snapshots.Snapshot | None = None  # the database before this run replaced results
    reused: dict[str, Path] = field(default_factory=dict)  # inputs not given this time, taken from the last run


def _file_digest(path: Path) -> str:
    from castvoice.assets import sha256_file

    return sha256_file(path)[:16]


def run_stages(ws: Workspace, stages: list[Stage]) -> IngestResult:
    """Run the stages whose inputs changed; each lands in one transaction with its completion record. Before
    the first stage that replaces earlier results, the database is copied (`castvoice undo`)."""
    result = IngestResult(ws, [], [])
    with track("ingest", total=len(stages)) as progress:
        for stage in stages:
            progress.update(note=stage.name)
            _run_stage(ws, stage, result)
            progress.advance()
    return result


def _run_stage(ws: Workspace, stage: Stage, result: IngestResult) -> None:
    done_before = db.stage_fingerprint(ws.conn, stage.name)
    if done_before == stage.fingerprint:
        log.info("%s: up to date, skipped", stage.name)
        result.skipped.append(stage.name)
        return
    began = time.perf_counter()
    write = stage.run(ws)
    if done_before is not None and result.snapshot is None:
        result.snapshot = snapshots.take(ws, f"before {stage.name}")
        log.info("the workspace as it was is kept: `castvoice undo` brings it back")
    with ws.transaction() as conn:
        details = write(conn)
        details["seconds"] = round(time.perf_counter() - began, 3)
        db.record_stage(conn, stage.name, stage.fingerprint, details)
    log.info("%s: done %s", stage.name, json.dumps(details))
    result.ran.append(stage.name)


def _load_subtitles(info: MediaInfo, subs: Path | None, offset: float) -> tuple[SubtitleTrack | None, str]:
    """The subtitle track to use (a file, else the first embedded text track) and its fingerprint."""
    if subs is not None:
        track = read_subtitles(subs, offset=offset, duration=info.duration)
        return track, db.fingerprint("file", _file_digest(subs), offset)
    streams = info.text_subtitle_streams
    if not streams:
        return None, db.fingerprint("none")
    stream = streams[0]
    raw = read_embedded_dialogue(info.path, stream.index)
    name = f"{info.path} (subtitle stream {stream.index}, {stream.codec})"
    log.info("using the embedded subtitle track %d (%s)", stream.index, stream.codec)
    return track_from_dialogue(raw, name, offset, info.duration), db.fingerprint("embedded", stream.index, offset)


def ingest(
    movie: Path,
    subs: Path | None = None,
    script: Path | None = None,
    subs_offset: float | None = None,
    workspace: Path | None = None,
    *,
    language: str | None = None,
    asr_model: str = "base",
    num_speakers: int | None = None,
    text_only: bool = False,
    no_subs: bool = False,
    no_script: bool = False,
    discard_edits: bool = False,
) -> IngestResult:
    """Create or update the workspace for `movie`; see the module docstring.

    On an existing workspace, subtitles and a screenplay not given are the ones given before (`no_subs`,
    `no_script`: none). Names and clip decisions given by hand follow their lines when the lines change; a
    rerun that would lose some refuses unless `discard_edits`. Before results are replaced, the database
    is copied (`castvoice undo`). With `text_only`, only the subtitle path runs (no alignment, diarization
    or voice naming).

    Into a workspace that holds another film, the movie joins as one more film of the project (or replaces
    its film of the same name): see `castvoice.app.films`."""
    movie = Path(movie).resolve()
    ws = Workspace(workspace or default_for_movie(movie))
    if joins_as_film(ws.root, movie):
        return _add_to_project(ws, movie, subs, script, subs_offset, language, asr_model, num_speakers, text_only)
    info = probe(movie)
    given = (subs, script)
    subs, script, subs_offset = _inputs(ws, subs, script, subs_offset, no_subs, no_script)
    track, subs_fp = _load_subtitles(info, subs, subs_offset)
    screenplay = read_screenplay(script) if script else None
    script_fp = db.fingerprint("script", _file_digest(script)) if script else db.fingerprint("none")
    for warning in track.warnings if track else []:
        log.warning(warning)
    if track is None and text_only:
        log.warning("%s: no subtitles given and none embedded; pass --subs FILE to find lines", movie)
    elif track is None:
        log.info("%s: no subtitles given and none embedded; the lines come from speech recognition", movie)
        subs_fp = db.fingerprint("asr", asr_model, language, ASR_LINES_VERSION)

    stat = movie.stat()
    media_fp = db.fingerprint(movie, stat.st_size, stat.st_mtime_ns)
    stages = [Stage("media", media_fp, lambda ws: _media_stage(ws, info))]
    lines_fp = db.fingerprint(media_fp, subs_fp)
    if not text_only:
        from castvoice.speech import stages as speech

        # Diarization hears only the audio; lines from speech recognition are split where the speaker changes.
        diarization_fp = db.fingerprint(media_fp, num_speakers, speech.DIARIZATION_VERSION)
        stages.append(Stage("diarization", diarization_fp, lambda ws: speech.diarization_stage(ws, num_speakers)))
        if track is None:
            lines_fp = db.fingerprint(lines_fp, diarization_fp)
    attribution_fp = db.fingerprint(lines_fp, script_fp, ATTRIBUTION_VERSION)
    stages += [
        Stage("lines", lines_fp, lambda ws: _lines_stage(ws, track, asr_model, language, text_only, discard_edits)),
        Stage("screenplay", script_fp, lambda ws: _screenplay_stage(screenplay)),
        Stage("attribution", attribution_fp, _attribution_stage),
    ]
    if not text_only:
        alignment_fp = db.fingerprint(lines_fp, language, speech.ALIGNMENT_VERSION)
        stages += [
            Stage("alignment", alignment_fp, lambda ws: speech.alignment_stage(ws, language)),
            Stage("voices", db.fingerprint(alignment_fp, diarization_fp, attribution_fp, speech.VOICES_VERSION),
                  speech.voices_stage),
        ]
    created = _outermost_missing(ws.root)
    with ws.exclusive():
        try:
            result = run_stages(ws, stages)
            result.reused = {what: path for what, path, mine in (("subtitles", subs, given[0]),
                                                                 ("screenplay", script, given[1]))
                             if path is not None and mine is None}
        except CastvoiceError:  # audio that fails to decode part-way: leave no new workspace behind
            if created is not None:
                ws.close()
                shutil.rmtree(created, ignore_errors=True)
            raise
        settings = {"movie": movie, "subtitles": subs or "", "screenplay": script or "", "subs_offset": subs_offset}
        with ws.transaction() as conn:
            records.set_settings(conn, settings)
            records.set_film_settings(conn, 1, {**settings, "language": db.get_setting(conn, "language") or "",
                                                "title": db.get_setting(conn, "title") or ""})
        return result


def check_inputs(movie: Path, subs: Path | None = None, script: Path | None = None) -> MediaInfo:
    """Read a movie and its text sources as ingest will, writing nothing: its errors, before any work starts."""
    info = probe(Path(movie).resolve())
    if subs is not None:
        read_subtitles(subs, duration=info.duration)
    if script is not None:
        read_screenplay(script)
    return info


def _add_to_project(ws: Workspace, movie: Path, subs: Path | None, script: Path | None, subs_offset: float | None,
                    language: str | None, asr_model: str, num_speakers: int | None, text_only: bool) -> IngestResult:
    """Ingest a movie as one film of a project of many, in one step that lands whole or not at all."""
    source = FilmSource(movie, subs, script, subs_offset)
    outcome = add_film(ws, source, IngestOptions(language, asr_model, num_speakers, text_only))
    log.info("%s joined the project as film %d", source.name, outcome.film_id)
    return IngestResult(ws, ["film"], [])


def _inputs(ws: Workspace, subs: Path | None, script: Path | None, subs_offset: float | None, no_subs: bool,
            no_script: bool) -> tuple[Path | None, Path | None, float]:
    """The subtitles, screenplay and offset to use: as given, else as given before in this workspace."""
    before = (lambda key: db.get_setting(ws.conn, key)) if is_workspace(ws.root) else (lambda key: None)
    if subs is None and not no_subs and before("subtitles"):
        subs = Path(before("subtitles"))
        subs_offset = float(before("subs_offset") or 0.0) if subs_offset is None else subs_offset
    if script is None and not no_script and before("screenplay"):
        script = Path(before("screenplay"))
    return subs, script, subs_offset or 0.0


def undo(ws: Workspace) -> snapshots.Snapshot:
    """Bring the workspace's database back to how it was before the last rerun replaced results (or before
    the last undo); returns the snapshot restored."""
    with ws.exclusive():
        return snapshots.restore(ws)


def _outermost_missing(folder: Path) -> Path | None:
    """The outermost of `folder` and its parents that does not exist yet (None if `folder` exists)."""
    missing = None
    folder = folder.absolute()
    for path in [folder, *folder.parents]:
        if path.exists():
            break
        missing = path
    return missing


def _media_stage(ws: Workspace, info: MediaInfo) -> Writer:
    rate, seconds = decode_audio(info.path, ws.source_audio, ws.analysis_audio, info.duration)

    def write(conn: sqlite3.Connection) -> dict:
        records.set_media(conn, info.path, seconds, rate, info.channels, info.has_video)
        return {"duration": round(seconds, 3), "sample_rate": rate}

    return write


def _lines_stage(
    ws: Workspace, track: SubtitleTrack | None, asr_model: str, language: str | None, text_only: bool,
    discard_edits: bool = False,
) -> Writer:
    """Lines from the subtitles, or from speech recognition when the movie has none: then sentences, split
    where the diarized speaker changes (diarization runs first). Names and clip decisions given by hand
    follow their lines to the new ones; where a decision has no line to follow, the stage refuses (nothing
    is written) unless `discard_edits`."""
    if track is None and text_only:
        track, source = SubtitleTrack(), "nothing (no subtitles)"
    elif track is None:
        from castvoice.speech.asr import transcribe_file
        from castvoice.speech.resegment import split_at_speaker_changes

        transcript = transcribe_file(ws.analysis_audio, model=asr_model, language=language)
        sentences = split_at_speaker_changes(transcript.segments, catalog.turns(ws))
        track = SubtitleTrack(cues=[Segment(s.start, s.end, s.text) for s in sentences if s.text])
        source = f"speech recognition ({asr_model}, language {transcript.language})"
        language = transcript.language
    else:
        source = "subtitles"
    carried = _carry_over(ws, track.cues)
    if carried.lost and not discard_edits:
        raise CastvoiceError(f"the new lines would lose {carried.describe_lost()}, which match no new line; "
                             "pass --discard-edits to accept that (`castvoice undo` brings them back)", ws.root)

    def write(conn: sqlite3.Connection) -> dict:
        new_ids = records.replace_lines(conn, track)
        carried.apply(conn, new_ids)
        if language:
            db.set_setting(conn, "language", language)
        return {"lines": len(track.cues), "from": source, "sound_events": len(track.events),
                "named_by_subtitles": sum(1 for c in track.cues if c.speaker),
                "carried_over": len(carried.names) + len(carried.overrides), "discarded": carried.describe_lost()}

    return write


MATCH_OVERLAP = 0.5  # of the shorter line's time: a new line this much over an old one may take its decisions
MATCH_WORDS = 0.5  # and it must hold this share of the old line's words


@dataclass
class CarryOver:
    """Decisions given by hand on the lines a rerun replaces, and the new lines (by cue index) they go to."""

    names: list[tuple[int, LineRecord]] = field(default_factory=list)
    overrides: list[tuple[int, ClipOverride]] = field(default_factory=list)
    lost_names: list[LineRecord] = field(default_factory=list)
    lost_overrides: list[ClipOverride] = field(default_factory=list)

    @property
    def lost(self) -> bool:
        return bool(self.lost_names or self.lost_overrides)

    def describe_lost(self) -> str | None:
        parts = [f"{len(self.lost_names)} line names given by hand or by example" if self.lost_names else "",
                 f"{len(self.lost_overrides)} clip include/exclude decisions" if self.lost_overrides else ""]
        return " and ".join(filter(None, parts)) or None

    def apply(self, conn: sqlite3.Connection, new_ids: list[int]) -> None:
        for cue, line in self.names:
            name_line(conn, new_ids[cue], line.character, line.source, line.confidence or 1.0)
        # A clip's id is its character and its first line's id: the decision follows the line to its new id.
        records.replace_overrides(conn, {f"{o.label.rsplit('_', 1)[0]}_{new_ids[cue]:05d}": o.decision
                                         for cue, o in self.overrides})


def _carry_over(ws: Workspace, cues: list[Segment]) -> CarryOver:
    """Match the lines that hold decisions given by hand to the new cues, by time and by words."""
    from castvoice.text.normalize import words

    carried = CarryOver()
    if not db.stage_fingerprint(ws.conn, "lines"):
        return carried
    old = {line.id: line for line in catalog.lines_of(ws, None)}

    def match(line: LineRecord) -> int | None:
        said = set(words(line.text))
        best, best_share = None, MATCH_OVERLAP
        for index, cue in enumerate(cues):
            shared = min(cue.end, line.end) - max(cue.start, line.start)
            share = shared / max(min(cue.end - cue.start, line.end - line.start), 1e-3)
            if share >= best_share and len(said & set(words(cue.text))) >= MATCH_WORDS * len(said):
                best, best_share = index, share
        return best

    for line in old.values():
        if line.source in USER_SOURCES:
            cue = match(line)
            (carried.names.append((cue, line)) if cue is not None else carried.lost_names.append(line))
    for override in catalog.clip_overrides(ws):
        line = old.get(override.line_id)
        cue = match(line) if line is not None else None
        (carried.overrides.append((cue, override)) if cue is not None else carried.lost_overrides.append(override))
    return carried


def _screenplay_stage(screenplay: Screenplay | None) -> Writer:
    def write(conn: sqlite3.Connection) -> dict:
        blocks = screenplay.blocks if screenplay else []
        records.replace_script_blocks(conn, blocks)
        records.set_settings(conn, {"title": screenplay.title if screenplay and screenplay.title else ""})
        return {"blocks": len(blocks), "characters": len({b.character for b in blocks})}

    return write


def _attribution_stage(ws: Workspace) -> Writer:
    lines = catalog.renamable_lines(ws, "screenplay")
    results = attribute([Segment(line.start, line.end, line.text) for line in lines], catalog.script_blocks(ws))

    def write(conn: sqlite3.Connection) -> dict:
        named = 0
        for line, found in zip(lines, results):
            if found.character is None and line.source != "screenplay":
                continue  # no match in the screenplay takes away only a name the screenplay gave
            named += (name_line(conn, line.id, found.character, "screenplay", found.confidence, "text")
                      and bool(found.character))
        drop_unused_characters(conn)
        return {"considered": len(lines), "named_by_screenplay": named}

    return write

# Projects of many films. A film joins a project in two steps. Its ingest runs on its own, in a one-film
# workspace under the project's films/<name>/ (a worker may do this, anywhere the project's folder is
# mounted); a killed ingest resumes there from its last finished stage. Then the project's one writer
# copies the film into the project's database in one transaction and matches its unnamed speakers to
# the characters of the other films by voice: a project never holds half a film.


@dataclass(frozen=True)
class FilmSource:
    """A film to ingest and the text found beside it."""

    movie: Path
    subs: Path | None = None
    script: Path | None = None
    subs_offset: float | None = None

    @property
    def name(self) -> str:
        return self.movie.stem


@dataclass(frozen=True)
class IngestOptions:
    """How every film of a batch is ingested (as `castvoice ingest` takes them)."""

    language: str | None = None
    asr_model: str = "base"
    num_speakers: int | None = None
    text_only: bool = False


@dataclass
class FilmOutcome:
    """What became of one film: joined the project, skipped as already there, or failed with a reason."""

    name: str
    status: str  # joined, skipped, failed
    seconds: float = 0.0
    error: str | None = None
    film_id: int | None = None
    matches: list[SpeakerMatch] = field(default_factory=list)


def film_fingerprint(source: FilmSource, options: IngestOptions) -> str:
    """What a film's ingest depends on: a rerun of a batch skips a film whose fingerprint is unchanged."""
    from castvoice.assets import sha256_file

    stat = source.movie.stat()
    texts = [sha256_file(p)[:16] if p else None for p in (source.subs, source.script)]
    return db.fingerprint(str(source.movie), stat.st_size, stat.st_mtime_ns, texts, source.subs_offset, vars(options))


def ingest_alone(source: FilmSource, folder: Path, options: IngestOptions) -> FilmOutcome:
    """Ingest one film into its own one-film workspace `folder` (resuming one cut off before). A film's own
    problem (a corrupt file, a full disk) comes back as the outcome's one-line reason, not as an error."""
    began = time.perf_counter()
    try:
        ingest(source.movie, source.subs, source.script, source.subs_offset, folder, language=options.language,
               asr_model=options.asr_model, num_speakers=options.num_speakers, text_only=options.text_only)
    except Exception as error:  # noqa: BLE001 - every film's failure is reported, and the others go on
        problem = user_error(error)
        if problem is None:
            log.debug("ingest of %s failed", source.movie, exc_info=True)
        reason = str(problem) if problem is not None else f"{type(error).__name__}: {error}".splitlines()[0]
        return FilmOutcome(source.name, "failed", time.perf_counter() - began, reason)
    return FilmOutcome(source.name, "ingested", time.perf_counter() - began)


def join_film(project: Workspace, source: FilmSource, fingerprint: str) -> FilmOutcome:
    """Copy a film ingested alone (`ingest_alone` into the project's films/<name>/) into the project in one
    transaction, replacing the film of that name, and match its speakers to the other films' characters."""
    from castvoice.speech.finding import match_speakers_across_films

    alone = Workspace(project.film_staging(source.name))
    prefix = f"{slug(source.name)}-"
    for label in [s.label for s in catalog.speakers(alone)]:
        project.speaker_sample(prefix + label).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(alone.speaker_sample(label), project.speaker_sample(prefix + label))
    alone.close()
    folder = str(alone.root.relative_to(project.root))
    with films.attached(project.conn, alone.db_path):
        with project.transaction() as conn:
            film = films.copy_film(conn, source.name, str(source.movie), folder, fingerprint, prefix)
            matches = match_speakers_across_films(project.for_film(film))
    for match in matches:
        if match.conflict:
            log.warning("%s, speaker %s: %s; not named (name it with `castvoice name`)", source.name,
                        match.speaker, match.conflict)
        elif match.character:
            log.info("%s, speaker %s sounds like %s (%.2f): %d lines named", source.name, match.speaker,
                     match.character, match.similarity, match.lines_named)
    return FilmOutcome(source.name, "joined", film_id=film, matches=matches)


def add_film(project: Workspace, source: FilmSource, options: IngestOptions) -> FilmOutcome:
    """Ingest one film into a project of many (`castvoice ingest` on a project that holds other films)."""
    with project.exclusive():
        outcome = ingest_alone(source, project.film_staging(source.name), options)
        if outcome.status == "failed":
            raise CastvoiceError(outcome.error or "ingest failed", source.movie)
        joined = join_film(project, source, film_fingerprint(source, options))
        joined.seconds = outcome.seconds
        return joined


def joins_as_film(workspace: Path, movie: Path) -> bool:
    """Whether ingesting `movie` into `workspace` adds (or redoes) a film of a project of many, rather than
    making or updating a one-film workspace in place."""
    if not is_workspace(workspace):
        return False
    ws = Workspace(workspace)
    try:
        known = catalog.films(ws)
    finally:
        ws.close()
    in_place = len(known) == 1 and known[0].folder == "" and known[0].name.casefold() == movie.stem.casefold()
    return bool(known) and not in_place
