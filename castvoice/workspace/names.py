"""Writing character names onto lines, with where each name came from."""

from __future__ import annotations

import sqlite3

from castvoice.text.normalize import display_name

# What named a line, strongest first; a weaker source never overwrites a stronger one.
SOURCES = ("subtitle", "manual", "screenplay", "enroll", "speaker", "voice")
# Names a person gave by hand or by example: a rerun carries them over to the new lines, or refuses.
USER_SOURCES = ("manual", "enroll")


def character_id(conn: sqlite3.Connection, name: str) -> int:
    """The id of a character, created on first use; names match case-insensitively."""
    conn.execute("INSERT OR IGNORE INTO characters (name) VALUES (?)", (display_name(name),))
    return conn.execute("SELECT id FROM characters WHERE name = ?", (display_name(name),)).fetchone()[0]


def weaker_sources(source: str) -> tuple[str, ...]:
    """Sources a name from `source` may replace (itself included)."""
    return SOURCES[SOURCES.index(source):]


def name_line(conn: sqlite3.Connection, line_id: int, name: str | None, source: str, confidence: float,
              evidence: str | None = None) -> bool:
    """Name a line (None: unname it) unless a stronger source already named it; True if it changed.
    `evidence` says what decided a name inferred from the screenplay or the voice (text, voice, text+voice)."""
    placeholders = ",".join("?" * len(weaker_sources(source)))
    changed = conn.execute(
        f"UPDATE lines SET character_id = ?, name_source = ?, confidence = ?, evidence = ?"
        f" WHERE id = ? AND (name_source IS NULL OR name_source IN ({placeholders}))",
        (character_id(conn, name) if name else None, source if name else None, round(confidence, 3),
         evidence if name else None, line_id, *weaker_sources(source)),
    ).rowcount
    return bool(changed)


def drop_unused_characters(conn: sqlite3.Connection) -> None:
    """Forget characters that no line and no speaker refers to any more, unless the character has a persona,
    memories or conversations: those belong to the user and keep the character known."""
    conn.execute(
        "DELETE FROM characters WHERE id NOT IN (SELECT character_id FROM lines WHERE character_id IS NOT NULL)"
        " AND id NOT IN (SELECT character_id FROM speakers WHERE character_id IS NOT NULL)"
        " AND name NOT IN (SELECT character FROM personas UNION SELECT character FROM memories"
        " UNION SELECT character FROM exchanges)"
    )
