"""A workspace's characters and lines, and cutting lines into clips."""

from __future__ import annotations

from pathlib import Path

from castvoice.dataset.clips import Clip
from castvoice.errors import CastvoiceError
from castvoice.workspace import Workspace, catalog
from castvoice.workspace.catalog import CharacterSummary, LineRecord


def characters(ws: Workspace) -> list[CharacterSummary]:
    """Every character with line count and speech seconds; unnamed lines last."""
    return catalog.characters(ws)


def lines(ws: Workspace, name: str | None) -> list[LineRecord]:
    """A character's lines (any case), or every line with `name` None, in film order."""
    return catalog.lines_of(ws, name)


def cut_clips(ws: Workspace, name: str | None, out: Path, every_line: bool = False) -> tuple[list[Clip], Path]:
    """One WAV per line of a character (or, with `every_line`, of every line) into `out`, plus an index of
    them (clips.jsonl); returns the clips and the index."""
    from castvoice.dataset.clips import INDEX
    from castvoice.dataset.clips import cut_clips as cut

    if (name is None) == (not every_line):
        raise CastvoiceError("name a character, or pass --all for every line")
    return cut(ws, name, out), out / INDEX
