"""Recognised words regrouped into sentences, split at speaker changes, and cut into subtitle cues."""

from __future__ import annotations

import pytest

from castvoice.spans import Segment, Span, Word
from castvoice.speech.formats import MAX_CUE_LINE, MAX_CUE_SECONDS, subtitle_cues
from castvoice.speech.resegment import MAX_LINE_SECONDS, sentence_lines, split_at_speaker_changes
from castvoice.speech.types import Transcript


def recognised(*words: tuple[float, float, str], text: str | None = None) -> Segment:
    """A recognised segment of (start, end, text) words; its text is the words joined by spaces unless given."""
    found = [Word(start, end, said) for start, end, said in words]
    return Segment(found[0].start, found[-1].end, text or " ".join(w.text for w in found), words=found)


def spaced(text: str, start: float = 0.0, seconds: float = 0.4, gap: float = 0.1) -> list[tuple[float, float, str]]:
    """Words of `text` one after another, `seconds` long with `gap` between."""
    return [(start + i * (seconds + gap), start + i * (seconds + gap) + seconds, w) for i, w in enumerate(text.split())]


def texts(lines: list[Segment]) -> list[str]:
    return [line.text for line in lines]


def test_sentences_end_at_full_stops_and_at_pauses():
    words = spaced("Hello there, Mr. Hale. How are you? I am") + spaced("fine thanks", start=6.0)
    lines = sentence_lines([recognised(*words)], speech=[])
    assert texts(lines) == ["Hello there, Mr. Hale.", "How are you?", "I am", "fine thanks"]
    for line in lines:
        assert (line.start, line.end) == (line.words[0].start, line.words[-1].end)


def test_a_sentence_across_two_whisper_windows_is_one_line():
    first, second = recognised(*spaced("We went down")), recognised(*spaced("to the river.", start=1.5))
    assert texts(sentence_lines([first, second], speech=[])) == ["We went down to the river."]


def test_a_long_sentence_is_split_at_a_clause_near_its_middle():
    words = spaced("one two three four five six seven eight nine ten, " * 2 + "and then it ends.", seconds=0.5)
    lines = sentence_lines([recognised(*words)], speech=[])
    assert len(lines) >= 2 and all(line.duration <= MAX_LINE_SECONDS for line in lines)
    assert lines[0].text.endswith("ten,") and lines[-1].text.endswith("it ends.")
    assert " ".join(texts(lines)) == recognised(*words).text


def test_words_stretched_over_a_silence_are_trimmed_to_the_speech_around_them():
    # Whisper lets "Manifesto" run over the 2 s silence before it; voice activity shows where it was said.
    words = [(9.5, 10.3, "Workers"), (10.3, 10.88, "united"), (10.88, 13.76, "Manifesto"), (13.76, 14.2, "of"),
             (14.2, 14.8, "the"), (14.8, 15.5, "party")]
    lines = sentence_lines([recognised(*words)], speech=[Span(9.4, 10.98), Span(13.18, 16.8)])
    assert texts(lines) == ["Workers united", "Manifesto of the party"]
    assert lines[1].start == pytest.approx(13.18)


def test_a_sentence_whisper_left_without_a_full_stop_starts_at_its_capital():
    # Recognised from a meeting: no full stop before "So", whose start Whisper stretched back over the pause.
    words = [(4.18, 4.58, "so"), (4.58, 5.7, "what"), (5.7, 5.9, "I'm"), (5.9, 6.1, "having"), (6.1, 6.48, "is"),
             (6.48, 8.1, "So"), (8.1, 8.26, "we"), (8.26, 8.58, "had"), (8.58, 8.9, "problems")]
    lines = sentence_lines([recognised(*words)], speech=[Span(4.1, 6.72), Span(7.9, 9.0)], language="en")
    assert texts(lines) == ["so what I'm having is", "So we had problems"]
    assert lines[1].start == pytest.approx(7.9)
    # German capitalises its nouns: a capital says nothing there, and "Haus" stays where most of it is.
    german = [(0.0, 0.4, "wir"), (0.4, 0.8, "sahen"), (0.8, 1.0, "das"), (1.0, 2.6, "Haus"), (2.6, 3.0, "und")]
    speech = [Span(0.0, 1.3), Span(2.4, 3.1)]
    assert texts(sentence_lines([recognised(*german)], speech, language="de")) == ["wir sahen das Haus", "und"]
    assert texts(sentence_lines([recognised(*german)], speech, language="en")) == ["wir sahen das", "Haus und"]


