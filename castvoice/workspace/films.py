"""Films joining a project: a film ingested on its own (a one-film workspace database) is copied into the
project's database in one transaction, so a project never holds half a film."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from castvoice.workspace import db
from castvoice.workspace.names import drop_unused_characters

# The rows of one film, children first: deleting a film's lines takes their words and embeddings along.
_FILM_TABLES = ("lines", "turns", "speakers", "sound_events", "script_blocks", "speech_regions", "stages", "media")
_LINE_COLUMNS = ("start, end, text, speaker_hint, name_source, confidence, cue_start, cue_end, voice_similarity,"
                 " flag, evidence")


@contextlib.contextmanager
def attached(conn: sqlite3.Connection, film_db: Path) -> Iterator[None]:
    """Make a one-film workspace database readable as `film.` (outside any transaction)."""
    conn.execute("ATTACH DATABASE ? AS film", (str(film_db),))
    try:
        yield
    finally:
        conn.execute("DETACH DATABASE film")


def film_id(conn: sqlite3.Connection, name: str) -> int | None:
    row = conn.execute("SELECT id FROM films WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def delete_film_rows(conn: sqlite3.Connection, film: int) -> None:
    """Everything a film brought into the project except its entry in `films` (characters it alone named go)."""
    for table in _FILM_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE film_id = ?", (film,))
    drop_unused_characters(conn)


def copy_film(conn: sqlite3.Connection, name: str, path: str, folder: str, fingerprint: str,
              speaker_prefix: str) -> int:
    """Copy the attached one-film database (`attached`) into the project as the film `name`, replacing the
    film of that name where there is one; its speakers' labels take `speaker_prefix`. Runs inside the
    caller's transaction; returns the film's id."""
    film = film_id(conn, name)
    if film is None:
        film = conn.execute("INSERT INTO films (name, path, folder, fingerprint, settings, added_at)"
                            " VALUES (?, ?, ?, ?, '{}', ?)", (name, path, folder, fingerprint, db.now())).lastrowid
    else:
        delete_film_rows(conn, film)
        conn.execute("UPDATE films SET path = ?, folder = ?, fingerprint = ? WHERE id = ?",
                     (path, folder, fingerprint, film))
    conn.execute("UPDATE films SET settings = (SELECT json_group_object(key, value) FROM film.settings WHERE key IN"
                 " ('movie', 'subtitles', 'screenplay', 'subs_offset', 'language', 'title')) WHERE id = ?", (film,))
    conn.execute("INSERT INTO main.media (film_id, path, duration, sample_rate, channels, has_video)"
                 " SELECT ?, path, duration, sample_rate, channels, has_video FROM film.media", (film,))
    conn.execute("INSERT INTO main.stages (film_id, name, fingerprint, completed_at, details)"
                 " SELECT ?, name, fingerprint, completed_at, details FROM film.stages", (film,))
    conn.execute("INSERT OR IGNORE INTO main.characters (name) SELECT name FROM film.characters")
    character = ("(SELECT m.id FROM main.characters m JOIN film.characters c ON c.name = m.name"
                 " WHERE c.id = {}.character_id)")
    speakers = _offset(conn, "speakers")
    conn.execute(f"INSERT INTO main.speakers (id, label, character_id, film_id) SELECT id + ?, ? || label,"
                 f" {character.format('s')}, ? FROM film.speakers s", (speakers, speaker_prefix, film))
    conn.execute("INSERT INTO main.turns (start, end, speaker_id, overlap, film_id)"
                 " SELECT start, end, speaker_id + ?, overlap, ? FROM film.turns", (speakers, film))
    lines = _offset(conn, "lines")
    conn.execute(f"INSERT INTO main.lines (id, film_id, character_id, speaker_id, {_LINE_COLUMNS})"
                 f" SELECT id + ?, ?, {character.format('l')}, speaker_id + ?, {_LINE_COLUMNS} FROM film.lines l",
                 (lines, film, speakers))
    conn.execute("INSERT INTO main.words (line_id, start, end, text) SELECT line_id + ?, start, end, text"
                 " FROM film.words", (lines,))
    conn.execute("INSERT INTO main.line_embeddings (line_id, encoder, vector) SELECT line_id + ?, encoder, vector"
                 " FROM film.line_embeddings", (lines,))
    for table, columns in (("sound_events", "start, end, description"),
                           ("script_blocks", "scene, character, text, parenthetical"),
                           ("speech_regions", "start, end")):
        conn.execute(f"INSERT INTO main.{table} (film_id, {columns}) SELECT ?, {columns} FROM film.{table}", (film,))
    return film


def _offset(conn: sqlite3.Connection, table: str) -> int:
    """Added to a joining film's row ids so they follow the project's."""
    return conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM main.{table}").fetchone()[0]
