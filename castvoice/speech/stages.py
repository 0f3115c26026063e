"""The speech stages of ingest: word alignment of every line, diarization, and naming by voice."""

from __future__ import annotations

import sqlite3

import numpy as np

from castvoice.console import log
from castvoice.media.cut import write_clip
from castvoice.media.decode import read_analysis
from castvoice.progress import track
from castvoice.spans import Segment, Span, Word
from castvoice.workspace import Workspace, catalog, db, records
from castvoice.workspace.catalog import LineCue

ALIGNMENT_VERSION = "1"
DIARIZATION_VERSION = "2"
VOICES_VERSION = "2"
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

    first = catalog.all_lines(ws)[:20]
    audio = np.concatenate([read_analysis(ws.analysis_audio, start, end) for _, start, end in first]
                           or [np.zeros(0, np.float32)])
    language = (detect_language(audio[: 30 * 16_000])[0] if len(audio) else None) or "en"
    log.info("spoken language: %s", language)
    return language


def alignment_stage(ws: Workspace, requested_language: str | None):
    """Align every line's text to its audio; the line then spans its first to last word."""
    from castvoice.speech.align import aligner_for

    language = _language(ws, requested_language)
    aligner = aligner_for(language)
    cues = catalog.line_cues(ws)
    duration = catalog.media_duration(ws)
    aligned: dict[int, list[Word]] = {}
    with track("aligning words", total=len(cues)) as progress:
        for batch in _batches(cues):
            begin = max(0.0, batch[0].cue_start - ALIGN_PAD)
            finish = min(duration, batch[-1].cue_end + ALIGN_PAD)
            audio = read_analysis(ws.analysis_audio, begin, finish)
            spans = [(cue.cue_start - begin, cue.cue_end - begin, cue.text) for cue in batch]
            for cue, words in zip(batch, aligner.align_segments(audio, spans, pad=ALIGN_PAD)):
                aligned[cue.id] = [Word(w.start + begin, w.end + begin, w.text) for w in words if w.end > w.start]
            progress.advance(len(batch))
    moved = [abs(round(aligned[cue.id][0].start, 3) - cue.cue_start) for cue in cues if aligned.get(cue.id)]

    def write(conn: sqlite3.Connection) -> dict:
        records.replace_words(conn, aligned)
        db.set_setting(conn, "language", language)
        return {"language": language, "lines": len(cues), "aligned": len(moved),
                "median_start_shift": round(float(np.median(moved)), 3) if moved else None}

    return write


def _batches(cues: list[LineCue]) -> list[list[LineCue]]:
    batches: list[list[LineCue]] = []
    for cue in cues:
        if batches and cue.cue_end - batches[-1][0].cue_start <= ALIGN_BATCH_SECONDS:
            batches[-1].append(cue)
        else:
            batches.append([cue])
    return batches


def diarization_stage(ws: Workspace, num_speakers: int | None):
    """Who speaks when: anonymous speakers, their turns, and a sample clip of each to listen to."""
    from castvoice.speech.diarize import diarize_file, overlapped_seconds

    turns = diarize_file(ws.analysis_audio, num_speakers=num_speakers)
    labels = list(dict.fromkeys(t.speaker for t in turns))
    for label in labels:
        write_clip(ws.source_audio, _sample_span(turns, label), ws.speaker_sample(label))

    def write(conn: sqlite3.Connection) -> dict:
        records.replace_turns(conn, turns)
        return {"speakers": len(labels), "turns": len(turns),
                "overlap_seconds": round(overlapped_seconds(turns), 2)}

    return write


def _sample_span(turns: list[Segment], label: str) -> Span:
    """The speaker's longest turn without overlap (else any), at most SAMPLE_SECONDS long."""
    own = [t for t in turns if t.speaker == label]
    best = max(own, key=lambda t: (not t.overlap, t.end - t.start))
    return Span(best.start, min(best.end, best.start + SAMPLE_SECONDS))


def voices_stage(ws: Workspace):
    """Embed every line's voice, note its diarized speaker, name lines by screenplay and voice together,
    and name or flag the rest by voice."""
    from castvoice.speech.finding import embed_lines, name_lines_by_screenplay_and_voice, name_lines_by_voice

    vectors, encoder = embed_lines(ws)

    def write(conn: sqlite3.Connection) -> dict:
        records.replace_line_embeddings(conn, vectors, encoder)
        records.assign_line_speakers(conn)
        return {**name_lines_by_screenplay_and_voice(ws), **name_lines_by_voice(ws)}

    return write

