"""`castvoice clips`: one WAV per line of a character, plus clips.jsonl describing them."""

from __future__ import annotations

import json
from itertools import groupby
from dataclasses import dataclass
from pathlib import Path

from castvoice.atomic import write_text_atomic
from castvoice.media.cut import plan_cuts, write_clip
from castvoice.spans import Span
from castvoice.progress import track
from castvoice.text.normalize import slug
from castvoice.workspace import Workspace
from castvoice.workspace.catalog import all_lines, lines_of, media_duration

INDEX = "clips.jsonl"  # one JSON object per clip, beside the WAV files


@dataclass
class Clip:
    file: str
    line_id: int
    start: float  # where the clip was cut
    end: float
    line_start: float  # the line's own timing
    line_end: float
    text: str
    character: str | None
    confidence: float | None
    film: str | None = None  # the film it was cut from


def cut_clips(ws: Workspace, name: str | None, out: Path) -> list[Clip]:
    """Write a character's clips (name None: every line's), from every film, into `out` and return what was
    written."""
    lines = lines_of(ws, name)
    out.mkdir(parents=True, exist_ok=True)
    clips = []
    with track(f"cutting {name or 'all lines'}", total=len(lines)) as progress:
        for film_id, film_lines in groupby(lines, key=lambda line: line.film_id):
            film = ws.for_film(film_id)
            film_lines = list(film_lines)
            spans = all_lines(film)
            index_of = {line_id: i for i, (line_id, _, _) in enumerate(spans)}
            wanted = [index_of[line.id] for line in film_lines]
            cuts = plan_cuts([Span(s, e) for _, s, e in spans], film.analysis_audio, media_duration(film), wanted)
            for line, i in zip(film_lines, wanted):
                cut = cuts[i]
                file = f"{slug(line.character or 'unnamed')}_{len(clips) + 1:03d}_{round(line.start * 1000):07d}.wav"
                write_clip(film.source_audio, cut, out / file)
                clips.append(Clip(file, line.id, round(cut.start, 3), round(cut.end, 3), line.start, line.end,
                                  line.text, line.character, line.confidence, line.film))
                progress.advance()
    write_text_atomic(out / INDEX, "".join(json.dumps(vars(c)) + "\n" for c in clips))
    return clips
