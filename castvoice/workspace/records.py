"""Writing what the stages find into the workspace. Each function runs inside the caller's transaction
(`Workspace.transaction()`), so a stage's results land together with its completion record."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from castvoice.dataset.types import DatasetClip
from castvoice.spans import Segment, Word
from castvoice.text.types import DialogueBlock, SubtitleTrack
from castvoice.workspace import db
from castvoice.workspace.names import character_id, drop_unused_characters, name_line


def set_media(conn: sqlite3.Connection, path: Path, duration: float, sample_rate: int, channels: int,
              has_video: bool) -> None:
    """The decoded audio of the film a workspace holds in place (film 1), which is recorded as a film too."""
    conn.execute("INSERT INTO films (id, name, path, folder, added_at) VALUES (1, ?, ?, '', ?)"
                 " ON CONFLICT (id) DO UPDATE SET name = excluded.name, path = excluded.path",
                 (Path(path).stem, str(path), db.now()))
    conn.execute(
        "INSERT OR REPLACE INTO media (film_id, path, duration, sample_rate, channels, has_video)"
        " VALUES (1, ?, ?, ?, ?, ?)",
        (str(path), duration, sample_rate, int(channels), int(has_video)),
    )


def set_film_settings(conn: sqlite3.Connection, film: int, settings: Mapping[str, object],
                      fingerprint: str | None = None) -> None:
    """What a film was ingested with (subtitles, screenplay, language, title, ...), and a fingerprint of it."""
    conn.execute("UPDATE films SET settings = ?, fingerprint = COALESCE(?, fingerprint) WHERE id = ?",
                 (json.dumps({key: str(value) for key, value in settings.items()}), fingerprint, film))


def replace_lines(conn: sqlite3.Connection, track: SubtitleTrack) -> list[int]:
    """The lines and sound events of a subtitle track (or of speech recognition), replacing all before;
    names the subtitles give are set at once. Returns the new lines' ids, in the track's order."""
    conn.execute("DELETE FROM lines")
    conn.execute("DELETE FROM sound_events")
    ids = []
    for cue in track.cues:
        line_id = conn.execute(
            "INSERT INTO lines (start, end, cue_start, cue_end, text, speaker_hint) VALUES (?, ?, ?, ?, ?, ?)",
            (cue.start, cue.end, cue.start, cue.end, cue.text, cue.speaker),
        ).lastrowid
        ids.append(line_id)
        if cue.speaker:
            name_line(conn, line_id, cue.speaker, "subtitle", 1.0)
    conn.executemany(
        "INSERT INTO sound_events (start, end, description) VALUES (?, ?, ?)",
        [(e.start, e.end, e.text) for e in track.events],
    )
    drop_unused_characters(conn)
    return ids


def replace_script_blocks(conn: sqlite3.Connection, blocks: Iterable[DialogueBlock]) -> None:
    conn.execute("DELETE FROM script_blocks")
    conn.executemany(
        "INSERT INTO script_blocks (scene, character, text, parenthetical) VALUES (?, ?, ?, ?)",
        [(b.scene, b.character, b.text, b.parenthetical) for b in blocks],
    )


def replace_words(conn: sqlite3.Connection, aligned: Mapping[int, list[Word]]) -> None:
    """Every line's aligned words, replacing all before; an aligned line then spans its first to last
    word, and a line without words goes back to its cue times."""
    conn.execute("DELETE FROM words")
    conn.execute("UPDATE lines SET start = cue_start, end = cue_end")
    for line_id, words in aligned.items():
        if not words:
            continue
        conn.executemany(
            "INSERT INTO words (line_id, start, end, text) VALUES (?, ?, ?, ?)",
            [(line_id, round(w.start, 3), round(w.end, 3), w.text) for w in words],
        )
        conn.execute("UPDATE lines SET start = ?, end = ? WHERE id = ?",
                     (round(words[0].start, 3), round(words[-1].end, 3), line_id))


def replace_turns(conn: sqlite3.Connection, turns: list[Segment]) -> None:
    """Diarization's speakers and turns, replacing all before; speakers that remain keep their names."""
    labels = list(dict.fromkeys(t.speaker for t in turns))
    conn.execute("UPDATE lines SET speaker_id = NULL")
    conn.execute("DELETE FROM turns")
    known = {r["label"]: r["id"] for r in conn.execute("SELECT id, label FROM speakers")}
    for label in labels:
        if label not in known:
            known[label] = conn.execute("INSERT INTO speakers (label) VALUES (?)", (label,)).lastrowid
    conn.execute(f"DELETE FROM speakers WHERE label NOT IN ({','.join('?' * len(labels))})", labels)
    conn.executemany(
        "INSERT INTO turns (start, end, speaker_id, overlap) VALUES (?, ?, ?, ?)",
        [(round(t.start, 3), round(t.end, 3), known[t.speaker], int(t.overlap)) for t in turns],
    )


