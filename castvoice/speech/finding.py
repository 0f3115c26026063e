"""Finding a character by voice: line embeddings, naming lines by screenplay and voice together, naming
unnamed lines and speakers, enrollment by example."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from castvoice.console import log
from castvoice.errors import CastvoiceError
from castvoice.media.decode import load_audio, read_analysis
from castvoice.progress import track
from castvoice.spans import Segment
from castvoice.text.normalize import display_name
from castvoice.workspace import Workspace, catalog, records
from castvoice.workspace.catalog import LineRecord
from castvoice.workspace.names import drop_unused_characters, name_line, weaker_sources

# CAM++ cosine similarity on real speech (castvoice bench accuracy): same speaker about 0.79,
# different speakers about 0.10, equal error rate at about 0.45.
SAME_VOICE = 0.5
MARGIN = 0.1  # the best character must beat the second best by this much
REFERENCE_CONFIDENCE = 0.8  # text-named lines this sure define what a character sounds like
ENCODER = "campplus"
MIN_EMBED_SECONDS = 0.2
# Voice evidence for the screenplay model: log-likelihood ratio per unit of cosine similarity, for a line
# of RELIABLE_SECONDS or more (shorter lines weigh less, by the square root of their share: their
# embeddings are noisier), and the weight of the diarized speaker's other lines.
VOICE_SLOPE = 10.0
RELIABLE_SECONDS = 2.0
SPEAKER_WEIGHT = 1.0
SURE_TEXT = 0.9  # a screenplay name this sure on its wording alone was decided by the text
MIXED_VOICE = 0.3  # below this, a character's surely named lines are not one voice (different: ~0.1)
MIN_VOICE_LINES = 3
EXAMPLE_FLOOR = 0.3  # an enrolled line must stay at least this near the example itself
ENROLL_ROUNDS = 5  # rounds of growing an enrolled character's voice from the lines it accepts


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
            clips = [read_analysis(ws.analysis_audio, *_widened(start, end)) for _, start, end in chunk]
            vectors.update(zip((line_id for line_id, _, _ in chunk), encoder.embed_many(clips)))
            progress.advance(len(chunk))
    return vectors, ENCODER


def _widened(start: float, end: float) -> tuple[float, float]:
    """A line's span, widened about its middle to MIN_EMBED_SECONDS: a line squeezed shorter than a word
    (a cue inside another's time) still gets a voice embedding, from the audio around it."""
    middle, half = (start + end) / 2, max(end - start, MIN_EMBED_SECONDS) / 2
    return max(0.0, middle - half), middle + half


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-9)


def _voice_log_ratios(lines: list[LineRecord], vectors: dict[int, np.ndarray], references: dict[str, list[int]],
                      by_id: dict[int, LineRecord]) -> np.ndarray:
    """lines x characters (sorted names of `references`): how much more each line sounds like each character
    than like the others, from its embedding against the character's reference lines (its own left out)
    and from the diarized speaker's reference lines."""
    names = sorted(references)
    centroids = {n: np.sum([vectors[i] for i in references[n] if i in vectors], axis=0) for n in names}
    per_speaker: dict[str | None, np.ndarray] = {}
    for column, name in enumerate(names):
        for line_id in references[name]:
            speaker = by_id[line_id].speaker
            per_speaker.setdefault(speaker, np.zeros(len(names)))[column] += 1
    ratios = np.zeros((len(lines), len(names)))
    for row, line in enumerate(lines):
        v = vectors.get(line.id)
        if v is not None:
            sims = []
            for name in names:
                centroid = centroids[name] - (v if line.id in references[name] else 0.0)
                sims.append(float(_unit(centroid) @ v) if np.linalg.norm(centroid) > 1e-6 else 0.0)
            weight = min(1.0, np.sqrt((line.end - line.start) / RELIABLE_SECONDS))
            ratios[row] += VOICE_SLOPE * weight * np.asarray(sims)
        counts = per_speaker.get(line.speaker) if line.speaker else None
        if counts is not None:
            own = np.array([line.id in references[n] for n in names], float)
            ratios[row] += SPEAKER_WEIGHT * np.log((counts - own + 1) / (counts.sum() - own.sum() + len(names)))
    return ratios - ratios.mean(axis=1, keepdims=True)


