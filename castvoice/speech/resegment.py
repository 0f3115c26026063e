"""Recognised words regrouped, as WhisperX re-segments Whisper's output: into sentences cut at their ends and
at pauses, no longer than MAX_LINE_SECONDS; split where the speaker changes; or split until each piece fits
(a subtitle cue). A piece's text is cut from the recognised text (its spacing and punctuation kept); its
times are its first and last word's."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import replace

from castvoice.spans import Segment, Span, Word
from castvoice.text.sentences import CLAUSE_END, QUOTES, sentence_ends

MAX_LINE_SECONDS = 12.0  # a longer sentence is split at its strongest breaks
PAUSE_SECONDS = 1.0  # a silence this long between words ends a line, full stop or not
# How strongly the text breaks after a word, in seconds of pause it is worth when a long piece is split.
SENTENCE_BREAK = 1.0
CLAUSE_BREAK = 0.5
# Whisper often drops a full stop but keeps the next sentence's capital ("having is So we had"); a capital
# says nothing where nouns take one.
CAPITAL_BREAK = 0.75
CAPITALISED_NOUNS = frozenset({"de", "lb"})
FIRST_PERSON = frozenset({"I", "I'm", "I'll", "I've", "I'd"})
BALANCE = 1.0  # worth of a split in the middle over one at an edge, in the same seconds
MIN_SPEAKER_SECONDS = 0.5  # a shorter run of another speaker's words splits a line only at a pause this long:
SPEAKER_PAUSE = 0.3


def sentence_lines(segments: list[Segment], speech: list[Span], language: str | None = None) -> list[Segment]:
    """Recognised segments (with their words) regrouped into sentences: cut at sentence ends and at pauses
    of PAUSE_SECONDS, a sentence longer than MAX_LINE_SECONDS split at its strongest breaks. `speech`
    (voice activity regions, in time order) trims the silence Whisper lets words run into, so pauses show."""
    whole = _joined(segments)
    if not whole.words:
        return []
    whole.words = _on_speech(whole.words, speech, language)
    starts = _starts(whole)
    kinds = _break_kinds(whole, starts, language)
    pauses = _pauses(whole.words)
    cuts = [i + 1 for i, (kind, pause) in enumerate(zip(kinds, pauses)) if kind == "sentence" or pause >= PAUSE_SECONDS]
    strengths = _strengths(kinds, pauses)
    return [_piece(whole, starts, a, b)
            for first, stop in zip([0, *cuts], [*cuts, len(whole.words)])
            for a, b in _split(whole, starts, strengths, lambda p: p.duration <= MAX_LINE_SECONDS, first, stop)]


def split_until(segment: Segment, fits: Callable[[Segment], bool], language: str | None = None) -> list[Segment]:
    """`segment` split at word boundaries until every piece `fits`: each time at its strongest break (sentence
    end, clause end, a capital starting a sentence, pause) near its middle. A single word is never split."""
    whole = replace(segment, words=words_of(segment))
    starts = _starts(whole)
    strengths = _strengths(_break_kinds(whole, starts, language), _pauses(whole.words))
    return [_piece(whole, starts, a, b) for a, b in _split(whole, starts, strengths, fits, 0, len(whole.words))]


def split_at_speaker_changes(lines: list[Segment], turns: list[Segment]) -> list[Segment]:
    """Lines split between words where the diarized speaker changes. Each word goes to the speaker whose
    turns cover most of it (a word no turn covers, with the word before it). Word and turn times are rough:
    a run of words shorter than MIN_SPEAKER_SECONDS with no pause of SPEAKER_PAUSE at either end goes with
    the run before it."""
    turns = sorted(turns, key=lambda t: t.start)
    starts = [t.start for t in turns]
    longest = max((t.duration for t in turns), default=0.0)
    result = []
    for line in lines:
        near = turns[bisect_left(starts, line.start - longest):bisect_right(starts, line.end)]
        speakers = [_speaker_of(word, near) for word in line.words]
        known = [s for s in speakers if s is not None]
        if len(set(known)) < 2:
            result.append(line)
            continue
        speaker = known[0]
        for i, found in enumerate(speakers):
            speaker = speakers[i] = found or speaker
        pauses = [0.0, *_pauses(line.words), 0.0]  # before each word, and after the last
        for first, stop in _runs(speakers):
            short = line.words[stop - 1].end - line.words[first].start < MIN_SPEAKER_SECONDS
            if short and max(pauses[first], pauses[stop]) < SPEAKER_PAUSE:
                speakers[first:stop] = [speakers[first - 1] if first else speakers[stop]] * (stop - first)
        text_starts = _starts(line)
        result += [_piece(line, text_starts, first, stop) for first, stop in _runs(speakers)]
    return result


def _runs(values: list) -> list[tuple[int, int]]:
    """(first, stop) of each run of equal values."""
    cuts = [i for i in range(1, len(values)) if values[i] != values[i - 1]]
    return list(zip([0, *cuts], [*cuts, len(values)]))


def words_of(segment: Segment) -> list[Word]:
    """The segment's words; without recognised ones, its text's words spread over its time by their length."""
    if segment.words:
        return segment.words
    texts = segment.text.split()
    total = sum(len(t) + 1 for t in texts) or 1
    words, at = [], segment.start
    for text in texts:
        end = at + segment.duration * (len(text) + 1) / total
        words.append(Word(at, end, text))
        at = end
    return words


def _joined(segments: list[Segment]) -> Segment:
    """One segment holding all the segments' text and words."""
    texts = [s.text.strip() for s in segments if s.text.strip()]
    words = [w for s in segments if s.text.strip() for w in words_of(s)]
    return Segment(words[0].start if words else 0.0, words[-1].end if words else 0.0, " ".join(texts), words=words)