def replace_line_embeddings(conn: sqlite3.Connection, vectors: Mapping[int, np.ndarray], encoder: str) -> None:
    conn.execute("DELETE FROM line_embeddings")
    conn.executemany(
        "INSERT INTO line_embeddings (line_id, encoder, vector) VALUES (?, ?, ?)",
        [(line_id, encoder, vector.astype(np.float32).tobytes()) for line_id, vector in vectors.items()],
    )


def assign_line_speakers(conn: sqlite3.Connection) -> None:
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


def clear_voice_marks(conn: sqlite3.Connection) -> None:
    """Forget every line's voice similarity and flag, before they are judged again."""
    conn.execute("UPDATE lines SET flag = NULL, voice_similarity = NULL")


def mark_voice(conn: sqlite3.Connection, line_id: int, similarity: float, flag: str | None = None) -> None:
    """A line's voice similarity to its character, and a flag when it sounds like someone else."""
    conn.execute("UPDATE lines SET voice_similarity = ?, flag = ? WHERE id = ?", (round(similarity, 3), flag, line_id))


def name_speaker(conn: sqlite3.Connection, label: str, name: str) -> list[int] | None:
    """Name a diarized speaker (label in any case); its line ids, or None when there is no such speaker."""
    speaker = conn.execute("SELECT id FROM speakers WHERE label = ? COLLATE NOCASE", (label,)).fetchone()
    if speaker is None:
        return None
    conn.execute("UPDATE speakers SET character_id = ? WHERE id = ?", (character_id(conn, name), speaker[0]))
    return [r[0] for r in conn.execute("SELECT id FROM lines WHERE speaker_id = ?", (speaker[0],))]


def set_line_text(conn: sqlite3.Connection, line_id: int, text: str, was: str | None) -> str | None:
    """Change a line's text when it still reads `was` (None: whatever it reads); returns the text it had, or
    None when there is no such line. The text is left as it was when it no longer reads `was`."""
    row = conn.execute("SELECT text FROM lines WHERE id = ?", (line_id,)).fetchone()
    if row is not None and (was is None or row[0] == was):
        conn.execute("UPDATE lines SET text = ? WHERE id = ?", (text, line_id))
    return None if row is None else row[0]


def store_clip(conn: sqlite3.Connection, clip: DatasetClip, steps: list[dict], line_ids: list[int],
               fingerprint: str, root: Path) -> None:
    """A built dataset clip with its scores and the cleaning steps taken (its file relative to `root`)."""
    conn.execute(
        "INSERT OR REPLACE INTO clips (label, character_id, line_ids, start, end, text, normalized, language, file,"
        " fingerprint, scores, steps, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (clip.id, character_id(conn, clip.character), json.dumps(line_ids), clip.start, clip.end, clip.text,
         clip.normalized, clip.language, str(clip.audio_file.relative_to(root)), fingerprint, json.dumps(clip.scores),
         json.dumps(steps), clip.reason),
    )


def delete_clips(conn: sqlite3.Connection, labels: Iterable[str]) -> None:
    conn.executemany("DELETE FROM clips WHERE label = ?", [(label,) for label in labels])


def set_clip_reasons(conn: sqlite3.Connection, reasons: Mapping[str, str | None]) -> None:
    """Label -> the check a clip fails (None: it passes every check)."""
    conn.executemany("UPDATE clips SET reason = ? WHERE label = ?", [(r, label) for label, r in reasons.items()])


def set_override(conn: sqlite3.Connection, label: str, decision: str) -> None:
    """Include or exclude a clip by hand, whatever its checks say."""
    conn.execute("INSERT OR REPLACE INTO clip_overrides (label, decision) VALUES (?, ?)", (label, decision))


def set_settings(conn: sqlite3.Connection, settings: Mapping[str, object]) -> None:
    for key, value in settings.items():
        db.set_setting(conn, key, str(value))


def replace_overrides(conn: sqlite3.Connection, overrides: Mapping[str, str]) -> None:
    """The clips included or excluded by hand (label -> decision), replacing all before."""
    conn.execute("DELETE FROM clip_overrides")
    conn.executemany("INSERT INTO clip_overrides (label, decision) VALUES (?, ?)", overrides.items())
