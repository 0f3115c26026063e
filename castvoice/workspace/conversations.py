"""What the assistant keeps in the workspace: personas, exchanges, memories, and the text embeddings of
film lines. Rows are kept by character name, not id: a character a re-ingest drops keeps its memories."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from castvoice.workspace import Workspace
from castvoice.workspace.db import now

SQLITE_PARAMETERS = 500  # SQLite takes a limited number of parameters in one statement


@dataclass
class Exchange:
    id: int
    conversation: str
    at: str
    message: str
    reply: str


@dataclass
class Memory:
    id: int
    kind: str  # fact or summary
    text: str
    source: str  # rules or model (a fact), model or quotes (a summary), user (told by hand)
    at: str
    exchange_id: int | None = None  # the exchange it came from; for a summary, the last one it covers
    score: float | None = None  # similarity to the query that recalled it


# ---- personas ----

def persona_description(ws: Workspace, character: str) -> str | None:
    """The description the user wrote for a character; None when there is none."""
    row = ws.conn.execute("SELECT description FROM personas WHERE character = ?", (character,)).fetchone()
    return row[0] if row else None


def set_persona_description(ws: Workspace, character: str, description: str | None) -> None:
    """Store a character's description; None removes it."""
    with ws.transaction() as conn:
        if description:
            conn.execute("INSERT OR REPLACE INTO personas (character, description, updated_at) VALUES (?, ?, ?)",
                         (character, description, now()))
        else:
            conn.execute("DELETE FROM personas WHERE character = ?", (character,))


# ---- exchanges ----

def record_exchange(ws: Workspace, character: str, conversation: str, message: str, reply: str) -> Exchange:
    """Store one exchange of a conversation with a character."""
    at = now()
    with ws.transaction() as conn:
        exchange_id = conn.execute(
            "INSERT INTO exchanges (character, conversation, at, message, reply) VALUES (?, ?, ?, ?, ?)",
            (character, conversation, at, message, reply),
        ).lastrowid
    return Exchange(exchange_id, conversation, at, message, reply)


def exchanges(ws: Workspace, character: str, conversation: str | None = None, after: int = 0) -> list[Exchange]:
    """A character's exchanges in the order they happened: of one conversation, or all; only those with ids
    above `after`."""
    query = "SELECT id, conversation, at, message, reply FROM exchanges WHERE character = ? AND id > ?"
    args: tuple = (character, after)
    if conversation is not None:
        query += " AND conversation = ?"
        args += (conversation,)
    return [Exchange(*row) for row in ws.conn.execute(query + " ORDER BY id", args)]


def latest_conversation(ws: Workspace, character: str) -> str | None:
    """The conversation of a character's latest exchange; None before the first."""
    row = ws.conn.execute(
        "SELECT conversation FROM exchanges WHERE character = ? ORDER BY id DESC LIMIT 1", (character,)
    ).fetchone()
    return row[0] if row else None


# ---- memories ----

def memories(ws: Workspace, character: str, kind: str | None = None) -> list[Memory]:
    """A character's facts and summaries, oldest first (only one kind when `kind` is given)."""
    query = "SELECT id, kind, text, source, at, exchange_id FROM memories WHERE character = ?"
    args: tuple = (character,)
    if kind is not None:
        query += " AND kind = ?"
        args += (kind,)
    return [Memory(*row) for row in ws.conn.execute(query + " ORDER BY id", args)]


def conversation_summary(ws: Workspace, character: str, conversation: str) -> Memory | None:
    """The latest summary of a conversation's earlier exchanges, if one was made."""
    row = ws.conn.execute(
        "SELECT m.id, m.kind, m.text, m.source, m.at, m.exchange_id FROM memories m"
        " JOIN exchanges e ON e.id = m.exchange_id"
        " WHERE m.character = ? AND m.kind = 'summary' AND e.conversation = ? ORDER BY m.id DESC LIMIT 1",
        (character, conversation),
    ).fetchone()
    return Memory(*row) if row else None


def add_memory(ws: Workspace, character: str, kind: str, text: str, source: str, exchange_id: int | None,
               encoder: str, vector: bytes, replacing: Sequence[int] = ()) -> Memory:
    """Store a memory with its embedding (made by `encoder`), deleting the memories `replacing` names in
    the same transaction."""
    with ws.transaction() as conn:
        for old in replacing:
            conn.execute("DELETE FROM memories WHERE id = ?", (old,))
        at = now()
        memory_id = conn.execute(
            "INSERT INTO memories (character, kind, text, source, exchange_id, at, encoder, vector)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (character, kind, text, source, exchange_id, at, encoder, vector),
        ).lastrowid
    return Memory(memory_id, kind, text, source, at, exchange_id)


def delete_memory(ws: Workspace, memory_id: int) -> None:
    with ws.transaction() as conn:
        conn.execute("DELETE FROM memories WHERE id = ?", (memory_id,))


def clear_character(ws: Workspace, character: str) -> int:
    """Delete every memory and exchange of a character; returns how many memories went."""
    with ws.transaction() as conn:
        gone = conn.execute("DELETE FROM memories WHERE character = ?", (character,)).rowcount
        conn.execute("DELETE FROM exchanges WHERE character = ?", (character,))
    return gone


def memory_vectors(ws: Workspace, character: str) -> dict[int, tuple[str, bytes]]:
    """Memory id -> (encoder, vector) of a character's memories."""
    return {row[0]: (row[1], row[2]) for row in ws.conn.execute(
        "SELECT id, encoder, vector FROM memories WHERE character = ?", (character,))}


def set_memory_vectors(ws: Workspace, vectors: Sequence[tuple[int, str, bytes]]) -> None:
    """Replace the embeddings of memories: (memory id, encoder, vector) each."""
    with ws.transaction() as conn:
        for memory_id, encoder, vector in vectors:
            conn.execute("UPDATE memories SET encoder = ?, vector = ? WHERE id = ?", (encoder, vector, memory_id))


# ---- text embeddings of film lines ----

def line_text_vectors(ws: Workspace, line_ids: Sequence[int]) -> dict[int, tuple[str, str, bytes]]:
    """Line id -> (encoder, text, vector) of the stored text embeddings among `line_ids`."""
    stored = {}
    for start in range(0, len(line_ids), SQLITE_PARAMETERS):
        ids = list(line_ids[start:start + SQLITE_PARAMETERS])
        query = ("SELECT line_id, encoder, text, vector FROM line_text_vectors"
                 f" WHERE line_id IN ({','.join('?' * len(ids))})")
        stored.update({row[0]: tuple(row[1:]) for row in ws.conn.execute(query, ids)})
    return stored


def store_line_text_vectors(ws: Workspace, vectors: Sequence[tuple[int, str, str, bytes]]) -> None:
    """Keep text embeddings of lines: (line id, encoder, text, vector) each, replacing any stored before."""
    with ws.transaction() as conn:
        for line_id, encoder, text, vector in vectors:
            conn.execute("INSERT OR REPLACE INTO line_text_vectors (line_id, encoder, text, vector)"
                         " VALUES (?, ?, ?, ?)", (line_id, encoder, text, vector))
