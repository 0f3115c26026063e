"""The voice dataset on the demo film: cleaning, checks, review, overrides, references, export, report."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from castvoice.workspace import copy_workspace
from conftest import castvoice

pytestmark = pytest.mark.slow

EDGE = 0.03  # a clip edge may sit this close inside a line's speech (word-boundary precision)
OVERLAP_REASONS = ("another voice over", "too short once the other voice is trimmed away")


@pytest.fixture(scope="module")
def diane(demo_workspace, tmp_path_factory) -> Path:
    """A copy of the demo workspace with Diane's clips cleaned and checked."""
    ws = tmp_path_factory.mktemp("dataset") / "ws"
    copy_workspace(demo_workspace, ws)
    castvoice("clean", "Diane", "-w", ws)
    return ws


@pytest.fixture(scope="module")
def film(demo) -> dict:
    return json.loads((demo / "truth.json").read_text())


def _review(ws: Path) -> list[dict]:
    return json.loads(castvoice("review", "Diane", "--json", "-w", ws).stdout)


def _spoiled_lines(film: dict) -> tuple[set[int], set[int]]:
    return {i["line"] for i in film["interruptions"]}, {s["line"] for s in film["music_swells"]}


def _segments_in(clip: dict, film: dict) -> list[dict]:
    return [g for g in film["segments"] if min(g["end"], clip["end"]) > max(g["start"], clip["start"])]


def test_every_kept_clip_holds_whole_lines_of_one_character(diane, film):
    clips = _review(diane)
    kept = [c for c in clips if c["kept"]]
    interrupted, buried = _spoiled_lines(film)
    assert len(kept) >= 15
    for clip in kept:
        inside = _segments_in(clip, film)
        assert inside and {g["character"] for g in inside} == {"DIANE"}, (clip["text"], inside)
        for g in inside:  # whole: every segment the clip touches lies within it
            assert clip["start"] <= g["start"] + EDGE and clip["end"] >= g["end"] - EDGE, (clip, g)
        assert not {g["line"] for g in inside} & (interrupted | buried)
        assert not [i for i in film["interruptions"] if min(i["end"], clip["end"]) > max(i["start"], clip["start"])]
        info = sf.info(clip["audio_file"])
        assert info.channels == 1 and info.duration == pytest.approx(clip["duration"], abs=0.01)


def test_spoiled_lines_are_rejected_with_the_right_reason(diane, film):
    interrupted, buried = _spoiled_lines(film)
    by_line = {}
    for clip in _review(diane):
        for g in _segments_in(clip, film):
            by_line.setdefault(g["line"], clip)
    for line in interrupted:  # talked over from a third of the way in: too little is left clear of it
        clip = by_line[line]
        assert not clip["kept"] and clip["reason"].startswith(OVERLAP_REASONS), clip
        assert clip["scores"]["overlap"] > 0.2 or clip["scores"]["trim"]
    for line in buried:
        clip = by_line[line]
        assert not clip["kept"] and clip["reason"].startswith("noise or music under the voice"), clip
        assert clip["scores"]["snr_db"] < 12
    kept_snr = [c["scores"]["snr_db"] for c in _review(diane) if c["kept"]]
    assert min(kept_snr) >= 12


def test_short_lines_are_merged_or_dropped_and_durations_bounded(diane):
    for clip in _review(diane):
        if clip["kept"]:
            assert 1.0 <= clip["duration"] <= 15.0
        elif clip["scores"]["duration"] < 1.0:
            trimmed = f"too short once the other voice is trimmed away ({clip['scores']['duration']:.1f} s left)"
            assert clip["reason"] == (trimmed if clip["scores"].get("trim") else "shorter than 1 s")


def test_cleaning_is_recorded_and_loudness_normalised(diane):
    import pyloudnorm

    conn = sqlite3.connect(diane / "castvoice.db")
    steps = json.loads(conn.execute("SELECT steps FROM clips ORDER BY start LIMIT 1").fetchone()[0])
    assert [s["name"] for s in steps] == ["dc_removal", "denoise", "trim", "loudness", "peak_ceiling"]
    for clip in _review(diane):
        audio, rate = sf.read(clip["audio_file"])
        if len(audio) / rate >= 1.0:
            assert pyloudnorm.Meter(rate).integrated_loudness(audio) == pytest.approx(-23.0, abs=1.0)
        assert abs(audio).max() <= 10 ** (-1 / 20) + 1e-3


