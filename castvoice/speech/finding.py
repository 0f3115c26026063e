"""Finding a character by voice: line embeddings, naming unnamed lines and speakers, enrollment by example."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from castvoice.errors import CastvoiceError
from castvoice.media.decode import load_audio, read_analysis
from castvoice.progress import track
from castvoice.workspace import Workspace, catalog, records
from castvoice.workspace.names import drop_unused_characters, name_line, weaker_sources

# CAM++ cosine similarity on real speech (castvoice bench accuracy): same speaker about 0.79,
# different speakers about 0.10, equal error rate at about 0.45.
SAME_VOICE = 0.5
MARGIN = 0.1  # the best character must beat the second best by this much
REFERENCE_CONFIDENCE = 0.8  # text-named lines this sure define what a character sounds like
ENCODER = "campplus"


def _encoder():
    from castvoice.speech.embeddings import get_encoder

    return get_encoder(ENCODER)


def embed_lines(ws: Workspace, batch: int = 32) -> tuple[dict[int, np.ndarray], str]:
    """A voice embedding of every line, from the analysis audio."""
    lines = catalog.all_lines(ws)
    encoder = _encoder()
    vectors: dict[int, np.ndarray] = {}
    with track("embedding voices", total=len(lines)) as progress:
        for first in range(0, len(lines), batch):
            chunk = lines[first : first + batch]
            clips = [read_analysis(ws.analysis_audio, start, end) for _, start, end in chunk]
            vectors.update(zip((line_id for line_id, _, _ in chunk), encoder.embed_many(clips)))
            progress.advance(len(chunk))
    return vectors, ENCODER


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-9)


def name_lines_by_voice(ws: Workspace) -> dict:
    """Name unnamed lines after the character whose voice they match, and flag text-named lines
    whose voice matches another character better than their own. Runs inside the caller's transaction."""
    conn = ws.conn
    ids, vectors = catalog.line_embeddings(ws)
    vectors = _unit(vectors)
    index = {line_id: i for i, line_id in enumerate(ids)}
    rows = catalog.line_naming(ws)
    by_voice = set(weaker_sources("speaker"))
    references: dict[str, list[int]] = {}
    for r in rows:
        if r.character and r.source not in by_voice and (r.confidence or 0) >= REFERENCE_CONFIDENCE:
            references.setdefault(r.character, []).append(index[r.id])
    names = sorted(references)
    sums = np.stack([vectors[references[n]].sum(axis=0) for n in names]) if names else np.zeros((0, vectors.shape[1]))
    counts = np.array([len(references[n]) for n in names])

    named = flagged = 0
    records.clear_voice_marks(conn)
    for r in rows:
        if r.speaker_character and r.source in (None, *by_voice):
            name_line(conn, r.id, r.speaker_character, "speaker", 1.0)
            continue
        if not names:
            continue
        v = vectors[index[r.id]]
        own = np.array([n == r.character and r.source not in by_voice for n in names])
        # A line's own vector is left out of its character's centroid, so it cannot vouch for itself.
        leave_out = own.any() and counts[own][0] > 1
        centroids = _unit(sums - np.outer(own, v)) if leave_out else _unit(sums)
        sims = centroids @ v
        order = np.argsort(-sims)
        best, second = sims[order[0]], (sims[order[1]] if len(order) > 1 else -1.0)
        if r.source in (None, *by_voice):
            if best >= SAME_VOICE and best - second >= MARGIN:
                named += name_line(conn, r.id, names[order[0]], "voice", float(best))
                records.mark_voice(conn, r.id, float(best))
            elif r.source == "voice":
                name_line(conn, r.id, None, "voice", 0.0)
        elif r.character in names:
            mine = float(sims[names.index(r.character)])
            sounds_like = names[order[0]] != r.character and best - mine >= MARGIN and mine < SAME_VOICE
            records.mark_voice(conn, r.id, mine, f"voice sounds like {names[order[0]]}" if sounds_like else None)
            flagged += sounds_like
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
    ids, vectors = catalog.line_embeddings(ws)
    sims = _unit(vectors) @ reference
    lines = {line.id: line for line in catalog.lines_of(ws, None)}
    matches = []
    with ws.transaction() as conn:
        for line_id, sim in sorted(zip(ids, sims.tolist()), key=lambda x: lines[x[0]].start):
            if sim < threshold:
                continue
            named = name_line(conn, line_id, name, "enroll", sim)
            line = lines[line_id]
            matches.append(EnrollMatch(line_id, line.start, line.end, line.text, round(sim, 3), named))
    return matches


def name_speaker(ws: Workspace, label: str, name: str) -> int:
    """Name a diarized speaker; its lines that nothing stronger named take the name. Returns how many."""
    with ws.transaction() as conn:
        line_ids = records.name_speaker(conn, label, name)
        if line_ids is None:
            known = ", ".join(s.label for s in catalog.speakers(ws)) or "none"
            raise CastvoiceError(f"no speaker {label!r} (known: {known})", ws.root)
        return sum(name_line(conn, line_id, name, "speaker", 1.0) for line_id in line_ids)
