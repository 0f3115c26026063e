"""The speech stages of ingest: word alignment of every line, diarization, and naming by voice."""

from __future__ import annotations

import sqlite3

import numpy as np

from castvoice.console import log, progress
from castvoice.media.cut import Span, write_clip
from castvoice.media.decode import read_analysis
from castvoice.speech.types import Turn, Word
from castvoice.workspace import Workspace, db
from castvoice.workspace.catalog import media_duration

ALIGNMENT_VERSION = "1"
DIARIZATION_VERSION = "1"
VOICES_VERSION = "1"
ALIGN_PAD = 0.5  # how far outside its cue a line's words may be found
ALIGN_BATCH_SECONDS = 120.0  # audio read at a time, so memory stays flat on long movies
SAMPLE_SECONDS = 6.0


def _language(ws: Workspace, requested: str | None) -> str:
    """The spoken language: as requested, as speech recognition found it, or detected now."""
    if requested:
        return requested
    known = db.get_setting(ws.conn, "language")
    if known:
        return known
    from castvoice.speech.asr import detect_language

    rows = ws.conn.execute("SELECT start, end FROM lines ORDER BY start LIMIT 20").fetchall()
    audio = np.concatenate([read_analysis(ws.analysis_audio, r["start"], r["end"]) for r in rows] or [np.zeros(0, np.float32)])
    language = (detect_language(audio[: 30 * 16_000])[0] if len(audio) else None) or "en"
    log.info("spoken language: %s", language)
    return language


def alignment_stage(ws: Workspace, requested_language: str | None):
    """Align every line's text to its audio; the line then spans its first to last word."""
    from castvoice.speech.align import aligner_for

    language = _language(ws, requested_language)
    aligner = aligner_for(language)
    rows = ws.conn.execute("SELECT id, cue_start, cue_end, text FROM lines ORDER BY cue_start, id").fetchall()
    duration = media_duration(ws)
    aligned: dict[int, list[Word]] = {}
    with progress() as bar:
        task = bar.add_task("aligning words", total=len(rows))
        for batch in _batches(rows):
            begin = max(0.0, batch[0]["cue_start"] - ALIGN_PAD)
            finish = min(duration, batch[-1]["cue_end"] + ALIGN_PAD)
            audio = read_analysis(ws.analysis_audio, begin, finish)
            spans = [(r["cue_start"] - begin, r["cue_end"] - begin, r["text"]) for r in batch]
            for row, words in zip(batch, aligner.align_segments(audio, spans, pad=ALIGN_PAD)):
                aligned[row["id"]] = [Word(w.start + begin, w.end + begin, w.text) for w in words]
            bar.advance(task, len(batch))

    def write(conn: sqlite3.Connection) -> dict:
        conn.execute("DELETE FROM words")
        moved = []
        for row in rows:
            words = [w for w in aligned.get(row["id"], []) if w.end > w.start]
            if not words:
                conn.execute("UPDATE lines SET start = cue_start, end = cue_end WHERE id = ?", (row["id"],))
                continue
            conn.executemany(
                "INSERT INTO words (line_id, start, end, text) VALUES (?, ?, ?, ?)",
                [(row["id"], round(w.start, 3), round(w.end, 3), w.text) for w in words],
            )
            start, end = round(words[0].start, 3), round(words[-1].end, 3)
            conn.execute("UPDATE lines SET start = ?, end = ? WHERE id = ?", (start, end, row["id"]))
            moved.append(abs(start - row["cue_start"]))
        db.set_setting(conn, "language", language)
        return {"language": language, "lines": len(rows), "aligned": len(moved),
                "median_start_shift": round(float(np.median(moved)), 3) if moved else None}

    return write


def _batches(rows: list[sqlite3.Row]) -> list[list[sqlite3.Row]]:
    batches: list[list[sqlite3.Row]] = []
    for row in rows:
        if batches and row["cue_end"] - batches[-1][0]["cue_start"] <= ALIGN_BATCH_SECONDS:
            batches[-1].append(row)
        else:
            batches.append([row])
    return batches


def diarization_stage(ws: Workspace, num_speakers: int | None):
    """Who speaks when: anonymous speakers, their turns, and a sample clip of each to listen to."""
    from castvoice.speech.diarize import diarize_file

    turns = diarize_file(ws.analysis_audio, num_speakers=num_speakers)
    samples = ws.root / "speakers"
    labels = list(dict.fromkeys(t.speaker for t in turns))
    for label in labels:
        write_clip(ws.source_audio, _sample_span(turns, label), samples / f"{label}.wav")

    def write(conn: sqlite3.Connection) -> dict:
        conn.execute("UPDATE lines SET speaker_id = NULL")
        conn.execute("DELETE FROM turns")
        known = {r["label"]: r["id"] for r in conn.execute("SELECT id, label FROM speakers")}
        for label in labels:
            if label not in known:
                known[label] = conn.execute("INSERT INTO speakers (label) VALUES (?)", (label,)).lastrowid
        conn.execute(
            f"DELETE FROM speakers WHERE label NOT IN ({','.join('?' * len(labels))})", labels
        )
        conn.executemany(
            "INSERT INTO turns (start, end, speaker_id, overlap) VALUES (?, ?, ?, ?)",
            [(round(t.start, 3), round(t.end, 3), known[t.speaker], int(t.overlap)) for t in turns],
        )
        return {"speakers": len(labels), "turns": len(turns),
                "overlap_seconds": round(sum(t.end - t.start for t in turns if t.overlap), 2)}

    return write


def _sample_span(turns: list[Turn], label: str) -> Span:
    """The speaker's longest turn without overlap (else any), at most SAMPLE_SECONDS long."""
    own = [t for t in turns if t.speaker == label]
    best = max(own, key=lambda t: (not t.overlap, t.end - t.start))
    return Span(best.start, min(best.end, best.start + SAMPLE_SECONDS))


def voices_stage(ws: Workspace):
    """Embed every line's voice, note its diarized speaker, and name or flag lines by voice."""
    from castvoice.speech.finding import embed_lines, name_lines_by_voice

    vectors, encoder = embed_lines(ws)

    def write(conn: sqlite3.Connection) -> dict:
        conn.execute("DELETE FROM line_embeddings")
        conn.executemany(
            "INSERT INTO line_embeddings (line_id, encoder, vector) VALUES (?, ?, ?)",
            [(line_id, encoder, vector.astype(np.float32).tobytes()) for line_id, vector in vectors.items()],
        )
        _assign_speakers(conn)
        return name_lines_by_voice(conn)

    return write


def _assign_speakers(conn: sqlite3.Connection) -> None:
    """Give each line the diarized speaker that covers most of it."""
    turns = conn.execute("SELECT start, end, speaker_id FROM turns ORDER BY start").fetchall()
    for line in conn.execute("SELECT id, start, end FROM lines").fetchall():
        cover: dict[int, float] = {}
        for t in turns:
            shared = min(t["end"], line["end"]) - max(t["start"], line["start"])
            if shared > 0:
                cover[t["speaker_id"]] = cover.get(t["speaker_id"], 0.0) + shared
        speaker = max(cover, key=cover.get) if cover else None
        conn.execute("UPDATE lines SET speaker_id = ? WHERE id = ?", (speaker, line["id"]))