def test_include_and_exclude_override_the_checks_and_survive_a_rerun(diane, tmp_path):
    ws = tmp_path / "ws"
    copy_workspace(diane, ws)
    clips = _review(ws)
    dropped = next(c for c in clips if not c["kept"])
    kept = next(c for c in clips if c["kept"])
    castvoice("include", dropped["id"], "-w", ws)
    castvoice("exclude", kept["id"], "-w", ws)
    castvoice("clean", "Diane", "-w", ws)
    after = {c["id"]: c for c in _review(ws)}
    assert after[dropped["id"]]["kept"] and after[dropped["id"]]["override"] == "include"
    assert after[dropped["id"]]["reason"] == dropped["reason"]  # still says why it would be dropped
    assert not after[kept["id"]]["kept"] and after[kept["id"]]["reason"] == "excluded by hand"
    missing = castvoice("exclude", "nobody_00001", "-w", ws, check=False)
    assert missing.returncode == 2 and "no clip 'nobody_00001'" in missing.stderr and missing.stderr.count("\n") == 1


def test_a_new_threshold_rejudges_the_stored_scores_without_rebuilding(diane, tmp_path):
    ws = tmp_path / "ws"
    copy_workspace(diane, ws)
    before = {c["id"]: c for c in _review(ws)}
    again = castvoice("clean", "Diane", "--max-duration", "3", "-w", ws)
    assert f"{len(before)} clips up to date, 0 built" in again.stderr
    for clip in _review(ws):
        if clip["scores"]["duration"] > 3 and before[clip["id"]]["kept"]:
            assert not clip["kept"] and clip["reason"] == "longer than 3 s"
        else:
            assert (clip["kept"], clip["reason"]) == (before[clip["id"]]["kept"], before[clip["id"]]["reason"])


