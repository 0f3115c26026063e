"""Read-only views of a workspace: what one stage needs of what another stage wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from castvoice.dataset.types import DatasetClip
from castvoice.errors import CastvoiceError
from castvoice.spans import Segment, Word
from castvoice.text.types import DialogueBlock
from castvoice.workspace import Workspace
from castvoice.workspace.names import weaker_sources


@dataclass
class CharacterSummary:
    name: str | None  # None: lines nobody is named for yet
    lines: int
    seconds: float


@dataclass
class LineRecord:
    id: int
    start: float
    end: float
    text: str
    character: str | None
    source: str | None  # what named the line: subtitle, manual, screenplay, enroll, speaker, voice
    confidence: float | None
    speaker: str | None = None  # the diarized speaker covering most of the line
    voice_similarity: float | None = None  # to the character's voice, where known
    flag: str | None = None  # e.g. the voice sounds like another character
    evidence: str | None = None  # what decided the name: text, voice, or text+voice
    film: str | None = None  # the film the line is from
    film_id: int = 1


@dataclass
class LineCue:
    """A line with the times its subtitle cue gave, before alignment moved it onto its words."""

    id: int
    cue_start: float
    cue_end: float
    text: str


@dataclass
class LineNaming:
    """How a line is named, and the character its diarized speaker was named as (if any)."""

    id: int
    character: str | None
    source: str | None
    confidence: float | None
    speaker_character: str | None


@dataclass
class SpeakerSummary:
    label: str
    name: str | None
    seconds: float
    turns: int
    lines: int
    sample: str


def characters(ws: Workspace) -> list[CharacterSummary]:
    """Every character with line count and speech seconds, most lines first; unnamed lines last."""
    rows = ws.conn.execute(
        "SELECT c.name AS name, COUNT(l.id) AS n, COALESCE(SUM(l.end - l.start), 0) AS seconds"
        " FROM lines l LEFT JOIN characters c ON c.id = l.character_id"
        " GROUP BY c.id ORDER BY c.id IS NULL, n DESC, c.name"
    ).fetchall()
    return [CharacterSummary(r["name"], r["n"], round(r["seconds"], 3)) for r in rows]


def character_name(ws: Workspace, name: str) -> str:
    """A character's name as the workspace spells it (`name` matches in any case); an error naming the
    known characters when there is none."""
    row = ws.conn.execute("SELECT name FROM characters WHERE name = ? COLLATE NOCASE", (name.strip(),)).fetchone()
    if row is None:
        known = ", ".join(c.name for c in characters(ws) if c.name) or "none yet"
        raise CastvoiceError(f"no character named {name!r} (known: {known})", ws.root)
    return row[0]


_LINES = (
    "SELECT l.id, l.start, l.end, l.text, c.name AS character, l.name_source, l.confidence,"
    " s.label AS speaker, l.voice_similarity, l.flag, l.evidence, f.name AS film, l.film_id"
    " FROM lines l LEFT JOIN characters c ON c.id = l.character_id LEFT JOIN speakers s ON s.id = l.speaker_id"
    " LEFT JOIN films f ON f.id = l.film_id"
)


def _line_records(rows) -> list[LineRecord]:
    return [LineRecord(r["id"], r["start"], r["end"], r["text"], r["character"], r["name_source"], r["confidence"],
                       r["speaker"], r["voice_similarity"], r["flag"], r["evidence"], r["film"], r["film_id"])
            for r in rows]


def _in_film(ws: Workspace, column: str) -> tuple[str, tuple]:
    """A condition keeping rows to the workspace's film, where it is seen from one; else every film."""
    return (f"{column} = ?", (ws.film,)) if ws.film is not None else ("1", ())


def lines_of(ws: Workspace, name: str | None) -> list[LineRecord]:
    """A character's lines (the name matches case-insensitively; None: every line), film by film in film
    order, across every film of the workspace unless it is seen from one."""
    where, args = _in_film(ws, "l.film_id")
    if name is None:
        return _line_records(ws.conn.execute(_LINES + f" WHERE {where} ORDER BY l.film_id, l.start, l.id", args))
    name = character_name(ws, name)
    return _line_records(ws.conn.execute(_LINES + f" WHERE c.name = ? AND {where} ORDER BY l.film_id, l.start, l.id",
                                         (name, *args)))


def line(ws: Workspace, line_id: int) -> LineRecord:
    """One line by its id."""
    found = _line_records(ws.conn.execute(_LINES + " WHERE l.id = ?", (line_id,)))
    if not found:
        raise CastvoiceError(f"no line {line_id} in this workspace", ws.root)
    return found[0]


def renamable_lines(ws: Workspace, source: str) -> list[LineRecord]:
    """Lines, in film order, that a name from `source` may (re)name: unnamed, or named by `source` or weaker."""
    weaker = weaker_sources(source)
    return _line_records(ws.conn.execute(
        _LINES + f" WHERE l.name_source IS NULL OR l.name_source IN ({','.join('?' * len(weaker))})"
                 " ORDER BY l.start, l.id", weaker))


