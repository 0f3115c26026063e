"""The workspace database: schema, migrations and small query helpers."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from castvoice.errors import CastvoiceError

# Each entry migrates the schema from version N to N+1; never edit a released entry, append one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE stages (
        name TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        completed_at TEXT NOT NULL,
        details TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE media (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        path TEXT NOT NULL,
        duration REAL NOT NULL,
        sample_rate INTEGER NOT NULL,
        channels INTEGER NOT NULL,
        has_video INTEGER NOT NULL
    );
    CREATE TABLE characters (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE
    );
    CREATE TABLE lines (
        id INTEGER PRIMARY KEY,
        start REAL NOT NULL,
        end REAL NOT NULL,
        text TEXT NOT NULL,
        speaker_hint TEXT,
        character_id INTEGER REFERENCES characters(id),
        name_source TEXT,
        confidence REAL
    );
    CREATE INDEX lines_by_character ON lines(character_id);
    CREATE TABLE sound_events (
        id INTEGER PRIMARY KEY,
        start REAL NOT NULL,
        end REAL NOT NULL,
        description TEXT NOT NULL
    );
    CREATE TABLE script_blocks (
        id INTEGER PRIMARY KEY,
        scene INTEGER NOT NULL,
        character TEXT NOT NULL,
        text TEXT NOT NULL,
        parenthetical TEXT
    );
    """,
    """
    ALTER TABLE lines ADD COLUMN cue_start REAL;
    ALTER TABLE lines ADD COLUMN cue_end REAL;
    ALTER TABLE lines ADD COLUMN speaker_id INTEGER REFERENCES speakers(id);
    ALTER TABLE lines ADD COLUMN voice_similarity REAL;
    ALTER TABLE lines ADD COLUMN flag TEXT;
    CREATE TABLE words (
        id INTEGER PRIMARY KEY,
        line_id INTEGER NOT NULL REFERENCES lines(id) ON DELETE CASCADE,
        start REAL NOT NULL,
        end REAL NOT NULL,
        text TEXT NOT NULL
    );
    CREATE INDEX words_by_line ON words(line_id);
    CREATE TABLE speech_regions (id INTEGER PRIMARY KEY, start REAL NOT NULL, end REAL NOT NULL);
    CREATE TABLE speakers (
        id INTEGER PRIMARY KEY,
        label TEXT NOT NULL UNIQUE,
        character_id INTEGER REFERENCES characters(id)
    );
    CREATE TABLE turns (
        id INTEGER PRIMARY KEY,
        start REAL NOT NULL,
        end REAL NOT NULL,
        speaker_id INTEGER NOT NULL REFERENCES speakers(id),
        overlap INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE line_embeddings (
        line_id INTEGER PRIMARY KEY REFERENCES lines(id) ON DELETE CASCADE,
        encoder TEXT NOT NULL,
        vector BLOB NOT NULL
    );
    """,
    """
    CREATE TABLE clips (
        id INTEGER PRIMARY KEY,
        label TEXT NOT NULL UNIQUE,
        character_id INTEGER NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
        line_ids TEXT NOT NULL,
        start REAL NOT NULL,
        end REAL NOT NULL,
        text TEXT NOT NULL,
        normalized TEXT NOT NULL,
        language TEXT NOT NULL,
        file TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        scores TEXT NOT NULL,
        steps TEXT NOT NULL,
        reason TEXT
    );
    CREATE INDEX clips_by_character ON clips(character_id);
    CREATE TABLE clip_overrides (
        label TEXT PRIMARY KEY,
        decision TEXT NOT NULL CHECK (decision IN ('include', 'exclude'))
    );
    """,
    # The assistant. Keyed by character name, not id: a character a re-ingest drops keeps its memories.
    """
    CREATE TABLE personas (
        character TEXT PRIMARY KEY COLLATE NOCASE,
        description TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE exchanges (
        id INTEGER PRIMARY KEY,
        character TEXT NOT NULL COLLATE NOCASE,
        conversation TEXT NOT NULL,
        at TEXT NOT NULL,
        message TEXT NOT NULL,
        reply TEXT NOT NULL
    );
    CREATE INDEX exchanges_by_character ON exchanges(character, conversation);
    CREATE TABLE memories (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- users forget a memory by id: ids are never used again
        character TEXT NOT NULL COLLATE NOCASE,
        kind TEXT NOT NULL CHECK (kind IN ('fact', 'summary')),
        text TEXT NOT NULL,
        source TEXT NOT NULL,
        exchange_id INTEGER REFERENCES exchanges(id) ON DELETE SET NULL,
        at TEXT NOT NULL,
        encoder TEXT NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE INDEX memories_by_character ON memories(character);
    CREATE TABLE line_text_vectors (
        line_id INTEGER PRIMARY KEY REFERENCES lines(id) ON DELETE CASCADE,
        encoder TEXT NOT NULL,
        text TEXT NOT NULL,
        vector BLOB NOT NULL
    );
    """,
    """
    ALTER TABLE lines ADD COLUMN evidence TEXT;  -- what decided a line's name: text, voice, text+voice
    """,
    # Many films in one workspace. The film a workspace held becomes film 1, its files staying where they
    # were (folder ''); films added later keep theirs under films/<name>/. Per-film rows carry film_id.
    """
    CREATE TABLE films (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,  -- the film's file name without its extension
        path TEXT NOT NULL,
        folder TEXT NOT NULL,  -- its audio and other files, relative to the workspace
        fingerprint TEXT,  -- of the inputs it was last ingested from
        settings TEXT NOT NULL DEFAULT '{}',  -- subtitles, screenplay, language, title, ... as ingested
        added_at TEXT NOT NULL
    );
    INSERT INTO films (id, name, path, folder, settings, added_at)
        SELECT 1, CASE WHEN instr(base, '.') > 0 THEN substr(base, 1, length(rtrim(base, replace(base, '.', ''))) - 1)
                       ELSE base END,
               path, '', (SELECT json_group_object(key, value) FROM settings WHERE key IN
                          ('movie', 'subtitles', 'screenplay', 'subs_offset', 'language', 'title')),
               strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        FROM (SELECT path, replace(path, rtrim(path, replace(path, '/', '')), '') AS base FROM media);
    CREATE TABLE film_media (
        film_id INTEGER PRIMARY KEY REFERENCES films(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        duration REAL NOT NULL,
        sample_rate INTEGER NOT NULL,
        channels INTEGER NOT NULL,
        has_video INTEGER NOT NULL
    );
    INSERT INTO film_media SELECT id, path, duration, sample_rate, channels, has_video FROM media;
    DROP TABLE media;
    ALTER TABLE film_media RENAME TO media;
    CREATE TABLE film_stages (
        film_id INTEGER NOT NULL DEFAULT 1,
        name TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        completed_at TEXT NOT NULL,
        details TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (film_id, name)
    );
    INSERT INTO film_stages (film_id, name, fingerprint, completed_at, details)
        SELECT 1, name, fingerprint, completed_at, details FROM stages;
    DROP TABLE stages;
    ALTER TABLE film_stages RENAME TO stages;
    ALTER TABLE lines ADD COLUMN film_id INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE sound_events ADD COLUMN film_id INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE script_blocks ADD COLUMN film_id INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE speech_regions ADD COLUMN film_id INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE speakers ADD COLUMN film_id INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE turns ADD COLUMN film_id INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX lines_by_film ON lines(film_id, start);
    CREATE INDEX turns_by_film ON turns(film_id, start);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


# The database this process opened last: SQLite's errors do not say which file they are about.
last_opened: Path | None = None


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) a workspace database and bring its schema up to date. Where it cannot be
    written (a read-only folder, file or file system) it is opened read-only, as it is."""
    global last_opened
    last_opened = path
    if not writable(path):
        return _connect_read_only(path)
    conn = sqlite3.connect(path, isolation_level=None)  # explicit transactions only
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn)
    return conn


