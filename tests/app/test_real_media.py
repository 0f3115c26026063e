"""Ingest and clip cutting on real recordings: the videogrep manifesto MP4 with its SRT, and two readers
taking turns without subtitles."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from castvoice.media.decode import ANALYSIS_RATE, load_audio
from castvoice.speech.vad import speech_regions
from castvoice.workspace import copy_workspace
from conftest import EVAL, castvoice

MANIFESTO = EVAL / "videogrep_manifesto"
LIBRISPEECH = EVAL / "resemblyzer_librispeech_test_other"
pytestmark = pytest.mark.skipif(not MANIFESTO.is_dir(), reason="../shared/eval is not present")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("manifesto")
    castvoice("ingest", MANIFESTO / "manifesto.mp4", "--subs", MANIFESTO / "manifesto.srt", "-w", root / "ws")
    castvoice("clips", "--all", "--out", root / "clips", "-w", root / "ws")
    records = [json.loads(row) for row in (root / "clips" / "clips.jsonl").read_text().splitlines()]
    return root / "clips", records


@pytest.fixture(scope="module")
def words():
    """Word timings from the recording's word-level transcript (machine-made)."""
    return [w for seg in json.loads((MANIFESTO / "manifesto.json").read_text()) for w in seg["words"]]


def test_one_clip_per_cue_at_the_source_rate(clips):
    folder, records = clips
    assert len(records) == 37
    assert records[0]["text"] == "this audiobook is in the public domain"
    for clip in records:
        info = sf.info(folder / clip["file"])
        assert (info.samplerate, info.channels) == (44_100, 1)
        assert clip["file"].startswith("unnamed_")
    for a, b in zip(records, records[1:]):
        assert a["end"] <= b["start"] + 1e-6, "clips overlap"


def _inside_a_word(t: float, words: list[dict], tolerance: float = 0.02) -> bool:
    return any(w["start"] + tolerance < t < w["end"] - tolerance for w in words)


def test_cuts_fall_inside_words_less_often_than_the_cue_times(clips, words):
    _, records = clips
    raw = sum(_inside_a_word(t, words) for c in records for t in (c["line_start"], c["line_end"]))
    cut = sum(_inside_a_word(t, words) for c in records for t in (c["start"], c["end"]))
    print(f"boundaries inside a word: cue times {raw}/{2 * len(records)}, cuts {cut}/{2 * len(records)}")
    assert cut < raw


def test_clips_hold_whole_words(clips, words):
    _, records = clips
    whole = total = 0
    for clip in records:
        for w in words:
            if clip["line_start"] <= (w["start"] + w["end"]) / 2 < clip["line_end"]:
                total += 1
                whole += clip["start"] <= w["start"] + 0.02 and clip["end"] >= w["end"] - 0.02
    print(f"words of each line wholly inside its clip: {whole}/{total}")
    assert whole / total >= 0.9


def test_ingest_benchmark_measures_the_subtitle_path():
    from castvoice.bench.ingest import measure

    row = measure(MANIFESTO / "manifesto.mp4")
    assert row["lines"] == 37 and row["movie_seconds"] == pytest.approx(88.07, abs=0.1)
    assert row["total_seconds"] >= row["decode_seconds"] > 0
    assert row["seconds_per_movie_hour"] == pytest.approx(row["total_seconds"] / row["movie_seconds"] * 3600, rel=0.01)


@pytest.fixture(scope="module")
def two_readers(tmp_path_factory):
    """A man and a woman (LibriSpeech 1688, 3080) taking turns four times each, 0.2 s apart; each utterance
    stops at a pause near its middle, so that a sentence runs on into the other reader's. Ingested without
    subtitles; returns the workspace and who reads when."""
    folder = tmp_path_factory.mktemp("two_readers")
    gap = np.zeros(round(0.2 * ANALYSIS_RATE), np.float32)
    pieces, turns, at = [], [], 0.0
    for k in range(4):
        for reader in ("1688", "3080"):
            audio = load_audio(sorted((LIBRISPEECH / reader).glob("*.flac"))[k])
            middle = len(audio) / ANALYSIS_RATE / 2
            stop = min(speech_regions(audio, min_silence=0.15, pad=0.05), key=lambda r: abs(r.end - middle)).end
            pieces += [audio[:round(stop * ANALYSIS_RATE)], gap]
            turns.append((at, at + stop, reader))
            at += stop + len(gap) / ANALYSIS_RATE
    sf.write(folder / "readers.wav", np.concatenate(pieces), ANALYSIS_RATE)
    done = castvoice("ingest", folder / "readers.wav", "-w", folder / "ws")
    assert "stages run: media, diarization, lines," in done.stdout
    return folder, turns


def test_lines_from_speech_do_not_run_across_a_change_of_reader(two_readers):
    folder, turns = two_readers
    lines = json.loads(castvoice("lines", "--json", "-w", folder / "ws").stdout)
    assert len(lines) >= len(turns)
    for line in lines:
        heard = {}
        for start, end, reader in turns:
            heard[reader] = heard.get(reader, 0.0) + max(0.0, min(end, line["end"]) - max(start, line["start"]))
        assert min(heard.values()) < 0.3, f"{line['text']!r} holds both readers: {heard}"


def test_lines_from_speech_are_redone_when_the_speakers_are(two_readers, tmp_path):
    folder, _ = two_readers
    ws = copy_workspace(folder / "ws", tmp_path / "ws")
    done = castvoice("ingest", folder / "readers.wav", "--num-speakers", "2", "-w", ws)
    assert "stages run: diarization, lines," in done.stdout
