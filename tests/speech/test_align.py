"""Forced alignment on real recordings: hand-labelled TIMIT, MFA reference TextGrids, JFK with subtitles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from castvoice.bench.align import boundary_errors, joined, references
from castvoice.errors import InputError
from castvoice.media.decode import ANALYSIS_RATE, load_audio
from castvoice.app import tools
from castvoice.speech.align import alignment_words, get_aligner
from castvoice.speech.g2p import arpabet, ipa_to_arpabet
from castvoice.speech.textgrid import read_textgrid, write_alignment_json, write_textgrid
from conftest import EVAL

pytestmark = [
    pytest.mark.slow,  # loads Whisper base and Kokoro
    pytest.mark.skipif(not (EVAL / "timit_ldc93s1").is_dir(), reason="../shared/eval is not present"),
]

JFK = EVAL / "whisper_jfk" / "jfk.flac"
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


@pytest.fixture(scope="module")
def sphinx():
    return get_aligner("pocketsphinx")


@pytest.fixture(scope="module")
def timit():
    return next(r for r in references(EVAL) if r.name.startswith("timit"))


@pytest.fixture(scope="module")
def jfk_words(sphinx):
    """pocketsphinx on the exact text of the whole recording: the times subtitle alignment should find."""
    return sphinx.align(load_audio(JFK), JFK_TEXT)


def assert_well_formed(words, duration):
    """Words in order, each with a duration, inside the audio; phones in order inside their word."""
    for word, following in zip(words, words[1:]):
        assert word.end <= following.start + 1e-9
    for word in words:
        assert 0 <= word.start < word.end <= duration + 1e-6
        for phone in word.phones:
            assert word.start - 1e-9 <= phone.start < phone.end <= word.end + 1e-9
        assert all(a.end <= b.start + 1e-9 for a, b in zip(word.phones, word.phones[1:]))


def test_timit_sentence_matches_hand_labels(sphinx, timit):
    audio = load_audio(timit.audio)
    words = sphinx.align(audio, timit.text)
    assert [w.text for w in words] == alignment_words(timit.text)
    errors = boundary_errors(timit.words, words)
    assert errors.size == 2 * len(timit.words)
    assert errors.mean() <= 40, errors
    assert [p.text for p in words[0].phones] == ["SH", "IY"]  # "she"
    assert_well_formed(words, len(audio) / ANALYSIS_RATE)


def test_times_follow_the_start_argument(sphinx, timit):
    audio = load_audio(timit.audio)
    plain, shifted = sphinx.align(audio, timit.text), sphinx.align(audio, timit.text, start=100.0)
    assert [round(w.start + 100.0, 6) for w in plain] == [round(w.start, 6) for w in shifted]


def test_invented_names_and_numbers_keep_every_word():
    import soxr

    from castvoice.voice.backends import get_tts

    text = "Captain Penhallow met Zorblax near the harbour in 1984."
    speech = get_tts("kokoro").synthesize(text, "af_heart")
    audio = soxr.resample(speech, 24_000, ANALYSIS_RATE).astype(np.float32)
    words = get_aligner("pocketsphinx").align(audio, text)
    assert [w.text for w in words] == ["captain", "penhallow", "met", "zorblax", "near", "the", "harbour", "in",
                                       "nineteen", "eighty", "four"]
    assert all(w.end - w.start >= 0.05 and w.phones for w in words)
    assert_well_formed(words, len(audio) / ANALYSIS_RATE)
    assert [p.text for p in words[3].phones][:2] == ["Z", "AO"]  # espeak-ng's "zorblax"


def test_g2p_matches_cmudict_for_known_words():
    cmudict = {
        "water": "W AO T ER", "church": "CH ER CH", "measure": "M EH ZH ER", "thinking": "TH IH NG K IH NG",
        "bottle": "B AA T AH L", "button": "B AH T AH N", "square": "S K W EH R", "north": "N AO R TH",
        "hour": "AW ER", "judge": "JH AH JH",
    }
    found = arpabet(list(cmudict))
    exact = sum(" ".join(phones) == cmudict[word] for word, phones in zip(cmudict, found))
    assert exact >= 8, list(zip(cmudict, found))


def test_ipa_to_arpabet_handles_marks_diphthongs_and_syllabic_consonants():
    assert ipa_to_arpabet(["ˈaɪɚ"]) == ["AY", "ER"]
    assert ipa_to_arpabet(["k", "ˈɪ", "ʔ", "n̩"]) == ["K", "IH", "T", "AH", "N"]
    assert ipa_to_arpabet(["s", "t", "ˈɑːɹ", "t"]) == ["S", "T", "AA", "R", "T"]
    assert ipa_to_arpabet(["ˌoʊ", "ɡ", "ɹ", "iː"]) == ["OW", "G", "R", "IY"]


def test_alignment_words_normalise_text():
    assert alignment_words("“Don’t!” [laughs] she said, <noise> rock-and-roll.") == (
        ["don't", "she", "said", "rock", "and", "roll"]
    )
    assert alignment_words("In 1984 the 3rd of 12,000 cost 2.5", spell_numbers=True) == (
        "in nineteen eighty four the third of twelve thousand cost two point five".split()
    )


def test_textgrid_and_json_round_trip(sphinx, timit, tmp_path):
    from praatio import textgrid

    words = sphinx.align(load_audio(timit.audio), timit.text)
    grid_path, json_path = tmp_path / "timit.TextGrid", tmp_path / "timit.json"
    write_textgrid(words, grid_path, duration=3.0)
    grid = textgrid.openTextgrid(str(grid_path), includeEmptyIntervals=True)
    assert grid.tierNames == ("words", "phones")
    labels = [e.label for e in grid.getTier("words").entries]
    assert [label for label in labels if label] == [w.text for w in words]
    assert labels[0] == "" and grid.maxTimestamp == 3.0  # silences are empty intervals
    back = read_textgrid(grid_path)
    def labelled(ws):
        return [(w.text, [p.text for p in w.phones]) for w in ws]

    assert labelled(back) == labelled(words)
    assert max(abs(a.start - b.start) for a, b in zip(back, words)) < 0.001
    write_alignment_json(words, json_path)
    data = json.loads(json_path.read_text())
    assert [w["word"] for w in data["words"]] == [w.text for w in words]
    assert set(data["words"][0]) == {"start", "end", "word", "phones"}
    assert set(data["words"][0]["phones"][0]) == {"start", "end", "phone"}


def test_mfa_reference_textgrids_are_read_with_phones():
    grid = EVAL / "mfa_alignment" / "cold_corpus.TextGrid"
    words = read_textgrid(grid)
    assert words[0].text == "uh" and words[1].text == "so"
    assert [p.text for p in words[1].phones] == ["S", "OW1"]


@pytest.mark.parametrize("late", [0.3, -0.3, 0.5, -0.5])  # 0.5: beyond the default pad
def test_subtitles_with_shifted_times_still_find_the_words(jfk_words, tmp_path, late):
    first, second = jfk_words[:5], jfk_words[5:]
    srt = tmp_path / "jfk.srt"
    srt.write_text(
        f"1\n{_clock(first[0].start + late)} --> {_clock(first[-1].end + late)}\nAnd so my fellow Americans,\n\n"
        f"2\n{_clock(second[0].start + late)} --> {_clock(second[-1].end + late)}\n"
        "ask not what your country can do for you,\nask what you can do for your country.\n",
        encoding="utf-8",
    )
    out = tmp_path / "jfk.json"
    assert tools.align(JFK, srt, out) == len(jfk_words)
    found = json.loads(out.read_text())["words"]
    assert [w["word"] for w in found] == [w.text for w in jfk_words]
    errors = np.array([[got["start"] - want.start, got["end"] - want.end] for want, got in zip(jfk_words, found)])
    assert (np.abs(errors) <= 0.08).mean() >= 0.9 and np.abs(errors).max() <= 0.2, errors


def test_plain_text_file_to_textgrid(tmp_path, jfk_words):
    transcript = tmp_path / "jfk.txt"
    transcript.write_text(JFK_TEXT + "\n", encoding="utf-8")
    out = tmp_path / "jfk.TextGrid"
    assert tools.align(JFK, transcript, out) == len(jfk_words)
    assert [w.text for w in read_textgrid(out)] == [w.text for w in jfk_words]


def test_long_audio_is_aligned_window_by_window(sphinx):
    """Three MFA recordings end to end (77 s): longer than one window."""
    refs = [r for r in references(EVAL) if r.name.startswith("mfa_alignment/")]
    audio, reference = joined(refs)
    assert len(audio) / ANALYSIS_RATE > 60
    words = sphinx.align(audio, " ".join(w.text for w in reference))
    assert len(words) == len(reference)
    assert_well_formed(words, len(audio) / ANALYSIS_RATE)
    errors = boundary_errors(reference, words)
    assert np.median(errors) <= 30 and (errors <= 50).mean() >= 0.75


def test_whisper_aligns_any_language_in_order(jfk_words):
    audio = load_audio(JFK)
    words = get_aligner("whisper", "en").align(audio, JFK_TEXT)
    assert [w.text for w in words] == [w.text for w in jfk_words]
    assert_well_formed(words, len(audio) / ANALYSIS_RATE)
    assert not any(w.phones for w in words)
    # Whisper's word starts absorb pauses, so compare word middles with pocketsphinx's
    offsets = [abs((a.start + a.end) / 2 - (b.start + b.end) / 2) for a, b in zip(words, jfk_words)]
    assert np.median(offsets) < 0.15


GERMAN_TEXT = (  # what is spoken from 30 s on in multilingual.mp3
    "Jeden, der diese Software und die dazugehörigen Dokumentationsdateien erhält, wird hiermit unentgeltlich die "
    "Genehmigung erteilt, mit der Software uneingeschränkt zu verfahren. Dies umfasst insbesondere das Recht, die "
    "Software zu verwenden, zu vervielfältigen, zu modifizieren, zusammenzufügen, zu veröffentlichen, zu verteilen, "
    "unterzulizenzieren und oder Kopien der Software zu verkaufen und diese Rechte unter folgenden Bedingungen "
    "anderen zu übertragen."
)


def test_german_speech_with_the_whisper_aligner():
    from castvoice.speech.align import aligner_for

    audio = load_audio(EVAL / "fasterwhisper_tests" / "multilingual.mp3")[30 * ANALYSIS_RATE :]
    aligner = aligner_for("de")
    assert aligner.name == "whisper"
    words = aligner.align(audio, GERMAN_TEXT, start=30.0)
    assert [w.text for w in words] == alignment_words(GERMAN_TEXT)
    assert all(30.0 <= w.start < w.end <= 30.0 + len(audio) / ANALYSIS_RATE for w in words)
    ends = {w.text: w.end for w in words}  # words said once, each before a pause; times from a Whisper transcription
    for word, heard in {"erhält": 35.8, "verfahren": 41.3, "recht": 44.2, "übertragen": 59.5}.items():
        assert abs(ends[word] - heard) < 0.25, (word, ends[word])


@pytest.mark.parametrize(
    ("media", "text", "out", "problem"),
    [
        ("missing.wav", "jfk.txt", "a.json", "file not found"),
        ("jfk", "empty.txt", "a.json", "file is empty"),
        ("jfk", "jfk.txt", "a.csv", ".TextGrid or .json"),
        ("jfk", "noise.srt", "a.json", "not a subtitle file"),
    ],
)
def test_bad_input_is_one_line(tmp_path, media, text, out, problem):
    (tmp_path / "jfk.txt").write_text(JFK_TEXT)
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "noise.srt").write_text("just some words\n")
    with pytest.raises(InputError) as caught:
        tools.align(JFK if media == "jfk" else tmp_path / media, tmp_path / text, tmp_path / out)
    assert problem in str(caught.value) and "\n" not in str(caught.value)


def _clock(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"