def writable(path: Path) -> bool:
    """Whether the database at `path` can be written: its folder, and the file where it exists."""
    path = Path(path)
    folder_ok = not path.parent.exists() or os.access(path.parent, os.W_OK)
    return folder_ok and (not path.exists() or os.access(path, os.W_OK))


def _connect_read_only(path: Path) -> sqlite3.Connection:
    # SQLite reads a WAL database read-only only through its -shm index, which it cannot create here. When a
    # log is left (a process was killed), the -shm file beside it serves; with no log the file holds
    # everything and is opened as immutable, which needs no index.
    left = Path(f"{path}-wal").exists()
    uri = f"{Path(path).absolute().as_uri()}?{'mode=ro' if left else 'immutable=1'}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    conn.row_factory = sqlite3.Row
    version = schema_version(conn)
    if version != SCHEMA_VERSION:
        conn.close()
        if version > SCHEMA_VERSION:
            raise CastvoiceError(_newer_schema(version), path)
        raise CastvoiceError("the workspace is read-only and was made by an older castvoice: it must be updated, "
                             "which writes to it; make it writable once", path)
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection) -> None:
    """Apply every migration newer than the database's version, each in its own transaction."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        path = conn.execute("PRAGMA database_list").fetchone()[2] or None
        raise CastvoiceError(_newer_schema(version), path)
    for number in range(version, SCHEMA_VERSION):
        conn.executescript(f"BEGIN; {MIGRATIONS[number]}; PRAGMA user_version = {number + 1}; COMMIT;")


def _newer_schema(version: int) -> str:
    return (f"workspace schema version {version} is newer than this castvoice understands ({SCHEMA_VERSION});"
            " upgrade castvoice or use another workspace")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def stage_fingerprint(conn: sqlite3.Connection, name: str, film: int = 1) -> str | None:
    row = conn.execute("SELECT fingerprint FROM stages WHERE name = ? AND film_id = ?", (name, film)).fetchone()
    return row[0] if row else None


def record_stage(conn: sqlite3.Connection, name: str, fingerprint: str, details: dict, film: int = 1) -> None:
    """Mark a stage of a film complete; call inside the transaction that wrote the stage's results."""
    conn.execute(
        "INSERT OR REPLACE INTO stages (film_id, name, fingerprint, completed_at, details) VALUES (?, ?, ?, ?, ?)",
        (film, name, fingerprint, now(), json.dumps(details)),
    )


def get_setting(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def set_setting(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))


def stage_details(conn: sqlite3.Connection, film: int = 1) -> dict[str, dict]:
    """Stage name -> what it recorded when it last completed for a film (counts, seconds)."""
    return {row["name"]: json.loads(row["details"])
            for row in conn.execute("SELECT name, details FROM stages WHERE film_id = ?", (film,))}


def film_folder(conn: sqlite3.Connection, film: int) -> str:
    """Where a film's files are, relative to the workspace ('' for the workspace itself, also before the film
    is recorded)."""
    row = conn.execute("SELECT folder FROM films WHERE id = ?", (film,)).fetchone()
    return row[0] if row else ""


def fingerprint(*parts: object) -> str:
    """A short hash of a stage's inputs: the stage reruns only when it changes."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:20]
