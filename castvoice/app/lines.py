"""A workspace's characters and lines, and cutting lines into clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from castvoice.dataset.clips import Clip
from castvoice.errors import CastvoiceError
from castvoice.workspace import Workspace, catalog, records
from castvoice.workspace.catalog import CharacterSummary, LineRecord
from castvoice.workspace.names import drop_unused_characters, name_line


def characters(ws: Workspace) -> list[CharacterSummary]:
    """Every character with line count and speech seconds; unnamed lines last."""
    return catalog.characters(ws)


def lines(ws: Workspace, name: str | None) -> list[LineRecord]:
    """A character's lines (any case), or every line with `name` None, in film order."""
    return catalog.lines_of(ws, name)


def line(ws: Workspace, line_id: int) -> LineRecord:
    """One line by its id."""
    return catalog.line(ws, line_id)


def edit_text(ws: Workspace, line_id: int, text: str, was: str | None = None) -> LineRecord:
    """Correct what a line says. With `was` (the text as the editor read it) the change is refused when the
    line says something else by now: someone changed it meanwhile, and their change is not overwritten."""
    text = " ".join(text.split())
    if not text:
        raise CastvoiceError(f"line {line_id}: the text cannot be empty")
    with ws.exclusive(), ws.transaction() as conn:
        before = records.set_line_text(conn, line_id, text, was)
    if before is None:
        raise CastvoiceError(f"no line {line_id} in this workspace", ws.root)
    if was is not None and before not in (was, text):
        raise CastvoiceError(f"line {line_id} was changed elsewhere since it was read (it now says {before!r}); "
                             "reload to see it")
    return catalog.line(ws, line_id)


def assign(ws: Workspace, line_id: int, name: str | None) -> LineRecord:
    """Name a line's character by hand (None: nobody); only a name from the subtitles is stronger."""
    with ws.exclusive():
        found = catalog.line(ws, line_id)
        with ws.transaction() as conn:
            changed = name_line(conn, line_id, name, "manual", 1.0)
            drop_unused_characters(conn)
    if not changed and found.character != name:
        raise CastvoiceError(f"line {line_id} is named {found.character} by the {found.source}s, "
                             "which a name given by hand does not override")
    return catalog.line(ws, line_id)


def line_audio(ws: Workspace, line_id: int, pad: float = 0.15) -> tuple[np.ndarray, int]:
    """A line's audio from the movie, with `pad` seconds either side: mono samples and their rate."""
    import soundfile as sf

    found = catalog.line(ws, line_id)
    with sf.SoundFile(ws.source_audio) as audio:
        first = max(0, int((found.start - pad) * audio.samplerate))
        audio.seek(min(first, audio.frames))
        samples = audio.read(max(0, int((found.end + pad) * audio.samplerate) - first), dtype="float32",
                             always_2d=True)
        return samples.mean(axis=1), audio.samplerate


def cut_clips(ws: Workspace, name: str | None, out: Path, every_line: bool = False) -> tuple[list[Clip], Path]:
    """One WAV per line of a character (or, with `every_line`, of every line) into `out`, plus an index of
    them (clips.jsonl); returns the clips and the index."""
    from castvoice.dataset.clips import INDEX
    from castvoice.dataset.clips import cut_clips as cut

    if (name is None) == (not every_line):
        raise CastvoiceError("name a character, or pass --all for every line")
    return cut(ws, name, out), out / INDEX
