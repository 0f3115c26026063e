"""The subtitle path end to end on the demo film, checked against its ground truth."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from castvoice.workspace import copy_workspace
from conftest import castvoice, segment_for

pytestmark = pytest.mark.slow


def _lines(ws: Path, name: str) -> list[dict]:
    return json.loads(castvoice("lines", name, "--json", "-w", ws).stdout)


def test_characters_match_the_cast(demo_workspace, truth):
    rows = json.loads(castvoice("characters", "--json", "-w", demo_workspace).stdout)
    names = {r["name"] for r in rows}
    assert names == {"Diane", "Marcus", "Oliver"}
    for row in rows:
        expected = [g for g in truth if g["character"].lower() == row["name"].lower()]
        assert row["lines"] == pytest.approx(len(expected), abs=1)
        assert row["seconds"] > 0.8 * sum(g["end"] - g["start"] for g in expected)


def test_attribution_names_at_least_95_percent_of_lines(demo_workspace, truth):
    named = {}
    for name in ("Diane", "Marcus", "Oliver"):
        for line in _lines(demo_workspace, name):
            named[line["id"]] = (name, line)
    correct = 0
    for name, line in named.values():
        correct += segment_for(truth, line["start"], line["end"])["character"].lower() == name.lower()
    accuracy = correct / len(truth)
    print(f"attribution on the demo film: {correct}/{len(truth)} = {accuracy:.1%}")
    assert accuracy >= 0.95
    assert all(line["source"] == "screenplay" and 0 < line["confidence"] <= 1 for _, line in named.values())


def test_names_match_case_insensitively(demo_workspace):
    assert _lines(demo_workspace, "DIANE") == _lines(demo_workspace, "diane") == _lines(demo_workspace, "Diane")


def test_every_clip_holds_its_whole_line_and_no_other(demo_workspace, truth, tmp_path):
    for name in ("Diane", "Marcus", "Oliver"):
        out = tmp_path / name
        castvoice("clips", name, "--out", out, "-w", demo_workspace)
        records = [json.loads(row) for row in (out / "clips.jsonl").read_text().splitlines()]
        assert len(records) == len(_lines(demo_workspace, name))
        for number, clip in enumerate(records, 1):
            assert clip["file"].startswith(f"{name.lower()}_{number:03d}_")
            info = sf.info(out / clip["file"])
            assert (info.samplerate, info.channels) == (48_000, 1)
            assert info.duration == pytest.approx(clip["end"] - clip["start"], abs=0.002)
            spoken = segment_for(truth, clip["line_start"], clip["line_end"])
            assert clip["start"] <= spoken["start"] and clip["end"] >= spoken["end"], (clip, spoken)
            others = [g for g in truth if g is not spoken and min(g["end"], clip["end"]) > max(g["start"], clip["start"])]
            assert not others, (clip, others)


def test_rerun_skips_finished_stages_and_redoes_only_what_changed(demo, demo_workspace, tmp_path):
    ws = tmp_path / "copy"
    copy_workspace(demo_workspace, ws)
    before = _stage_times(ws)
    again = castvoice("ingest", demo / "demo.mp4", "--subs", demo / "demo.srt",
                      "--script", demo / "demo.screenplay.txt", "-w", ws)
    assert "stages run: none" in again.stdout
    assert _stage_times(ws) == before

    castvoice("ingest", demo / "demo.mp4", "--subs", demo / "demo.srt", "--subs-offset", "0.5",
              "--script", demo / "demo.screenplay.txt", "-w", ws)
    after = _stage_times(ws)
    assert after["media"] == before["media"] and after["screenplay"] == before["screenplay"]
    assert after["lines"] != before["lines"] and after["attribution"] != before["attribution"]
    assert after["diarization"] == before["diarization"], "diarization depends on the audio alone"
    assert _first_cue(ws) == pytest.approx(_first_cue(demo_workspace) + 0.5)
    # the words are where they were: alignment finds them wherever the cues say (within 0.1 s: a cue moved
    # to start after its first word leaves the aligner only its padding to find that word's start)
    for moved, original in zip(_lines(ws, "Diane"), _lines(demo_workspace, "Diane")):
        assert moved["start"] == pytest.approx(original["start"], abs=0.1)


def _first_cue(ws: Path) -> float:
    with sqlite3.connect(ws / "castvoice.db") as conn:
        return conn.execute("SELECT MIN(cue_start) FROM lines").fetchone()[0]


def _stage_times(ws: Path) -> dict[str, str]:
    with sqlite3.connect(ws / "castvoice.db") as conn:
        return dict(conn.execute("SELECT name, completed_at FROM stages"))


def _ingest_process(demo: Path, ws: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "castvoice", "ingest", "--text-only", str(demo / "demo.mp4"), "--subs", str(demo / "demo.srt"),
         "--script", str(demo / "demo.screenplay.txt"), "-w", str(ws)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _kill_when(process: subprocess.Popen, ready, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "ingest finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_killed_while_decoding_resumes_without_leftovers(demo, tmp_path):
    ws = tmp_path / "killed"
    process = _ingest_process(demo, ws)
    _kill_when(process, lambda: any((ws / "audio").glob(".source.flac.tmp-*")))
    assert not (ws / "audio" / "source.flac").exists()

    castvoice("ingest", "--text-only", demo / "demo.mp4", "--subs", demo / "demo.srt",
              "--script", demo / "demo.screenplay.txt", "-w", ws)
    assert sorted(p.name for p in (ws / "audio").iterdir()) == ["analysis.wav", "source.flac"]
    assert set(_stage_times(ws)) == {"media", "lines", "screenplay", "attribution"}


def test_killed_after_a_stage_resumes_without_redoing_it(demo, demo_workspace, tmp_path):
    ws = tmp_path / "killed"
    process = _ingest_process(demo, ws)

    def media_done() -> bool:
        try:
            return "media" in _stage_times(ws)
        except sqlite3.Error:
            return False

    _kill_when(process, media_done)
    decoded_at = _stage_times(ws)["media"]
    resumed = castvoice("ingest", "--text-only", demo / "demo.mp4", "--subs", demo / "demo.srt",
                        "--script", demo / "demo.screenplay.txt", "-w", ws)
    assert "media: up to date, skipped" in resumed.stderr
    assert _stage_times(ws)["media"] == decoded_at
    for name in ("Diane", "Marcus", "Oliver"):
        assert [r["text"] for r in _lines(ws, name)] == [r["text"] for r in _lines(demo_workspace, name)]


@pytest.mark.parametrize("container,codec", [("mp4", "mov_text"), ("mkv", "ass"), ("mkv", "srt")])
def test_embedded_subtitle_track_is_used_without_subs(demo, tmp_path, container, codec):
    film = tmp_path / f"film.{container}"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", demo / "demo.mp4", "-i", demo / "demo.srt", "-map", "0", "-map", "1",
         "-c", "copy", "-c:s", codec, film],
        check=True,
    )
    ws = tmp_path / "ws"
    done = castvoice("ingest", "--text-only", film, "--script", demo / "demo.screenplay.txt", "-w", ws)
    assert "embedded subtitle track" in done.stderr
    from_file = json.loads(castvoice("characters", "--json", "-w", ws).stdout)
    assert {r["name"]: r["lines"] for r in from_file} == {
        "Diane": len(_lines(ws, "Diane")), "Marcus": len(_lines(ws, "Marcus")), "Oliver": len(_lines(ws, "Oliver"))
    }
    assert sum(r["lines"] for r in from_file) == sum(1 for _ in (demo / "demo.srt").read_text().split("\n\n") if _.strip()) + 1


def test_speaker_names_in_embedded_ass_name_the_lines(demo, tmp_path):
    events = "\n".join(
        f"Dialogue: 0,0:00:{s:05.2f},0:00:{e:05.2f},Default,{who},0,0,0,,{text}"
        for s, e, who, text in [(1.0, 3.0, "Diane", "Hello there."), (4.0, 6.0, "MARCUS", "Hello yourself.")]
    )
    ass = tmp_path / "named.ass"
    ass.write_text(
        "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\n"
        "Format: Name, Fontname, Fontsize, PrimaryColour, Bold, Italic, Alignment, MarginL, MarginR, MarginV\n"
        "Style: Default,Arial,20,&H00FFFFFF,0,0,2,10,10,10\n\n[Events]\n"
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n" + events + "\n"
    )
    film = tmp_path / "named.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-i", demo / "demo.mp4", "-i", ass, "-map", "0", "-map", "1",
                    "-c", "copy", film], check=True)
    ws = tmp_path / "ws"
    castvoice("ingest", "--text-only", film, "-w", ws)
    assert [(r["text"], r["source"]) for r in _lines(ws, "diane")] == [("Hello there.", "subtitle")]
    assert [r["text"] for r in _lines(ws, "Marcus")] == ["Hello yourself."]