def test_references_are_kept_3_to_10_second_sentences_best_first(diane):
    picked = json.loads(castvoice("references", "Diane", "--json", "--count", "4", "-w", diane).stdout)
    assert 1 <= len(picked) <= 4
    assert [p["score"] for p in picked] == sorted((p["score"] for p in picked), reverse=True)
    for p in picked:
        [clip] = p["clips"]
        assert not p["joined"] and p["id"] == clip["id"]
        assert clip["kept"] and 3.0 <= clip["duration"] <= 10.0
        assert p["complete"] and p["pitch_hz"] and 120 < p["pitch_hz"] < 400  # a woman's voice
    kept_similarity = sorted(c["scores"]["similarity"] for c in _review(diane) if c["kept"])
    assert picked[0]["clips"][0]["scores"]["similarity"] >= kept_similarity[len(kept_similarity) // 2]


def test_short_clips_are_joined_into_references_a_voice_is_made_from(diane, tmp_path):
    """With every kept clip under 3 s, references are short kept clips joined with short silences."""
    from castvoice.app import dataset, open_workspace
    from castvoice.dataset.references import JOIN_GAP_SECONDS, MIN_SECONDS
    from castvoice.media.decode import ANALYSIS_RATE, load_audio
    from castvoice.voice.profile import load_profile

    ws = copy_workspace(diane, tmp_path / "ws")
    for clip in _review(ws):
        if clip["kept"] and clip["duration"] >= MIN_SECONDS:
            castvoice("exclude", clip["id"], "-w", ws)
    short = {c["id"]: c for c in _review(ws) if c["kept"]}
    assert len(short) >= 6 and all(c["duration"] < MIN_SECONDS for c in short.values())

    picked = json.loads(castvoice("references", "Diane", "--json", "--count", "3", "-w", ws).stdout)
    assert len(picked) == 3
    members = [c["id"] for p in picked for c in p["clips"]]
    assert len(members) == len(set(members)) and set(members) <= set(short)
    for p in picked:
        starts = [c["start"] for c in p["clips"]]
        assert p["joined"] and p["id"] == "+".join(c["id"] for c in p["clips"]) and starts == sorted(starts)
        assert p["duration"] >= MIN_SECONDS
    table = castvoice("references", "Diane", "--count", "3", "-w", ws).stdout
    assert f"{picked[0]['id']} (joined)" in table

    references = dataset.references(open_workspace(ws), "Diane", count=3)
    gap = round(JOIN_GAP_SECONDS * ANALYSIS_RATE)
    for reference in references:
        parts = [load_audio(c.audio_file) for c in reference.clips]
        audio = reference.audio()
        assert len(audio) == sum(map(len, parts)) + gap * (len(parts) - 1)
        assert len(audio) / ANALYSIS_RATE == pytest.approx(reference.duration, abs=0.05)
        assert not audio[len(parts[0]):len(parts[0]) + gap].any()  # silence between the first two clips

    castvoice("voice", "create", "Diane", "--budget", "0.1", "-w", ws)
    profile = load_profile(ws / "voices" / "diane.cvoice")
    assert profile.name == "Diane" and "joined from short clips" in profile.source
    assert len(profile.references[0]) == len(references[0].audio())


def test_too_little_clean_speech_gets_no_voice(diane, tmp_path):
    """A character whose kept clips hold under 3 s of speech is told how much there is and how much is needed."""
    from castvoice.app import dataset, open_workspace

    ws = copy_workspace(diane, tmp_path / "ws")
    kept = sorted((c for c in _review(ws) if c["kept"]), key=lambda c: c["duration"])
    for clip in kept[1:]:  # keep only the shortest
        dataset.set_override(open_workspace(ws), clip["id"], "exclude")
    for args in (["voice", "create", "Diane"], ["references", "Diane"]):
        done = castvoice(*args, "-w", ws, check=False)
        assert done.returncode == 2 and not (ws / "voices" / "diane.cvoice").exists()
        found = re.search(r"Diane has ([\d.]+) s of clean speech in kept clips", done.stderr)
        assert found and float(found[1]) == pytest.approx(kept[0]["duration"], abs=0.11), done.stderr
        assert "a voice needs at least 3 s" in done.stderr and "castvoice review Diane" in done.stderr


def test_dataset_export_and_report(diane, tmp_path):
    kept = [c for c in _review(diane) if c["kept"]]
    out = tmp_path / "ljspeech"
    castvoice("dataset", "Diane", "--out", out, "--format", "ljspeech", "-w", diane)
    rows = (out / "metadata.csv").read_text().splitlines()
    assert sorted(r.split("|")[0] for r in rows) == sorted(c["id"] for c in kept)
    for row in rows:
        clip_id, text, normalized = row.split("|")
        info = sf.info(out / "wavs" / f"{clip_id}.wav")
        assert (info.samplerate, info.subtype) == (22_050, "PCM_16")
    report = castvoice("report", "Diane", "-w", diane).stdout.split("report: ")[1].strip()
    page = Path(report).read_text()
    assert page.count("<audio") == len(_review(diane)) and "another voice" in page


def test_killed_clean_resumes_with_the_clips_it_finished(demo_workspace, tmp_path):
    ws = tmp_path / "ws"
    copy_workspace(demo_workspace, ws)
    process = subprocess.Popen([sys.executable, "-m", "castvoice", "clean", "Oliver", "-w", str(ws)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = ws / "castvoice.db"

    def stored() -> int:
        try:
            return sqlite3.connect(db).execute("SELECT COUNT(*) FROM clips").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    deadline = time.monotonic() + 120
    while stored() < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = stored()
    assert finished >= 3
    again = castvoice("clean", "Oliver", "-w", ws)
    assert f"{finished} clips up to date" in again.stderr
    assert len(json.loads(castvoice("review", "Oliver", "--json", "-w", ws).stdout)) > finished
    assert not list((ws / "clips").rglob("*.tmp-*"))
