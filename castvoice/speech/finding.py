"""Finding a character by voice: line embeddings, naming unnamed lines, enrollment by example."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from castvoice.console import progress
from castvoice.errors import CastvoiceError
from castvoice.media.decode import load_audio, read_analysis
from castvoice.workspace import Workspace
from castvoice.workspace.names import drop_unused_characters, name_line, weaker_sources

# CAM++ cosine similarity on real speech (castvoice bench accuracy): same speaker about 0.79,
# different speakers about 0.10, equal error rate at about 0.45.
SAME_VOICE = 0.5
MARGIN = 0.1  # the best character must beat the second best by this much
REFERENCE_CONFIDENCE = 0.8  # text-named lines this sure define what a character sounds like
ENCODER = "campplus"


def _encoder():
    from castvoice.speech.speakers import get_encoder

    return get_encoder(ENCODER)


def embed_lines(ws: Workspace, batch: int = 32) -> tuple[dict[int, np.ndarray], str]:
    """A voice embedding of every line, from the analysis audio."""
    rows = ws.conn.execute("SELECT id, start, end FROM lines ORDER BY start, id").fetchall()
    encoder = _encoder()
    vectors: dict[int, np.ndarray] = {}
    with progress() as bar:
        task = bar.add_task("embedding voices", total=len(rows))
        for first in range(0, len(rows), batch):
            chunk = rows[first : first + batch]
            clips = [read_analysis(ws.analysis_audio, r["start"], r["end"]) for r in chunk]
            vectors.update(zip((r["id"] for r in chunk), encoder.embed_many(clips)))
            bar.advance(task, len(chunk))
    return vectors, ENCODER


def stored_embeddings(conn: sqlite3.Connection) -> tuple[list[int], np.ndarray]:
    rows = conn.execute("SELECT line_id, vector FROM line_embeddings ORDER BY line_id").fetchall()
    if not rows:
        raise CastvoiceError("no voice embeddings in this workspace; run `castvoice ingest` without --text-only")
    return [r[0] for r in rows], np.stack([np.frombuffer(r[1], np.float32) for r in rows])


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-9)


def name_lines_by_voice(conn: sqlite3.Connection) -> dict:
    """Name unnamed lines after the character whose voice they match, and flag text-named lines
    whose voice matches another character better than their own."""
    ids, vectors = stored_embeddings(conn)
    vectors = _unit(vectors)
    index = {line_id: i for i, line_id in enumerate(ids)}
    rows = conn.execute(
        "SELECT l.id, l.character_id, c.name, l.name_source, l.confidence, s.character_id AS speaker_character"
        " FROM lines l LEFT JOIN characters c ON c.id = l.character_id LEFT JOIN speakers s ON s.id = l.speaker_id"
    ).fetchall()
    by_voice = set(weaker_sources("speaker"))
    references: dict[str, list[int]] = {}
    for r in rows:
        if r["name"] and r["name_source"] not in by_voice and (r["confidence"] or 0) >= REFERENCE_CONFIDENCE:
            references.setdefault(r["name"], []).append(index[r["id"]])
    names = sorted(references)
    sums = np.stack([vectors[references[n]].sum(axis=0) for n in names]) if names else np.zeros((0, vectors.shape[1]))
    counts = np.array([len(references[n]) for n in names])

    named = flagged = 0
    conn.execute("UPDATE lines SET flag = NULL, voice_similarity = NULL")
    for r in rows:
        if r["speaker_character"] and r["name_source"] in (None, *by_voice):
            name = conn.execute("SELECT name FROM characters WHERE id = ?", (r["speaker_character"],)).fetchone()[0]
            name_line(conn, r["id"], name, "speaker", 1.0)
            continue
        if not names:
            continue
        v = vectors[index[r["id"]]]
        own = np.array([n == r["name"] and r["name_source"] not in by_voice for n in names])
        # A line's own vector is left out of its character's centroid, so it cannot vouch for itself.
        leave_out = own.any() and counts[own][0] > 1
        centroids = _unit(sums - np.outer(own, v)) if leave_out else _unit(sums)
        sims = centroids @ v
        order = np.argsort(-sims)
        best, second = sims[order[0]], (sims[order[1]] if len(order) > 1 else -1.0)
        if r["name_source"] in (None, *by_voice):
            if best >= SAME_VOICE and best - second >= MARGIN:
                named += name_line(conn, r["id"], names[order[0]], "voice", float(best))
                conn.execute("UPDATE lines SET voice_similarity = ? WHERE id = ?", (round(float(best), 3), r["id"]))
            elif r["name_source"] == "voice":
                name_line(conn, r["id"], None, "voice", 0.0)
        elif r["name"] in names:
            mine = float(sims[names.index(r["name"])])
            conn.execute("UPDATE lines SET voice_similarity = ? WHERE id = ?", (round(mine, 3), r["id"]))
            if names[order[0]] != r["name"] and best - mine >= MARGIN and mine < SAME_VOICE:
                conn.execute("UPDATE lines SET flag = ? WHERE id = ?", (f"voice sounds like {names[order[0]]}", r["id"]))
                flagged += 1
    drop_unused_characters(conn)
    return {"named_by_voice": named, "flagged": flagged, "characters_with_voice": len(names)}


@dataclass
class EnrollMatch:
    line_id: int
    start: float
    end: float
    text: str
    similarity: float
    named: bool  # False: it matched but a stronger source had named it already


def enroll(ws: Workspace, name: str, spans: list[tuple[float, float]] | None = None,
           sample: Path | None = None, threshold: float | None = None) -> list[EnrollMatch]:
    """Label every line whose voice matches the example (movie spans or a recording); the
    threshold defaults to SAME_VOICE."""
    threshold = SAME_VOICE if threshold is None else threshold
    encoder = _encoder()
    if sample is not None:
        examples = [load_audio(sample)]
    elif spans:
        examples = [read_analysis(ws.analysis_audio, s, e) for s, e in spans]
    else:
        raise CastvoiceError("give an example: --at START-END (movie time) or --sample FILE")
    reference = _unit(np.mean([_unit(encoder.embed(a)) for a in examples], axis=0))
    ids, vectors = stored_embeddings(ws.conn)
    sims = _unit(vectors) @ reference
    lines = {r["id"]: r for r in ws.conn.execute("SELECT id, start, end, text FROM lines")}
    matches = []
    with ws.transaction() as conn:
        for line_id, sim in sorted(zip(ids, sims.tolist()), key=lambda x: lines[x[0]]["start"]):
            if sim < threshold:
                continue
            named = name_line(conn, line_id, name, "enroll", sim)
            row = lines[line_id]
            matches.append(EnrollMatch(line_id, row["start"], row["end"], row["text"], round(sim, 3), named))
    return matches


@dataclass
class SpeakerSummary:
    label: str
    name: str | None
    seconds: float
    turns: int
    lines: int
    sample: str


def speakers(ws: Workspace) -> list[SpeakerSummary]:
    """The diarized speakers, longest talkers first."""
    rows = ws.conn.execute(
        "SELECT s.label, c.name, COALESCE(SUM(t.end - t.start), 0) AS seconds, COUNT(t.id) AS turns,"
        " (SELECT COUNT(*) FROM lines l WHERE l.speaker_id = s.id) AS lines"
        " FROM speakers s LEFT JOIN characters c ON c.id = s.character_id LEFT JOIN turns t ON t.speaker_id = s.id"
        " GROUP BY s.id ORDER BY seconds DESC"
    ).fetchall()
    return [SpeakerSummary(r["label"], r["name"], round(r["seconds"], 2), r["turns"], r["lines"],
                           str(ws.root / "speakers" / f"{r['label']}.wav")) for r in rows]


def name_speaker(ws: Workspace, label: str, name: str) -> int:
    """Name a diarized speaker; its lines that nothing stronger named take the name. Returns how many."""
    from castvoice.workspace.names import character_id

    with ws.transaction() as conn:
        speaker = conn.execute("SELECT id FROM speakers WHERE label = ? COLLATE NOCASE", (label,)).fetchone()
        if speaker is None:
            known = ", ".join(r[0] for r in conn.execute("SELECT label FROM speakers")) or "none"
            raise CastvoiceError(f"no speaker {label!r} (known: {known})", ws.root)
        conn.execute("UPDATE speakers SET character_id = ? WHERE id = ?", (character_id(conn, name), speaker[0]))
        line_ids = [r[0] for r in conn.execute("SELECT id FROM lines WHERE speaker_id = ?", (speaker[0],))]
        return sum(name_line(conn, line_id, name, "speaker", 1.0) for line_id in line_ids)