def all_lines(ws: Workspace) -> list[tuple[int, float, float]]:
    """Id, start and end of every line in film order, named or not (of the workspace's film, where it is
    seen from one)."""
    where, args = _in_film(ws, "film_id")
    return [tuple(r) for r in ws.conn.execute(f"SELECT id, start, end FROM lines WHERE {where}"
                                              " ORDER BY film_id, start, id", args)]


def line_cues(ws: Workspace) -> list[LineCue]:
    """Every line with its cue times, in cue order."""
    return [LineCue(*r) for r in ws.conn.execute("SELECT id, cue_start, cue_end, text FROM lines ORDER BY cue_start, id")]


def line_naming(ws: Workspace) -> list[LineNaming]:
    """How every line is named, with its speaker's character."""
    rows = ws.conn.execute(
        "SELECT l.id, c.name, l.name_source, l.confidence, sc.name AS speaker_character FROM lines l"
        " LEFT JOIN characters c ON c.id = l.character_id LEFT JOIN speakers s ON s.id = l.speaker_id"
        " LEFT JOIN characters sc ON sc.id = s.character_id ORDER BY l.id")
    return [LineNaming(*r) for r in rows]


def words_by_line(ws: Workspace) -> dict[int, list[Word]]:
    """The aligned words of every aligned line, in order."""
    found: dict[int, list[Word]] = {}
    for r in ws.conn.execute("SELECT line_id, start, end, text FROM words ORDER BY line_id, start, id"):
        found.setdefault(r["line_id"], []).append(Word(r["start"], r["end"], r["text"]))
    return found


def script_blocks(ws: Workspace) -> list[DialogueBlock]:
    """The screenplay's dialogue blocks in order."""
    return [DialogueBlock(r["character"], r["text"], r["scene"], r["parenthetical"])
            for r in ws.conn.execute("SELECT * FROM script_blocks ORDER BY id")]


def line_embeddings(ws: Workspace, character: str | None = None) -> tuple[list[int], np.ndarray]:
    """Line ids and their voice embeddings (one row each), of every line or of one character's lines."""
    query = "SELECT e.line_id, e.vector FROM line_embeddings e"
    if character is None:
        rows = ws.conn.execute(query + " ORDER BY e.line_id").fetchall()
    else:
        rows = ws.conn.execute(query + " JOIN lines l ON l.id = e.line_id JOIN characters c ON c.id = l.character_id"
                               " WHERE c.name = ? COLLATE NOCASE ORDER BY e.line_id", (character,)).fetchall()
    if not rows and character is None:
        raise CastvoiceError("no voice embeddings in this workspace; run `castvoice ingest` without --text-only")
    vectors = np.stack([np.frombuffer(r[1], np.float32) for r in rows]) if rows else np.zeros((0, 0), np.float32)
    return [r[0] for r in rows], vectors


def speakers(ws: Workspace) -> list[SpeakerSummary]:
    """The diarized speakers, longest talkers first."""
    rows = ws.conn.execute(
        "SELECT s.label, c.name, COALESCE(SUM(t.end - t.start), 0) AS seconds, COUNT(t.id) AS turns,"
        " (SELECT COUNT(*) FROM lines l WHERE l.speaker_id = s.id) AS lines"
        " FROM speakers s LEFT JOIN characters c ON c.id = s.character_id LEFT JOIN turns t ON t.speaker_id = s.id"
        " GROUP BY s.id ORDER BY seconds DESC"
    ).fetchall()
    return [SpeakerSummary(r["label"], r["name"], round(r["seconds"], 2), r["turns"], r["lines"],
                           str(ws.speaker_sample(r["label"]))) for r in rows]


def turns(ws: Workspace) -> list[Segment]:
    """Diarization's speaker turns, in time order, labelled by speaker."""
    return [Segment(r["start"], r["end"], speaker=r["label"], overlap=bool(r["overlap"])) for r in ws.conn.execute(
        "SELECT t.start, t.end, s.label, t.overlap FROM turns t JOIN speakers s ON s.id = t.speaker_id"
        " ORDER BY t.start, t.id")]


def other_voices(ws: Workspace, line_ids: list[int], low: float, high: float) -> list[tuple[float, float]]:
    """Spans between `low` and `high` where a voice other than these lines' is active: other lines, and
    diarized turns of speakers other than these lines' own."""
    marks = ",".join("?" * len(line_ids))
    film = f"(SELECT film_id FROM lines WHERE id = {int(line_ids[0])})"  # times are film times: one film's
    busy = [tuple(r) for r in ws.conn.execute(
        f"SELECT start, end FROM lines WHERE id NOT IN ({marks}) AND film_id = {film} AND end > ? AND start < ?",
        (*line_ids, low, high))]
    own = [r[0] for r in ws.conn.execute(
        f"SELECT DISTINCT speaker_id FROM lines WHERE id IN ({marks}) AND speaker_id IS NOT NULL", line_ids)]
    if own:
        busy += [tuple(r) for r in ws.conn.execute(
            f"SELECT start, end FROM turns WHERE speaker_id NOT IN ({','.join('?' * len(own))})"
            f" AND film_id = {film} AND end > ? AND start < ?", (*own, low, high))]
    return busy


