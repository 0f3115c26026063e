"""Finding a character without a screenplay, on the demo film: enrollment from one 3 s example."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

TARGET_RECALL = 0.9
TARGET_PRECISION = 0.9
EXAMPLE_SECONDS = 3.0


def _speaker_of(truth: list[dict], start: float, end: float) -> str:
    return max(truth, key=lambda g: min(g["end"], end) - max(g["start"], start))["character"]


def finding_rows(demo: Path | None = None) -> list[dict]:
    """For each demo character: ingest with subtitles only, enroll from 3 s of one of their lines,
    and score the lines named by the example against the ground truth."""
    from castvoice.assets import cache_dir
    from castvoice.demo.film import build
    from castvoice.app.ingest import ingest
    from castvoice.speech.finding import enroll
    from castvoice.workspace import Workspace, copy_workspace

    film = demo or build(cache_dir() / "demo-film")
    truth = json.loads((film.parent / "truth.json").read_text())["segments"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = ingest(film, subs=film.with_suffix(".srt"), workspace=Path(tmp) / "base").workspace
        base.close()
        for character in sorted({g["character"] for g in truth}):
            ws = Workspace(Path(tmp) / character)
            copy_workspace(base.root, ws.root)
            example = next(g for g in truth if g["character"] == character and g["end"] - g["start"] >= EXAMPLE_SECONDS)
            span = (example["start"], example["start"] + EXAMPLE_SECONDS)
            found = enroll(ws, character, [span])
            hits = sum(_speaker_of(truth, m.start, m.end) == character for m in found)
            total = sum(g["character"] == character for g in truth)
            rows.append({
                "character": character,
                "example": f"{span[0]:.2f}-{span[1]:.2f}",
                "lines": total,
                "found": len(found),
                "correct": hits,
                "recall": round(hits / total, 3),
                "precision": round(hits / len(found), 3) if found else 0.0,
            })
            ws.close()
    return rows