def name_lines_by_screenplay_and_voice(ws: Workspace) -> dict:
    """Name the lines the screenplay may name with its wording, its order and the voices together: each
    character's voice comes from the lines the text alone names surely, and where the wording is
    ambiguous (the same words in several blocks) the voice decides. Each name records what decided it.
    Runs inside the caller's transaction."""
    from castvoice.text.attribution import Evidence, attribute

    blocks = catalog.script_blocks(ws)
    lines = catalog.renamable_lines(ws, "screenplay")
    if not blocks or not lines:
        return {}
    cues = [Segment(line.start, line.end, line.text) for line in lines]
    by_text = attribute(cues, blocks)
    by_id = {line.id: line for line in catalog.lines_of(ws, None)}
    references: dict[str, list[int]] = {}
    for line in by_id.values():
        if line.character and line.source in ("subtitle", "manual", "enroll"):
            references.setdefault(line.character, []).append(line.id)
    for line, found in zip(lines, by_text):
        if found.character and found.confidence >= REFERENCE_CONFIDENCE:
            references.setdefault(display_name(found.character), []).append(line.id)
    ids, matrix = catalog.line_embeddings(ws)
    vectors = dict(zip(ids, _unit(matrix)))
    names = sorted(references)
    mixed = _mixed_voices(references, vectors)
    for name, similarity in mixed.items():
        log.warning("the lines the screenplay surely gives %s do not share one voice (median similarity %.2f to "
                    "each other); check that the screenplay belongs to this film", name, similarity)
    by_name = {display_name(b.character): b.character for b in blocks}
    evidence = Evidence([by_name.get(n, n) for n in names], _voice_log_ratios(lines, vectors, references, by_id))
    decided = Counter()
    for line, text, joint in zip(lines, by_text, attribute(cues, blocks, evidence if names else None)):
        if joint.character is None and line.source != "screenplay":
            continue
        if joint.character is None:
            how = None
        elif joint.character != text.character:
            how = "voice"
        else:
            how = "text" if text.confidence >= SURE_TEXT else "text+voice"
        name_line(ws.conn, line.id, joint.character, "screenplay", joint.confidence, how)
        decided[how] += 1
    drop_unused_characters(ws.conn)
    return {"named_by_text": decided["text"], "named_by_text_and_voice": decided["text+voice"],
            "named_by_voice_over_text": decided["voice"], "left_unnamed": decided[None],
            "characters_of_mixed_voice": sorted(mixed)}


def _mixed_voices(references: dict[str, list[int]], vectors: dict[int, np.ndarray]) -> dict[str, float]:
    """Characters (with MIN_VOICE_LINES lines or more) whose lines do not sound like one voice: the median
    similarity between two of their lines is below MIXED_VOICE."""
    mixed = {}
    for name, line_ids in references.items():
        own = np.stack([vectors[i] for i in line_ids if i in vectors] or [np.zeros(1)])
        if len(own) < MIN_VOICE_LINES:
            continue
        similarity = float(np.median((own @ own.T)[np.triu_indices(len(own), 1)]))
        if similarity < MIXED_VOICE:
            mixed[name] = similarity
    return mixed


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
    is_reference = set()
    for r in rows:
        if r.character and r.source not in by_voice and (r.confidence or 0) >= REFERENCE_CONFIDENCE:
            references.setdefault(r.character, []).append(index[r.id])
            is_reference.add(r.id)
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
        own = np.array([n == r.character and r.id in is_reference for n in names])
        # A line's own vector is left out of its character's centroid, so it cannot vouch for itself.
        leave_out = own.any() and counts[own][0] > 1
        centroids = _unit(sums - np.outer(own, v)) if leave_out else _unit(sums)
        sims = centroids @ v
        order = np.argsort(-sims)
        best, second = sims[order[0]], (sims[order[1]] if len(order) > 1 else -1.0)
        if r.source in (None, *by_voice):
            if best >= SAME_VOICE and best - second >= MARGIN:
                named += name_line(conn, r.id, names[order[0]], "voice", float(best), "voice")
                records.mark_voice(conn, r.id, float(best))
            elif r.source == "voice":
                name_line(conn, r.id, None, "voice", 0.0)
        elif r.character in names:
            mine = float(sims[names.index(r.character)])
            sounds_like = names[order[0]] != r.character and best - mine >= MARGIN and mine < SAME_VOICE
            records.mark_voice(conn, r.id, mine, f"voice sounds like {names[order[0]]}" if sounds_like else None)
            flagged += bool(sounds_like)
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
    """Label every line whose voice matches the character (movie spans or a recording as the example);
    the threshold defaults to SAME_VOICE.

    The character's voice model grows from what it finds: it starts from the example and the lines
    subtitles, the screenplay or the user already gave the character, and each round adds the lines it
    accepted. Against drifting to another speaker, the example stays half of the model, a line must stay
    near the example itself (EXAMPLE_FLOOR) and must sound more like the character than like any other
    named character (MARGIN)."""
    threshold = SAME_VOICE if threshold is None else threshold
    encoder = _encoder()
    if sample is not None:
        examples = [load_audio(sample)]
    elif spans:
        examples = [read_analysis(ws.analysis_audio, s, e) for s, e in spans]
    else:
        raise CastvoiceError("give an example: --at START-END (movie time) or --sample FILE")
    example = _unit(np.mean([_unit(encoder.embed(a)) for a in examples], axis=0))
    ids, vectors = catalog.line_embeddings(ws)
    vectors = _unit(vectors)
    lines = {line.id: line for line in catalog.lines_of(ws, None)}
    known = _named_voices(lines, ids, vectors)
    character = display_name(name)
    rivals = np.stack([v for n, v in known.items() if n.casefold() != character.casefold()] or
                      [np.full(vectors.shape[1], np.nan)])
    rival = np.nan_to_num(np.max(vectors @ rivals.T, axis=1), nan=-1.0)
    near_example = vectors @ example >= EXAMPLE_FLOOR
    own = next((v for n, v in known.items() if n.casefold() == character.casefold()), None)
    model = example if own is None else _unit(example + own)
    accepted = np.zeros(len(ids), bool)
    for _ in range(ENROLL_ROUNDS):
        sims = vectors @ model
        accepting = (sims >= threshold) & near_example & (sims - rival >= MARGIN)
        if np.array_equal(accepting, accepted):
            break
        accepted = accepting
        if accepted.any():
            found = _unit(vectors[accepted].sum(axis=0) + (0 if own is None else own))
            model = _unit(example + found)
    matches = []
    with ws.transaction() as conn:
        for row in sorted(np.flatnonzero(accepted), key=lambda row: lines[ids[row]].start):
            line, similarity = lines[ids[row]], float(sims[row])
            named = name_line(conn, line.id, name, "enroll", similarity, "voice")
            matches.append(EnrollMatch(line.id, line.start, line.end, line.text, round(similarity, 3), named))
    return matches


