"""Speech recognition, voice activity and transcript formats on real recordings with the embedded models."""

from __future__ import annotations

import json
import logging
import statistics

import numpy as np
import pysubs2
import pytest
import soundfile as sf
import soxr

from castvoice.bench.asr import JFK_REFERENCE
from castvoice.errors import CastvoiceError
from castvoice.media.decode import ANALYSIS_RATE, load_audio
from castvoice.speech.asr import get_asr, transcribe_file
from castvoice.speech.formats import MAX_CUE_LINE, MAX_CUE_SECONDS, parse_rttm, render, subtitle_cues, to_rttm
from castvoice.speech.resegment import MAX_LINE_SECONDS
from castvoice.spans import Segment
from castvoice.speech.vad import iter_speech_chunks, speech_regions, speech_regions_file
from castvoice.text.metrics import word_error_rate as wer
from castvoice.text.normalize import scoring_words
from castvoice.text.subtitles import read_subtitles
from conftest import EVAL

JFK = EVAL / "whisper_jfk" / "jfk.flac"
pytestmark = [
    pytest.mark.slow,  # loads Whisper base and tiny.en
    pytest.mark.skipif(not JFK.is_file(), reason="../shared/eval is not present"),
]


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return load_audio(JFK)


@pytest.fixture(scope="module")
def jfk_base(jfk):
    return get_asr("base").transcribe(jfk, words=True)


def test_base_transcribes_jfk_with_word_times(jfk, jfk_base):
    assert jfk_base.language == "en" and jfk_base.language_probability > 0.8
    assert wer(JFK_REFERENCE, jfk_base.text) <= 0.10
    words = [w for s in jfk_base.segments for w in s.words]
    assert len(words) >= 20
    duration = len(jfk) / ANALYSIS_RATE
    for before, after in zip(words, words[1:]):
        assert after.start >= before.start
    for word in words:
        assert 0 <= word.start <= word.end <= duration
    # "country" ends the speech, in the last 1.5 s before the recording ends at 11 s (a word Whisper may add
    # after it aside).
    last = [i for i, w in enumerate(words) if scoring_words(w.text) == ["country"]]
    assert last and last[-1] >= len(words) - 2, [w.text for w in words]
    assert words[last[-1]].end > duration - 1.5


def test_tiny_en_transcribes_jfk(jfk):
    transcript = get_asr("tiny.en").transcribe(jfk, language="en")
    assert wer(JFK_REFERENCE, transcript.text) <= 0.10


def test_telephone_band_audio_still_transcribes(jfk):
    telephone = soxr.resample(soxr.resample(jfk, ANALYSIS_RATE, 8000), 8000, ANALYSIS_RATE).astype(np.float32)
    assert wer(JFK_REFERENCE, get_asr("base").transcribe(telephone).text) <= 0.20


def test_music_and_effects_give_no_text():
    clip = next((EVAL / "tos_battle_clip").glob("*.webm"))
    assert speech_regions_file(clip) == []
    transcript = transcribe_file(clip, "base")
    assert transcript.segments == [] and transcript.text == ""
    assert transcript.duration == pytest.approx(70.5, abs=0.2)


def test_silence_and_a_fifth_of_a_second_give_empty_transcripts(tmp_path, jfk):
    silence = np.zeros(5 * ANALYSIS_RATE, np.float32)
    assert speech_regions(silence) == []
    assert get_asr("base").transcribe(silence).segments == []
    short = tmp_path / "short.wav"
    sf.write(short, jfk[round(0.4 * ANALYSIS_RATE):round(0.6 * ANALYSIS_RATE)], ANALYSIS_RATE)
    transcript = transcribe_file(short, "base")
    assert transcript.segments == [] and transcript.duration == pytest.approx(0.2, abs=0.01)


def test_english_only_model_falls_back_to_base_for_german(caplog):
    german = load_audio(EVAL / "fasterwhisper_tests" / "multilingual.mp3")[32 * ANALYSIS_RATE:]
    with caplog.at_level(logging.WARNING, logger="castvoice"):
        transcript = get_asr("tiny.en").transcribe(german)
    assert transcript.language == "de"
    assert any("English-only" in r.getMessage() for r in caplog.records)
    german_words = {"der", "die", "und", "software", "nicht", "oder"}
    assert len(german_words & set(transcript.text.lower().split())) >= 3


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory, jfk):
    """JFK's sentence eight times, each followed by 12 s of silence (about 3 minutes)."""
    period = len(jfk) + 12 * ANALYSIS_RATE
    audio = np.zeros(8 * period, np.float32)
    for k in range(8):
        audio[k * period:k * period + len(jfk)] = jfk
    path = tmp_path_factory.mktemp("long") / "long.flac"
    sf.write(path, audio, ANALYSIS_RATE)
    return path, period / ANALYSIS_RATE, len(jfk) / ANALYSIS_RATE


