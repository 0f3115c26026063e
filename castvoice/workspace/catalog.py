"""Read-only views of a workspace: characters and their lines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from castvoice.errors import CastvoiceError
from castvoice.workspace import Workspace


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


def characters(ws: Workspace) -> list[CharacterSummary]:
    """Every character with line count and speech seconds, most lines first; unnamed lines last."""
    rows = ws.conn.execute(
        "SELECT c.name AS name, COUNT(l.id) AS n, COALESCE(SUM(l.end - l.start), 0) AS seconds"
        " FROM lines l LEFT JOIN characters c ON c.id = l.character_id"
        " GROUP BY c.id ORDER BY c.id IS NULL, n DESC, c.name"
    ).fetchall()
    return [CharacterSummary(r["name"], r["n"], round(r["seconds"], 3)) for r in rows]


def lines_of(ws: Workspace, name: str | None) -> list[LineRecord]:
    """A character's lines in film order (the name matches case-insensitively); None: every line."""
    query = (
        "SELECT l.id, l.start, l.end, l.text, c.name AS character, l.name_source, l.confidence,"
        " s.label AS speaker, l.voice_similarity, l.flag"
        " FROM lines l LEFT JOIN characters c ON c.id = l.character_id LEFT JOIN speakers s ON s.id = l.speaker_id"
    )
    if name is None:
        rows = ws.conn.execute(query + " ORDER BY l.start, l.id").fetchall()
    else:
        if ws.conn.execute("SELECT 1 FROM characters WHERE name = ? COLLATE NOCASE", (name,)).fetchone() is None:
            known = ", ".join(c.name for c in characters(ws) if c.name) or "none yet"
            raise CastvoiceError(f"no character named {name!r} (known: {known})", ws.root)
        rows = ws.conn.execute(query + " WHERE c.name = ? COLLATE NOCASE ORDER BY l.start, l.id", (name,)).fetchall()
    return [
        LineRecord(r["id"], r["start"], r["end"], r["text"], r["character"], r["name_source"], r["confidence"],
                   r["speaker"], r["voice_similarity"], r["flag"])
        for r in rows
    ]


def all_lines(ws: Workspace) -> list[tuple[int, float, float]]:
    """Id, start and end of every line in film order, named or not."""
    return [tuple(r) for r in ws.conn.execute("SELECT id, start, end FROM lines ORDER BY start, id")]


def media_duration(ws: Workspace) -> float:
    row = ws.conn.execute("SELECT duration FROM media WHERE id = 1").fetchone()
    if row is None:
        raise CastvoiceError("the workspace has no decoded audio; run `castvoice ingest` again", ws.root)
    return row[0]


def movie_path(ws: Workspace) -> Path | None:
    """The movie the workspace was made from; None before its audio is decoded."""
    row = ws.conn.execute("SELECT path FROM media WHERE id = 1").fetchone()
    return Path(row[0]) if row else None


def character_name(ws: Workspace, name: str) -> str:
    """A character's name as the workspace spells it (`name` matches in any case); an error naming the
    known characters when there is none."""
    row = ws.conn.execute("SELECT name FROM characters WHERE name = ? COLLATE NOCASE", (name.strip(),)).fetchone()
    if row is None:
        known = ", ".join(c.name for c in characters(ws) if c.name) or "none yet"
        raise CastvoiceError(f"no character named {name!r} (known: {known})", ws.root)
    return row[0]