def _named_voices(lines: dict[int, LineRecord], ids: list[int], vectors: np.ndarray) -> dict[str, np.ndarray]:
    """The voice (mean embedding) of each character named by subtitles, by hand, by example or surely by
    the screenplay."""
    members: dict[str, list[int]] = {}
    for row, line_id in enumerate(ids):
        line = lines[line_id]
        sure = line.source in ("subtitle", "manual", "enroll") or (
            line.source == "screenplay" and (line.confidence or 0) >= REFERENCE_CONFIDENCE)
        if line.character and sure:
            members.setdefault(line.character, []).append(row)
    return {name: _unit(vectors[rows].sum(axis=0)) for name, rows in members.items()}


def name_speaker(ws: Workspace, label: str, name: str) -> int:
    """Name a diarized speaker; its lines that nothing stronger named take the name. Returns how many."""
    with ws.transaction() as conn:
        line_ids = records.name_speaker(conn, label, name)
        if line_ids is None:
            known = ", ".join(s.label for s in catalog.speakers(ws)) or "none"
            raise CastvoiceError(f"no speaker {label!r} (known: {known})", ws.root)
        return sum(name_line(conn, line_id, name, "speaker", 1.0) for line_id in line_ids)


@dataclass
class SpeakerMatch:
    """A speaker of a film matched by voice to the characters of the workspace's other films."""

    speaker: str
    character: str | None  # the character its voice matched, where it matched one surely
    similarity: float  # to that character's voice (else to the nearest one)
    lines_named: int
    conflict: str | None = None  # why it was flagged instead of named


def match_speakers_across_films(ws: Workspace) -> list[SpeakerMatch]:
    """Name the unnamed lines of a film's speakers (`ws` seen from the film) after the character of the other
    films whose voice theirs matches (SAME_VOICE, by MARGIN over the next), with the similarity as the
    confidence. A speaker whose voice matches two characters alike, or whose lines the film's own text names
    as one character while the voice is another's, is flagged on its lines, not named. Runs inside the
    caller's transaction."""
    pooled = ws.for_film(None)
    lines = {line.id: line for line in catalog.lines_of(pooled, None)}
    ids, vectors = catalog.line_embeddings(pooled)
    vectors = _unit(vectors)
    other = [row for row, line_id in enumerate(ids) if lines[line_id].film_id != ws.film]
    known = _named_voices(lines, [ids[row] for row in other], vectors[other]) if other else {}
    names = sorted(known)
    if not names:
        return []
    voices = np.stack([known[n] for n in names])
    by_speaker: dict[str, list[int]] = {}
    for row, line_id in enumerate(ids):
        line = lines[line_id]
        if line.film_id == ws.film and line.speaker:
            by_speaker.setdefault(line.speaker, []).append(row)
    matches = []
    for speaker, rows in sorted(by_speaker.items()):
        sims = voices @ _unit(vectors[rows].sum(axis=0))
        order = np.argsort(-sims)
        best, second = float(sims[order[0]]), float(sims[order[1]]) if len(names) > 1 else -1.0
        character = names[order[0]] if best >= SAME_VOICE and best - second >= MARGIN else None
        speaker_lines = [lines[ids[row]] for row in rows]
        said = Counter(line.character for line in speaker_lines if line.source not in (None, "voice"))
        text_name = said.most_common(1)[0][0] if said else None
        conflict = None
        if best >= SAME_VOICE and character is None:
            conflict = f"voice matches both {names[order[0]]} ({best:.2f}) and {names[order[1]]} ({second:.2f})"
        elif character and text_name and text_name.casefold() != character.casefold():
            conflict = f"named {text_name} in this film but sounds like {character} ({best:.2f})"
        named = 0
        for line in speaker_lines:
            if conflict:
                records.mark_voice(ws.conn, line.id, best, f"{speaker}: {conflict}")
            elif character and line.source in (None, "voice"):
                named += name_line(ws.conn, line.id, character, "voice", best, "voice")
                records.mark_voice(ws.conn, line.id, best)
        matches.append(SpeakerMatch(speaker, character, round(best, 3), named, conflict))
    drop_unused_characters(ws.conn)
    return matches