def test_subtitle_cues_break_before_a_capital_rather_than_after_it():
    words = spaced("and we found it was some stupid thing Well at the moment our best guess is that it was Java",
                   seconds=0.25, gap=0.05)
    cues = subtitle_cues(Transcript("en", [recognised(*words)]))
    assert len(cues) == 2 and cues[1].text.startswith("Well at the moment")


def test_the_text_keeps_its_spacing_and_punctuation():
    words = [(0.0, 0.3, "Visit"), (0.3, 0.6, "www"), (0.6, 0.9, ".example"), (0.9, 1.2, ".org"), (1.2, 1.5, "today.")]
    lines = sentence_lines([recognised(*words, text=" Visit www.example.org today.")], speech=[])
    assert texts(lines) == ["Visit www.example.org today."]


def turns(*spans: tuple[float, float, str]) -> list[Segment]:
    return [Segment(start, end, speaker=speaker) for start, end, speaker in spans]


def test_a_line_is_split_where_the_speaker_changes():
    line = recognised(*spaced("I told you so but you never listen"))
    # "I told you so" ends at 1.9 s; the other speaker says the rest.
    split = split_at_speaker_changes([line], turns((0.0, 1.95, "A"), (1.95, 4.0, "B")))
    assert texts(split) == ["I told you so", "but you never listen"]
    assert split[1].start == pytest.approx(2.0)


def test_a_speaker_flip_too_short_to_trust_does_not_split():
    line = recognised(*spaced("we are going to the shops now"))
    flip = turns((0.0, 1.95, "A"), (1.95, 2.45, "B"), (2.45, 4.0, "A"))  # one word, no pause around it
    assert texts(split_at_speaker_changes([line], flip)) == [line.text]
    apart = recognised(*spaced("we are going"), *spaced("yes", start=1.9), *spaced("to the shops", start=2.8))
    said = turns((0.0, 1.6, "A"), (1.8, 2.4, "B"), (2.7, 4.5, "A"))  # one word, pauses around it
    assert texts(split_at_speaker_changes([apart], said)) == ["we are going", "yes", "to the shops"]


def test_words_outside_every_turn_stay_with_the_words_before_them():
    line = recognised(*spaced("first part here then second part"))
    split = split_at_speaker_changes([line], turns((0.0, 0.9, "A"), (2.0, 3.0, "B")))
    assert texts(split) == ["first part here then", "second part"]
    assert split_at_speaker_changes([line], []) == [line]


def test_cues_obey_the_limits_even_without_word_times():
    text = ("It is high time that communists should openly, in the face of the whole world, publish their views, "
            "their aims, their tendencies, and meet this nursery tale with a manifesto of the party itself.")
    transcript = Transcript("en", [Segment(2.0, 30.0, text), Segment(31.0, 31.3, "Yes.")], duration=40.0)
    cues = subtitle_cues(transcript)
    assert len(cues) >= 4
    for cue in cues:
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= MAX_CUE_LINE for line in lines)
        assert cue.duration <= MAX_CUE_SECONDS
    assert " ".join(c.text.replace("\n", " ") for c in cues) == text + " Yes."
    assert (cues[-1].start, cues[-1].end) == (31.0, 32.0), "a short cue stays up a second"
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:]))
