"""Tests for reading SRT, WebVTT and ASS/SSA subtitles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from castvoice.errors import InputError
from castvoice.text.subtitles import parse_subtitles, read_subtitles, track_from_dialogue
from castvoice.spans import Segment

EVAL = Path("/work/shared/eval")
LEFTOVER_MARKUP = re.compile(r"[<>{}]|\\N")

SIMPLE_SRT = """1
00:00:01,000 --> 00:00:02,500
Hello there.

2
00:00:03,000 --> 00:00:04,000
Second line
continues here.
"""


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def texts(track) -> list[str]:
    return [cue.text for cue in track.cues]


# --- encodings and line endings ---------------------------------------------


def test_utf8_with_bom(tmp_path):
    track = read_subtitles(write(tmp_path, "a.srt", b"\xef\xbb\xbf" + SIMPLE_SRT.encode()))
    assert texts(track) == ["Hello there.", "Second line continues here."]
    assert (track.cues[0].start, track.cues[0].end) == (1.0, 2.5)
    assert track.warnings == []


def test_utf16_le_with_bom(tmp_path):
    data = "\ufeff1\n00:00:01,000 --> 00:00:02,000\nNaïve café\n".encode("utf-16-le")
    assert data.startswith(b"\xff\xfe")
    assert texts(read_subtitles(write(tmp_path, "a.srt", data))) == ["Naïve café"]


def test_utf16_be_with_bom_and_without_bom(tmp_path):
    text = "WEBVTT\n\n00:01.000 --> 00:02.000\nGrüß dich\n"
    with_bom = write(tmp_path, "be.vtt", "\ufeff".encode("utf-16-be") + text.encode("utf-16-be"))
    without_bom = write(tmp_path, "le.vtt", text.encode("utf-16-le"))
    assert texts(read_subtitles(with_bom)) == ["Grüß dich"]
    assert texts(read_subtitles(without_bom)) == ["Grüß dich"]


def test_cp1252_with_crlf(tmp_path):
    data = "1\r\n00:00:01,000 --> 00:00:02,000\r\nUn café, s’il vous plaît.\r\n\r\n".encode("cp1252")
    assert b"\x92" in data and b"\xe9" in data
    track = read_subtitles(write(tmp_path, "fr.srt", data))
    assert texts(track) == ["Un café, s’il vous plaît."]


def test_cyrillic_legacy_code_page(tmp_path):
    data = "1\n00:00:01,000 --> 00:00:02,000\nПривет, как дела? Всё хорошо.\n".encode("cp1251")
    assert texts(read_subtitles(write(tmp_path, "ru.srt", data))) == ["Привет, как дела? Всё хорошо."]


def test_crlf_webvtt(tmp_path):
    data = "WEBVTT\r\n\r\n00:00:01.000 --> 00:00:02.000\r\nLine one\r\nline two\r\n".encode()
    track = read_subtitles(write(tmp_path, "a.vtt", data))
    assert texts(track) == ["Line one line two"]


def test_format_is_sniffed_from_content_not_extension(tmp_path):
    path = write(tmp_path, "subs.txt", b"WEBVTT\n\n00:01.000 --> 00:02.000\n<v Ann>Hi</v>\n")
    assert read_subtitles(path).cues == [Segment(1.0, 2.0, "Hi", "Ann")]


# --- malformed and unusual cues ----------------------------------------------


def test_malformed_timestamp_is_skipped_with_warning():
    text = """1
00:00:01,000 --> 00:00:02,000
Good one.

2
00:00:0x,000 --> 00:00:05,000
Broken.

