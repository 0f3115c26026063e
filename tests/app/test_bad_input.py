"""Bad input through the real CLI: a one-line error, exit status 2, and the workspace left as it was."""

from __future__ import annotations

import json
import random
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from castvoice.workspace import ENV_VAR, copy_workspace
from conftest import castvoice
from tiny_media import error_line, snapshot, write_tone, write_video_only

SCREENPLAY = """INT. KITCHEN - NIGHT

Leo pours coffee. Mia watches the rain.

                    LEO
          First line here.

                    MIA
          The second line.
"""

SUBS = """1
00:00:00,200 --> 00:00:00,800
First line here.

2
00:00:01,000 --> 00:00:01,600
The second line.
"""


@pytest.fixture(autouse=True)
def no_workspace_from_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Good and bad input files, each small."""
    folder = tmp_path_factory.mktemp("inputs")
    write_tone(folder / "tone.mkv")
    (folder / "good.srt").write_text(SUBS)
    (folder / "good.screenplay.txt").write_text(SCREENPLAY)
    (folder / "movie.mp4").write_text("These are notes about a movie, not the movie itself.\n" * 20)
    (folder / "random.mkv").write_bytes(random.Random(1).randbytes(20_000))
    (folder / "noise.aac").write_bytes(random.Random(2).randbytes(20_000))  # the ADTS demuxer accepts it
    write_video_only(folder / "silent.mp4")
    write_tone(folder / "spoiled.mkv", codec="aac", spoil_after=8)  # decodes at first, fails later
    (folder / "prose.srt").write_text(
        "It was a dark and stormy night.\nThe rain fell in torrents, except at occasional intervals.\n"
    )
    (folder / "picture.srt").write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"
        + bytes(range(256))
    )
    (folder / "quiet.txt").write_text(
        "The morning is quiet. Nobody speaks.\n\nRain falls on the roof for hours.\n\n"
        "Later the sun comes out and the street dries.\n"
    )
    return folder


@pytest.fixture(scope="module")
def small_workspace(inputs, tmp_path_factory) -> Path:
    """The tone movie ingested with subtitles and screenplay (copy it; never change it)."""
    root = tmp_path_factory.mktemp("ws") / "tone"
    castvoice("ingest", "--text-only", inputs / "tone.mkv", "--subs", inputs / "good.srt",
              "--script", inputs / "good.screenplay.txt", "-w", root)
    with closing(sqlite3.connect(root / "castvoice.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM lines WHERE character_id IS NOT NULL").fetchone()[0] == 2
    return root


# (movie, extra arguments, the file the error must name, words the error must contain)
CASES = {
    "text named .mp4": ("movie.mp4", [], "movie.mp4", "not a media file"),
    "random bytes": ("random.mkv", [], "random.mkv", "not a media file"),
    "random bytes named .aac": ("noise.aac", [], "noise.aac", "could not be decoded"),
    "video without audio": ("silent.mp4", [], "silent.mp4", "no audio"),
    "missing movie": ("nowhere.mp4", [], "nowhere.mp4", "not found"),
    "prose as subtitles": ("tone.mkv", ["--subs", "prose.srt"], "prose.srt", "not a subtitle file"),
    "PNG as subtitles": ("tone.mkv", ["--subs", "picture.srt"], "picture.srt", "not a subtitle file"),
    "missing subtitles": ("tone.mkv", ["--subs", "nowhere.srt"], "nowhere.srt", "not found"),
    "screenplay without dialogue": ("tone.mkv", ["--script", "quiet.txt"], "quiet.txt", "no dialogue"),
    "audio that fails part-way": ("spoiled.mkv", ["--subs", "good.srt"], "spoiled.mkv", "could not be decoded"),
}


def _ingest_args(inputs: Path, case: str) -> tuple[list, str, str]:
    movie, extra, name, words = CASES[case]
    extra = [inputs / arg if arg.endswith((".srt", ".txt")) else arg for arg in extra]
    return ["ingest", inputs / movie, *extra], name, words


@pytest.mark.parametrize("case", CASES)
def test_bad_input_into_a_new_workspace_creates_nothing(inputs, tmp_path, case):
    args, name, words = _ingest_args(inputs, case)
    target = tmp_path / "new" / "ws"
    line = error_line(castvoice(*args, "-w", target, check=False), name)
    assert words in line
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("case", ["text named .mp4", "random bytes named .aac", "audio that fails part-way"])
def test_bad_input_without_w_leaves_the_folder_empty(inputs, tmp_path, case):
    args, name, words = _ingest_args(inputs, case)
    cwd = tmp_path / "here"
    cwd.mkdir()
    line = error_line(castvoice(*args, cwd=cwd, check=False), name)
    assert words in line
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize("case", CASES)
def test_bad_input_leaves_an_existing_workspace_untouched(inputs, small_workspace, tmp_path, case):
    args, name, words = _ingest_args(inputs, case)
    root = tmp_path / "ws"
    copy_workspace(small_workspace, root)
    before = snapshot(root)
    line = error_line(castvoice(*args, "-w", root, check=False), name)
    assert words in line
    assert snapshot(root) == before


def test_the_workspace_still_works_after_a_refused_ingest(inputs, small_workspace, tmp_path):
    root = tmp_path / "ws"
    copy_workspace(small_workspace, root)
    castvoice("ingest", "--text-only", inputs / "spoiled.mkv", "--subs", inputs / "good.srt", "-w", root, check=False)
    again = castvoice("ingest", "--text-only", inputs / "tone.mkv", "--subs", inputs / "good.srt",
                      "--script", inputs / "good.screenplay.txt", "-w", root)
    assert "up to date: media, lines, screenplay, attribution" in again.stdout
    names = [row["name"] for row in json.loads(castvoice("characters", "--json", "-w", root).stdout)]
    assert sorted(names) == ["Leo", "Mia"]


def test_cues_past_the_end_are_clamped_or_dropped_with_a_warning(inputs, tmp_path):
    subs = tmp_path / "long.srt"
    subs.write_text(
        "1\n00:00:00,500 --> 00:00:01,000\nLEO: Inside the movie.\n\n"
        "2\n00:00:01,500 --> 00:00:03,000\nLEO: Runs past the end.\n\n"
        "3\n00:00:02,000 --> 00:00:02,500\nLEO: Starts right at the end.\n\n"
        "4\n00:00:02,500 --> 00:00:04,000\nLEO: Starts after the end.\n"
    )
    root = tmp_path / "ws"
    done = castvoice("ingest", "--text-only", inputs / "tone.mkv", "--subs", subs, "-w", root, check=False)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.lower()
    warnings = [line for line in done.stderr.splitlines() if "long.srt" in line]
    assert any("2 cues start after the end" in line and "dropped" in line for line in warnings), done.stderr
    assert any("1 cue end after the end" in line and "clamped" in line for line in warnings), done.stderr

    with closing(sqlite3.connect(root / "castvoice.db")) as conn:
        duration = conn.execute("SELECT duration FROM media").fetchone()[0]
        stored = conn.execute("SELECT start, end, text FROM lines ORDER BY start").fetchall()
    assert duration == pytest.approx(2.0, abs=1e-3)
    assert stored == [(0.5, 1.0, "Inside the movie."), (1.5, pytest.approx(duration, abs=1e-3), "Runs past the end.")]

    listed = json.loads(castvoice("lines", "leo", "--json", "-w", root).stdout)
    assert [(r["start"], r["end"]) for r in listed] == [(0.5, 1.0), (1.5, pytest.approx(2.0, abs=1e-3))]


def test_a_cue_without_a_timing_line_is_dropped_with_a_warning(inputs, tmp_path):
    subs = tmp_path / "broken.srt"
    subs.write_text("1\n00:00:00,200 --> 00:00:00,800\nLEO: First line here.\n\n"
                    "2\n00:00:01,000 -> 00:00:01,600\nMIA: The second line.\n")
    done = castvoice("ingest", "--text-only", inputs / "tone.mkv", "--subs", subs, "-w", tmp_path / "ws")
    said = " ".join(done.stderr.split())  # log lines may wrap
    assert said.count("broken.srt:") == 1 and "broken.srt: line 6: text outside any cue" in said, done.stderr
    assert "cue skipped" in said
    assert [r["text"] for r in json.loads(castvoice("lines", "--json", "-w", tmp_path / "ws").stdout)] == [
        "First line here."]
