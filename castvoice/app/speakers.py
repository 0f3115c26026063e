"""Anonymous speakers and finding characters by voice: list speakers, name one, enroll by example."""

from __future__ import annotations

from pathlib import Path

from castvoice.errors import CastvoiceError
from castvoice.speech.finding import EnrollMatch
from castvoice.workspace import Workspace, catalog
from castvoice.workspace.catalog import SpeakerSummary


def speakers(ws: Workspace) -> list[SpeakerSummary]:
    """The speakers diarization found, longest talkers first, each with a sample clip."""
    return catalog.speakers(ws)


def name_speaker(ws: Workspace, label: str, name: str) -> int:
    """Name a speaker; returns how many of its lines took the name."""
    from castvoice.speech.finding import name_speaker as name_it

    with ws.exclusive():
        return name_it(ws, label, name)


def parse_span(text: str) -> tuple[float, float]:
    """'61.5-64.5' as (61.5, 64.5) seconds."""
    try:
        start, end = (float(part) for part in text.split("-", 1))
    except ValueError:
        raise CastvoiceError(f"--at takes START-END in seconds, e.g. 61.5-64.5, not {text!r}") from None
    if end <= start:
        raise CastvoiceError(f"--at {text}: the end must come after the start")
    return start, end


def enroll(ws: Workspace, name: str, spans: list[tuple[float, float]], sample: Path | None = None,
           threshold: float | None = None) -> list[EnrollMatch]:
    """Name every line whose voice matches an example (movie spans or a recording) as `name`."""
    from castvoice.speech.finding import enroll as find

    with ws.exclusive():
        return find(ws, name, spans, sample, threshold)