def _on_speech(words: list[Word], speech: list[Span], language: str | None) -> list[Word]:
    """Each word trimmed to the speech region (`speech`: voice activity, in time order) holding most of it:
    Whisper stretches words over the pauses next to them. A word that starts a sentence goes to the last
    region it reaches: its start is what Whisper stretches back over the pause. A word in no speech region
    stays as it is."""
    starts, ends = [s.start for s in speech], [s.end for s in speech]
    trimmed = []
    for word in words:
        inside = speech[bisect_right(ends, word.start):bisect_left(starts, word.end)]
        if inside:
            region = inside[-1] if _starts_sentence(word, language) else max(
                inside, key=lambda r: min(r.end, word.end) - max(r.start, word.start))
            word = replace(word, start=max(word.start, region.start), end=min(word.end, region.end))
        trimmed.append(word)
    return trimmed


def _starts(segment: Segment) -> list[int]:
    """Where each word starts in the segment's text: found in order, or (when the text does not hold it as
    recognised) where the word before it ends."""
    starts, at = [], 0
    for word in segment.words:
        found = segment.text.find(word.text, at)
        starts.append(found if found >= 0 else at)
        at = found + len(word.text) if found >= 0 else at
    return starts


def _break_kinds(segment: Segment, starts: list[int], language: str | None) -> list[str | None]:
    """After each word but the last: "sentence" where a sentence ends, "clause" at a comma, colon, dash...,
    "capital" before a capitalised word (not "I") in a language whose nouns are not capitalised."""
    text = segment.text
    ends, clauses = sorted(sentence_ends(text)), sorted(m.end() for m in CLAUSE_END.finditer(text))

    def within(marks: list[int], low: int, high: int) -> bool:
        return bisect_left(marks, low + 1) < bisect_right(marks, high)

    return ["sentence" if within(ends, a, b) else "clause" if within(clauses, a, b)
            else "capital" if _starts_sentence(after, language) else None
            for a, b, after in zip(starts, starts[1:], segment.words[1:])]


def _starts_sentence(word: Word, language: str | None) -> bool:
    """A capitalised word other than "I", in a language whose nouns are not capitalised."""
    token = word.text.strip().strip(QUOTES)
    return (language not in CAPITALISED_NOUNS and token[:1].isupper()
            and token.rstrip(",.;:!?") not in FIRST_PERSON)


def _pauses(words: list[Word]) -> list[float]:
    return [max(0.0, after.start - before.end) for before, after in zip(words, words[1:])]


def _strengths(kinds: list[str | None], pauses: list[float]) -> list[float]:
    bonus = {"sentence": SENTENCE_BREAK, "clause": CLAUSE_BREAK, "capital": CAPITAL_BREAK, None: 0.0}
    return [pause + bonus[kind] for kind, pause in zip(kinds, pauses)]


def _split(whole: Segment, starts: list[int], strengths: list[float], fits: Callable[[Segment], bool],
           first: int, stop: int) -> list[tuple[int, int]]:
    """Word ranges [first, stop) split in two at the strongest break, preferring the middle, until each fits."""
    if stop - first < 2 or fits(_piece(whole, starts, first, stop)):
        return [(first, stop)]
    words = whole.words
    span = max(words[stop - 1].end - words[first].start, 1e-6)

    def worth(cut: int) -> float:
        shorter = min(words[cut - 1].end - words[first].start, words[stop - 1].end - words[cut].start)
        return strengths[cut - 1] + BALANCE * shorter / span

    cut = max(range(first + 1, stop), key=worth)
    return (_split(whole, starts, strengths, fits, first, cut)
            + _split(whole, starts, strengths, fits, cut, stop))


def _piece(whole: Segment, starts: list[int], first: int, stop: int) -> Segment:
    """Words [first, stop) of `whole` as a segment, its times on its words and its text cut from the whole's
    (from its first word up to the next piece's), so that the pieces together hold all the text."""
    words = whole.words[first:stop]
    text = whole.text[starts[first] if first else 0:starts[stop] if stop < len(starts) else len(whole.text)]
    return Segment(words[0].start, words[-1].end, text.strip(), whole.speaker, words)


def _speaker_of(word: Word, turns: list[Segment]) -> str | None:
    cover: dict[str, float] = {}
    for turn in turns:
        shared = min(turn.end, word.end) - max(turn.start, word.start)
        if shared > 0 and turn.speaker is not None:
            cover[turn.speaker] = cover.get(turn.speaker, 0.0) + shared
    return max(cover, key=cover.get) if cover else None