3
00:00:06,000 --> 00:00:07,000
Good two.
"""
    track = parse_subtitles(text, "bad.srt")
    assert texts(track) == ["Good one.", "Good two."]
    assert len(track.warnings) == 1
    assert track.warnings[0].startswith("bad.srt: line 6:")
    assert "\n" not in track.warnings[0]


@pytest.mark.parametrize("broken,line", [
    ("2\n00:00:03,000 -> 00:00:04,000\nLost.\n", 6),  # no arrow
    ("2\n00:00:03,000 00:00:04,000\nLost.\n", 6),  # no separator at all
    ("\nLost, after an empty line.\n", 6),  # text that a blank line cut from its timing
])
def test_a_cue_without_a_timing_line_is_skipped_with_warning(broken, line):
    text = f"1\n00:00:01,000 --> 00:00:02,000\nGood one.\n\n{broken}\n3\n00:00:06,000 --> 00:00:07,000\nGood two.\n"
    track = parse_subtitles(text, "bad.srt")
    assert texts(track) == ["Good one.", "Good two."]
    assert len(track.warnings) == 1, track.warnings
    assert track.warnings[0].startswith(f"bad.srt: line {line}:") and "skipped" in track.warnings[0]


def test_webvtt_header_note_and_style_blocks_are_not_cues():
    text = ("WEBVTT\nKind: captions\n\nNOTE a note\nover two lines\n\nSTYLE\n::cue { color: red }\n\n"
            "id-1\n00:01.000 --> 00:02.000\nHello.\n\n00:03.000 - 00:04.000\nLost.\n")
    track = parse_subtitles(text, "x.vtt")
    assert texts(track) == ["Hello."]
    assert track.warnings == ["x.vtt: line 14: text outside any cue (no timing line with -->) '00:03.000 - 00:04.000'; "
                              "cue skipped"]


def test_an_unknown_ass_event_line_is_skipped_with_warning():
    text = ("[Script Info]\nScriptType: v4.00+\n\n[Events]\n"
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
            "Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,Hello.\n"
            "Dialog: 0,0:00:03.00,0:00:04.00,Default,,0,0,0,,Lost.\n"
            "Comment: 0,0:00:05.00,0:00:06.00,Default,,0,0,0,,A note.\n")
    track = parse_subtitles(text, "x.ass")
    assert texts(track) == ["Hello."]
    assert len(track.warnings) == 1 and track.warnings[0].startswith("x.ass: line 7: not a Dialogue line")


def test_end_before_start_is_skipped_with_warning():
    text = "1\n00:00:05,000 --> 00:00:04,000\nBackwards.\n\n2\n00:00:06,000 --> 00:00:07,000\nFine.\n"
    track = parse_subtitles(text, "x.srt")
    assert texts(track) == ["Fine."]
    assert len(track.warnings) == 1 and "ends before it starts" in track.warnings[0]
    assert track.warnings[0].startswith("x.srt:")


def test_overlapping_cues_are_kept_sorted_by_start():
    text = """1
00:00:05,000 --> 00:00:08,000
Later.

2
00:00:01,000 --> 00:00:06,000
Earlier and overlapping.
"""
    track = parse_subtitles(text)
    assert [(c.start, c.end, c.text) for c in track.cues] == [
        (1.0, 6.0, "Earlier and overlapping."),
        (5.0, 8.0, "Later."),
    ]


def test_empty_cues_produce_nothing():
    text = """1
00:00:01,000 --> 00:00:02,000

2
00:00:03,000 --> 00:00:04,000
<i> </i>