def test_long_file_chunks_are_cut_in_silence(long_recording):
    path, period, speech = long_recording
    chunks = list(iter_speech_chunks(path, max_seconds=40))
    assert len(chunks) >= 5
    for chunk in chunks:
        assert len(chunk.audio) <= 40 * ANALYSIS_RATE
    for before, after in zip(chunks, chunks[1:]):
        assert after.offset == pytest.approx(before.end)
        assert before.end % period > speech, f"cut at {before.end:.1f} s falls inside speech"


def test_long_file_transcribed_in_chunks_lines_up(long_recording):
    path, period, speech = long_recording
    done = []
    transcript = transcribe_file(path, "tiny.en", chunk_seconds=40, on_progress=done.append)
    assert len(done) >= 5 and done[-1] == pytest.approx(8 * period, abs=0.05)
    for k in range(8):
        start = k * period
        inside = [s for s in transcript.segments if start - 0.5 <= s.start and s.end <= start + speech + 0.5]
        assert inside and inside[0].start <= start + 1.0
        assert wer(JFK_REFERENCE, " ".join(s.text for s in inside)) <= 0.10
    words = [w for s in transcript.segments for w in s.words]
    assert all(b.start >= a.start for a, b in zip(words, words[1:]))


def test_srt_vtt_and_json_read_back(tmp_path, jfk_base):
    segments = jfk_base.segments
    cues = subtitle_cues(jfk_base)
    assert len(cues) >= 2, "JFK's 105-character sentence does not fit one cue"
    for fmt in ("srt", "vtt"):
        path = tmp_path / f"jfk.{fmt}"
        path.write_text(render(jfk_base, fmt))
        events = pysubs2.load(str(path)).events
        assert [(e.start, e.end, e.plaintext) for e in events] == [
            (round(c.start * 1000), round(c.end * 1000), c.text) for c in cues
        ]
    document = json.loads(render(jfk_base, "json", words=True))
    assert document["language"] == "en" and document["text"] == jfk_base.text
    assert document["duration"] == pytest.approx(11.0, abs=0.01)
    assert [w["word"] for w in document["segments"][0]["words"]] == [w.text for w in segments[0].words]
    assert "words" not in json.loads(render(jfk_base, "json"))["segments"][0]
    assert render(jfk_base, "txt").splitlines() == [s.text for s in segments]


@pytest.fixture(scope="module")
def manifesto():
    """The videogrep manifesto (88 s, one reader) transcribed without its subtitles."""
    return transcribe_file(EVAL / "videogrep_manifesto" / "manifesto.mp4", "base")


def test_without_subtitles_the_lines_are_sentences(manifesto):
    lines = manifesto.segments
    lengths = [line.duration for line in lines]
    print(f"{len(lines)} lines, median {statistics.median(lengths):.1f} s, longest {max(lengths):.1f} s")
    assert len(lines) >= 10 and max(lengths) <= MAX_LINE_SECONDS
    assert 1.5 <= statistics.median(lengths) <= 8.0
    for line in lines:
        assert (line.start, line.end) == (line.words[0].start, line.words[-1].end)
    assert sum(line.text.endswith((".", "?", "!")) for line in lines) >= len(lines) / 2
    reference = " ".join(c.text for c in read_subtitles(EVAL / "videogrep_manifesto" / "manifesto.srt").cues)
    assert wer(reference, manifesto.text) <= 0.25


def test_srt_cues_fit_two_short_lines_and_seven_seconds(tmp_path, manifesto):
    path = tmp_path / "manifesto.srt"
    path.write_text(render(manifesto, "srt"))
    events = pysubs2.load(str(path)).events
    assert len(events) >= len(manifesto.segments)
    for event in events:
        lines = event.plaintext.split("\n")
        assert len(lines) <= 2 and all(len(line) <= MAX_CUE_LINE for line in lines), event.plaintext
        assert event.end - event.start <= MAX_CUE_SECONDS * 1000
    assert all(a.end <= b.start for a, b in zip(events, events[1:]))
    starts = {round(w.start * 1000) for s in manifesto.segments for w in s.words}
    assert all(event.start in starts for event in events), "cues start on a word"
    assert " ".join(e.plaintext for e in events).split() == manifesto.text.split()


def test_rttm_round_trip():
    turns = [Segment(0.0, 4.25, speaker="Diane"), Segment(3.5, 7.0, speaker="Tom Cole"), Segment(7.5, 9.125, speaker="Diane")]
    read = parse_rttm(to_rttm(turns, "scene 1"))
    assert list(read) == ["scene_1"]
    assert [(t.start, t.end, t.speaker, t.overlap) for t in read["scene_1"]] == [
        (0.0, 4.25, "Diane", True), (3.5, 7.0, "Tom_Cole", True), (7.5, 9.125, "Diane", False)
    ]


def test_models_that_cannot_load_offline_say_so(tmp_path):
    with pytest.raises(CastvoiceError, match="needs a download.*base, tiny.en"):
        get_asr("castvoice-tests/no-such-whisper-model")
    with pytest.raises(CastvoiceError, match="unknown Whisper model"):
        get_asr("no-such-size")
    with pytest.raises(CastvoiceError, match="no model.bin"):
        get_asr(str(tmp_path))
