"""Rerunning ingest with other inputs keeps what the user decided by hand, refuses when it cannot, and keeps
a copy of the database that `castvoice undo` brings back."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from castvoice.workspace import copy_workspace
from conftest import castvoice

pytestmark = pytest.mark.slow  # the demo film, ingested


def _dump(root: Path) -> list[str]:
    with closing(sqlite3.connect(root / "castvoice.db")) as conn:
        return list(conn.iterdump())


def _lines(root: Path, name: str | None = None) -> list[dict]:
    return json.loads(castvoice("lines", *([name] if name else []), "--json", "-w", root).stdout)


def _every_other_cue(source: Path, target: Path) -> Path:
    """Subtitles with every other cue of `source`."""
    cues = source.read_text(encoding="utf-8").strip().split("\n\n")
    target.write_text("\n\n".join(cues[::2]) + "\n", encoding="utf-8")
    return target


def test_a_rerun_without_inputs_uses_those_given_before(demo, demo_workspace, tmp_path):
    root = copy_workspace(demo_workspace, tmp_path / "ws")
    done = castvoice("ingest", demo / "demo.mp4", "-w", root)
    assert "stages run: none" in done.stdout and "as given before" in done.stdout
    assert {line["character"] for line in _lines(root)} == {"Diane", "Marcus", "Oliver"}


def test_names_given_by_example_follow_their_lines_or_the_rerun_refuses(demo, demo_workspace, truth, tmp_path):
    root = copy_workspace(demo_workspace, tmp_path / "ws")
    castvoice("ingest", demo / "demo.mp4", "--no-script", "-w", root)
    assert not any(line["source"] == "screenplay" for line in _lines(root))
    diane = [s for s in truth if s["character"] == "DIANE"]
    castvoice("enroll", "Diane", "--at", f"{diane[0]['start']}-{diane[0]['end']}", "-w", root)
    enrolled = {line["start"]: line["text"] for line in _lines(root, "Diane") if line["source"] == "enroll"}
    assert len(enrolled) >= 10

    # Subtitles moved by a fraction of a second: every name finds its line again.
    castvoice("ingest", demo / "demo.mp4", "--subs-offset", "0.15", "-w", root)
    kept = [line for line in _lines(root, "Diane") if line["source"] == "enroll"]
    assert sorted(line["text"] for line in kept) == sorted(enrolled.values())

    # Subtitles with half the cues: names would be lost, so nothing changes and one line says why.
    half = _every_other_cue(demo / "demo.srt", tmp_path / "half.srt")
    count = len(_lines(root))
    before = _dump(root)
    refused = castvoice("ingest", demo / "demo.mp4", "--subs", half, "-w", root, check=False)
    assert refused.returncode == 2
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--discard-edits" in errors[0] and "names given by hand or by example" in errors[0]
    assert _dump(root) == before

    # Accepting the loss goes ahead; undo brings the names back.
    done = castvoice("ingest", demo / "demo.mp4", "--subs", half, "--discard-edits", "-w", root)
    assert "castvoice undo" in done.stdout
    assert len(_lines(root)) < count
    castvoice("undo", "-w", root)
    assert len(_lines(root)) == count
    assert sorted(line["text"] for line in _lines(root, "Diane") if line["source"] == "enroll") == \
        sorted(enrolled.values())
    castvoice("undo", "-w", root)  # an undo can be undone
    assert len(_lines(root)) < count


def test_clip_decisions_and_memories_survive_a_rerun(demo, demo_workspace, tmp_path):
    root = copy_workspace(demo_workspace, tmp_path / "ws")
    castvoice("clean", "Diane", "--denoise", "none", "-w", root)
    clips = json.loads(castvoice("review", "Diane", "--json", "-w", root).stdout)
    chosen = next(c for c in clips if c["kept"])
    castvoice("exclude", chosen["id"], "-w", root)
    castvoice("persona", "Diane", "--set", "A lighthouse keeper who trusts nobody.", "-w", root)

    castvoice("ingest", demo / "demo.mp4", "--subs-offset", "0.15", "-w", root)
    clips = json.loads(castvoice("review", "Diane", "--json", "-w", root).stdout)
    excluded = [c for c in clips if c["override"] == "exclude"]
    assert [c["text"] for c in excluded] == [chosen["text"]]

    # Without the screenplay nobody is named Diane any more, but her persona is the user's and stays.
    castvoice("ingest", demo / "demo.mp4", "--no-script", "-w", root)
    shown = json.loads(castvoice("persona", "diane", "--json", "-w", root).stdout)
    assert shown["description"] == "A lighthouse keeper who trusts nobody." and shown["edited"]
    assert castvoice("memory", "Diane", "list", "-w", root).returncode == 0