3
00:00:05,000 --> 00:00:06,000
Real text.
"""
    assert texts(parse_subtitles(text)) == ["Real text."]


def test_missing_blank_line_before_next_cue_number():
    text = "1\n00:00:01,000 --> 00:00:02,000\nFirst.\n2\n00:00:03,000 --> 00:00:04,000\nSecond.\n"
    assert texts(parse_subtitles(text)) == ["First.", "Second."]


# --- markup ------------------------------------------------------------------


def test_html_tags_and_entities_are_stripped():
    text = (
        "1\n00:00:01,000 --> 00:00:02,000\n"
        '<i>Tom &amp; Jerry</i> <font color="#ff0000">are</font> <b>here</b>.\n'
    )
    assert texts(parse_subtitles(text)) == ["Tom & Jerry are here."]


def test_ass_override_tags_line_breaks_and_name_field():
    text = r"""[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:03.50,Default,Diane,0,0,0,,{\an8}{\i1}Where are you,{\i0}\Nreally?
Comment: 0,0:00:02.00,0:00:03.00,Default,Diane,0,0,0,,This is a translator note.
Dialogue: 0,0:00:04.00,0:00:05.00,Default,,0,0,0,,Nobody knows, {\b1}Diane{\b0}.
"""
    track = parse_subtitles(text, "show.ass")
    assert track.cues == [
        Segment(1.0, 3.5, "Where are you, really?", "Diane"),
        Segment(4.0, 5.0, "Nobody knows, Diane.", None),
    ]
    assert track.warnings == []


def test_ass_custom_format_order_and_bad_dialogue_line():
    text = """[Events]
Format: Start, End, Name, Text
Dialogue: 0:00:01.00,0:00:02.00,Marcus,Hi, you.
Dialogue: 0:00:xx.00,0:00:04.00,Marcus,Broken.
"""
    track = parse_subtitles(text, "custom.ssa")
    assert track.cues == [Segment(1.0, 2.0, "Hi, you.", "Marcus")]
    assert len(track.warnings) == 1 and track.warnings[0].startswith("custom.ssa: line 4:")


WEBVTT_FULL = """WEBVTT - with extras
Kind: captions

STYLE
::cue {
  color: yellow;
}

NOTE a comment
spanning two lines

intro
00:00:01.000 --> 00:00:03.000 align:start position:10%
<v Roger Bingham>We are in New York City</v>

00:00:03.000 --> 00:00:05.000
<v.loud Neil>No, <c.highlight>we</c> are <00:00:04.000>not.</v>

3
00:00:05.000 --> 00:00:07.000 line:0 size:50%
<v Roger Bingham>Hm.</v>
<v Neil>Ha!
"""


def test_webvtt_voices_blocks_identifiers_and_settings():
    track = parse_subtitles(WEBVTT_FULL, "talk.vtt")
    assert [(c.text, c.speaker) for c in track.cues] == [
        ("We are in New York City", "Roger Bingham"),
        ("No, we are not.", "Neil"),
        ("Hm.", "Roger Bingham"),
        ("Ha!", "Neil"),
    ]
    assert (track.cues[0].start, track.cues[0].end) == (1.0, 3.0)
    hm, ha = track.cues[2:]
    assert hm.start == 5.0 and hm.end == ha.start and ha.end == 7.0
    assert track.warnings == []


def test_track_from_dialogue_cleans_raw_container_text():
    track = track_from_dialogue(
        [
            (2.0, 3.0, r"{\i1}Second{\i0}", "Bob"),
            (0.5, 1.5, r"First\Nline", None),
            (4.0, 4.0, "Zero length", None),
        ],
        name="movie.mkv#3",
        offset=1.0,
    )
    assert track.cues == [Segment(1.5, 2.5, "First line"), Segment(3.0, 4.0, "Second", "Bob")]
    assert len(track.warnings) == 1 and track.warnings[0].startswith("movie.mkv#3:")


# --- speakers, dialogue dashes and sound descriptions -------------------------


def one_cue(text: str, start: str = "00:00:10,000", end: str = "00:00:12,000"):
    return parse_subtitles(f"1\n{start} --> {end}\n{text}\n")


@pytest.mark.parametrize(
    ("text", "speaker", "spoken"),
    [
        ("DIANE: Where were you?", "DIANE", "Where were you?"),
        ("Dr. Lee: Take a seat.", "Dr. Lee", "Take a seat."),
        ("MAN 2: Over here!", "MAN 2", "Over here!"),
        ("[MARCUS] I told you so.", "MARCUS", "I told you so."),
        ("(OLIVER) Fine.", "OLIVER", "Fine."),
        ("(Oliver) Fine.", "Oliver", "Fine."),
        ("DIANE:\nWhere were you?", "DIANE", "Where were you?"),
        ("We meet at 10:30 tomorrow.", None, "We meet at 10:30 tomorrow."),
        ("I said: no more.", None, "I said: no more."),
        ("note: this stays.", None, "note: this stays."),
    ],
)
def test_speaker_labels(text, speaker, spoken):
    assert one_cue(text).cues == [Segment(10.0, 12.0, spoken, speaker)]


@pytest.mark.parametrize(
    ("text", "sound"),
    [
        ("[door slams]", "[door slams]"),
        ("(laughs)", "(laughs)"),
        ("[LAUGHS]", "[LAUGHS]"),
        ("♪ la la ♪", "♪ la la ♪"),
        ("♫ humming softly", "♫ humming softly"),
        ("♪ la la\nla la ♪", "♪ la la la la ♪"),
    ],
)
def test_sound_only_cues_become_events(text, sound):
    track = one_cue(text)
    assert track.cues == []
    assert track.events == [Segment(10.0, 12.0, sound)]


def test_sound_descriptions_are_removed_from_speech():
    track = one_cue("[door slams] DIANE: Who's there? (gasps)\n♪ la la ♪")
    assert track.cues == [Segment(10.0, 12.0, "Who's there?", "DIANE")]
    assert sorted(e.text for e in track.events) == ["(gasps)", "[door slams]", "♪ la la ♪"]
    assert all((e.start, e.end) == (10.0, 12.0) for e in track.events)


def test_sound_word_in_leading_bracket_is_not_a_speaker():
    assert one_cue("[LAUGHS] That's funny.").cues == [Segment(10.0, 12.0, "That's funny.", None)]
    assert one_cue("[Phone ringing] Hello?").cues == [Segment(10.0, 12.0, "Hello?", None)]


def test_dialogue_dashes_split_time_by_length():
    track = one_cue("- Hi.\n- Hello there, friend!", "00:00:10,000", "00:00:14,000")
    first, second = track.cues
    assert (first.text, second.text) == ("Hi.", "Hello there, friend!")
    total = len("Hi.") + len("Hello there, friend!")
    assert first.start == 10.0 and second.end == 14.0
    assert first.end == second.start == pytest.approx(10.0 + 4.0 * 3 / total, abs=0.001)


def test_dialogue_dashes_with_own_labels_and_on_one_line():
    track = one_cue("-DIANE: Coffee?\n– [MARCUS] Please.")
    assert [(c.text, c.speaker) for c in track.cues] == [("Coffee?", "DIANE"), ("Please.", "MARCUS")]
    track = one_cue("- Ready? - Yes.")
    assert texts(track) == ["Ready?", "Yes."]


def test_dash_cue_does_not_inherit_one_ass_name_for_both_turns():
    track = track_from_dialogue([(0.0, 2.0, r"- Hi.\N- Hey.", "Diane")])
    assert [c.speaker for c in track.cues] == [None, None]
    track = track_from_dialogue([(0.0, 2.0, r"- Hi.", "Diane")])
    assert track.cues == [Segment(0.0, 2.0, "Hi.", "Diane")]


# --- timeline -----------------------------------------------------------------


def test_offset_is_added_and_negative_times_clamped():
    track = parse_subtitles(SIMPLE_SRT, "s.srt", offset=-1.5)
    assert [(c.start, c.end) for c in track.cues] == [(0.0, 1.0), (1.5, 2.5)]
    assert track.warnings == ["s.srt: 1 cue start before 0 s with offset -1.5 s; clamped to 0"]
    track = parse_subtitles(SIMPLE_SRT, "s.srt", offset=2.0)
    assert [(c.start, c.end) for c in track.cues] == [(3.0, 4.5), (5.0, 6.0)]


def test_offset_drops_cues_that_end_before_zero():
    track = parse_subtitles(SIMPLE_SRT, "s.srt", offset=-2.75)
    assert [(c.start, c.end) for c in track.cues] == [(0.25, 1.25)]
    assert any("end before 0 s" in w for w in track.warnings)


def test_duration_drops_and_clamps_with_warnings():
    track = parse_subtitles(SIMPLE_SRT, "s.srt", duration=2.0)
    assert [(c.start, c.end) for c in track.cues] == [(1.0, 2.0)]
    assert len(track.warnings) == 2
    assert all(w.startswith("s.srt: 1 cue ") for w in track.warnings)
    assert any("dropped" in w for w in track.warnings) and any("clamped" in w for w in track.warnings)


def test_duration_dropping_everything_is_an_error():
    with pytest.raises(InputError, match="no usable subtitle cues"):
        parse_subtitles(SIMPLE_SRT, "s.srt", duration=0.5)


# --- not subtitles --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("image.srt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256))),
        ("notes.srt", b"It was a bright cold day in April.\nThe clocks were striking thirteen.\n"),
        ("data.vtt.json", b'{"words": [{"word": "hello", "start": 1.0, "end": 1.5}]}'),
        ("empty.srt", b""),
        ("blank.vtt", b"\xef\xbb\xbf\r\n  \n"),
        ("no_cues.vtt", b"WEBVTT\n\nNOTE nothing here\n"),
        ("no_events.ass", b"[Script Info]\nTitle: x\n\n[Events]\nFormat: Layer, Start, End, Text\n"),
    ],
)
def test_not_subtitles_raise_input_error_naming_the_file(tmp_path, name, data):
    path = write(tmp_path, name, data)
    with pytest.raises(InputError) as caught:
        read_subtitles(path)
    assert name in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_file_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_subtitles(tmp_path / "missing.srt")


def test_all_cues_malformed_reports_why(tmp_path):
    path = write(tmp_path, "broken.srt", b"1\n00:00:xx,000 --> 00:00:02,000\nHi\n")
    with pytest.raises(InputError, match=r"broken\.srt.*no usable subtitle cues.*line 2"):
        read_subtitles(path)


# --- real files -----------------------------------------------------------------


def assert_clean_and_ordered(track):
    assert track.cues
    starts = [c.start for c in track.cues]
    assert starts == sorted(starts)
    assert all(c.end > c.start >= 0 for c in track.cues)
    assert not any(LEFTOVER_MARKUP.search(c.text) for c in track.cues)
    assert not track.warnings


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("sintel-en.vtt", "This blade has a dark past.", "We're almost done. Shhh..."),
        ("sintel-de.vtt", "Diese Klinge birgt eine finstere Vergangenheit.", "Wir sind fast fertig. Ruhig..."),
    ],
)
def test_sintel_webvtt(name, first, last):
    track = read_subtitles(EVAL / "sintel_vtt" / name)
    assert_clean_and_ordered(track)
    assert len(track.cues) == 13
    assert (track.cues[0].start, track.cues[0].end, track.cues[0].text) == (18.7, 21.5, first)
    assert track.cues[-1].text == last
    assert track.events == [Segment(0.0, 12.0, "[Test]")]  # the file's placeholder cue


def test_sintel_german_umlauts_and_multiline_join():
    track = read_subtitles(EVAL / "sintel_vtt" / "sintel-de.vtt")
    assert track.cues[3].text == "Du kannst von Glück sagen, dass dein Blut noch in deinen Adern fließt."


def test_manifesto_srt():
    track = read_subtitles(EVAL / "videogrep_manifesto" / "manifesto.srt")
    assert_clean_and_ordered(track)
    assert len(track.cues) == 37
    assert track.cues[0] == Segment(1.599, 3.919, "this audiobook is in the public domain")
    assert track.cues[-1] == Segment(84.88, 87.84, "languages")


def test_manifesto_rolling_webvtt_matches_the_srt():
    vtt = read_subtitles(EVAL / "videogrep_manifesto" / "manifesto.vtt")
    srt = read_subtitles(EVAL / "videogrep_manifesto" / "manifesto.srt")
    assert_clean_and_ordered(vtt)
    assert vtt.cues[0] == Segment(1.599, 3.909, "this audiobook is in the public domain")
    assert texts(vtt) == texts(srt)