def media_duration(ws: Workspace) -> float:
    """The film's length in seconds (film 1 where the workspace is not seen from a film)."""
    row = ws.conn.execute("SELECT duration FROM media WHERE film_id = ?", (ws.film or 1,)).fetchone()
    if row is None:
        raise CastvoiceError("the workspace has no decoded audio; run `castvoice ingest` again", ws.root)
    return row[0]


def movie_path(ws: Workspace) -> Path | None:
    """The movie the workspace was made from; None before its audio is decoded."""
    row = ws.conn.execute("SELECT path FROM media WHERE film_id = ?", (ws.film or 1,)).fetchone()
    return Path(row[0]) if row else None


def screenplay_title(ws: Workspace) -> str | None:
    """The film's title as its screenplay gives it; None without one."""
    from castvoice.workspace.db import get_setting

    return get_setting(ws.conn, "title") or None


@dataclass
class FilmRecord:
    id: int
    name: str
    path: str
    folder: str
    fingerprint: str | None
    settings: dict
    lines: int
    seconds: float  # the film's length


def films(ws: Workspace) -> list[FilmRecord]:
    """The workspace's films in the order they were added, with their line counts."""
    rows = ws.conn.execute(
        "SELECT f.*, (SELECT COUNT(*) FROM lines l WHERE l.film_id = f.id) AS n,"
        " COALESCE((SELECT duration FROM media m WHERE m.film_id = f.id), 0) AS seconds FROM films f ORDER BY f.id")
    return [FilmRecord(r["id"], r["name"], r["path"], r["folder"], r["fingerprint"], json.loads(r["settings"]),
                       r["n"], round(r["seconds"], 3)) for r in rows]


def film_setting(ws: Workspace, key: str) -> str | None:
    """What the film (film 1 where the workspace is not seen from a film) was ingested with: its subtitles,
    screenplay, language or title; None where not recorded."""
    row = ws.conn.execute("SELECT settings FROM films WHERE id = ?", (ws.film or 1,)).fetchone()
    return (json.loads(row[0]).get(key) or None) if row else None


def clip_fingerprints(ws: Workspace, character: str) -> dict[str, str]:
    """Label -> fingerprint of a character's stored clips."""
    return {r[0]: r[1] for r in ws.conn.execute(
        "SELECT k.label, k.fingerprint FROM clips k JOIN characters c ON c.id = k.character_id"
        " WHERE c.name = ? COLLATE NOCASE", (character,))}


def clip_scores(ws: Workspace, character: str) -> dict[str, dict]:
    """Label -> scores of a character's stored clips."""
    return {r[0]: json.loads(r[1]) for r in ws.conn.execute(
        "SELECT k.label, k.scores FROM clips k JOIN characters c ON c.id = k.character_id"
        " WHERE c.name = ? COLLATE NOCASE", (character,))}


def clips_of(ws: Workspace, name: str) -> list[DatasetClip]:
    """A character's prepared clips in film order, with manual include/exclude applied."""
    rows = ws.conn.execute(
        "SELECT k.*, c.name AS character, o.decision, f.name AS film FROM clips k"
        " JOIN characters c ON c.id = k.character_id LEFT JOIN clip_overrides o ON o.label = k.label"
        " LEFT JOIN lines l ON l.id = json_extract(k.line_ids, '$[0]') LEFT JOIN films f ON f.id = l.film_id"
        " WHERE c.name = ? COLLATE NOCASE ORDER BY l.film_id, k.start",
        (name,)).fetchall()
    clips = []
    for r in rows:
        kept = r["decision"] == "include" or (r["decision"] is None and r["reason"] is None)
        reason = "excluded by hand" if r["decision"] == "exclude" else r["reason"]
        clips.append(DatasetClip(r["label"], json.loads(r["line_ids"])[0], r["character"], r["start"], r["end"],
                                 r["text"], r["normalized"], r["language"], ws.root / r["file"], kept,
                                 reason, json.loads(r["scores"]), r["decision"], r["film"]))
    return clips


def clip_character(ws: Workspace, label: str) -> str | None:
    """The character a clip belongs to; None when there is no such clip."""
    row = ws.conn.execute(
        "SELECT c.name FROM clips k JOIN characters c ON c.id = k.character_id WHERE k.label = ?", (label,)).fetchone()
    return row[0] if row else None


@dataclass
class ClipOverride:
    label: str  # the clip's id, e.g. "diane_00024": the character and its first line's id
    decision: str  # include or exclude
    line_id: int


def clip_overrides(ws: Workspace) -> list[ClipOverride]:
    """Every clip included or excluded by hand."""
    return [ClipOverride(label, decision, int(label.rsplit("_", 1)[1]))
            for label, decision in ws.conn.execute("SELECT label, decision FROM clip_overrides ORDER BY label")]
