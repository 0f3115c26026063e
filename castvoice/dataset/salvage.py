"""What of a clip's lines is clear of other voices: words at its start or end that another voice
overlaps are dropped, so the clip can be cut where that voice stops or before it starts, and its text
is cut to the words kept. Overlap among the words kept is measured, not removed."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from castvoice.spans import Span, Word
from castvoice.workspace.catalog import LineRecord

TOUCH = 0.02  # seconds of another voice a word may touch: alignment is no finer
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")  # a written word, as the aligners split text
_OPENING = re.compile(r"[\"'“‘(\[¿¡]*$")
_CLOSING = re.compile(r"[.!?…\"'”’)\]]*")


@dataclass
class Salvaged:
    """The part of a clip group kept: its words, text, where it may be cut, and what was dropped."""

    words: list[Word]  # kept, in movie seconds
    text: str  # the written text of the kept words
    room: Span  # how far the cut may reach: where the other voices around it (or the words dropped) stop and start
    overlap: float  # share of the kept words' span during which another voice is active
    notes: list[str]  # the words dropped at each edge, and why
    covered: bool = False  # every word lies under another voice: nothing is dropped, the overlap decides

    @property
    def speech(self) -> Span:
        return Span(self.words[0].start, self.words[-1].end)


def salvage(group: list[LineRecord], words: dict[int, list[Word]], busy: list[tuple[float, float]],
            duration: float) -> Salvaged:
    """Drop the words at the group's start and end that another voice (`busy` spans) overlaps.

    Without alignment, a line's own span stands for its words."""
    lines = [(line, words.get(line.id) or [Word(line.start, line.end, line.text)]) for line in group]
    flat = [w for _, line_words in lines for w in line_words]
    first, last, notes = 0, len(flat), []
    while first < last and (hit := _voices_over(flat[first], busy)):
        until, dropped = max(e for _, e in hit), first
        while first < last and flat[first].start < until - TOUCH:
            first += 1
        notes.append(f"dropped “{_spoken(flat[dropped:first])}” at the start: another voice until {until:.2f} s")
    while first < last and (hit := _voices_over(flat[last - 1], busy)):
        since, dropped = min(s for s, _ in hit), last
        while first < last and flat[last - 1].end > since + TOUCH:
            last -= 1
        notes.append(f"dropped “{_spoken(flat[last:dropped])}” at the end: another voice from {since:.2f} s")
    covered = first >= last
    if covered:
        first, last, notes = 0, len(flat), []
    speech = Span(flat[first].start, flat[last - 1].end)
    # The cut may reach to where another voice stops (or starts), but not into the words dropped.
    floor = [min(e, speech.start) for s, e in busy if s < speech.start]
    ceiling = [max(s, speech.end) for s, e in busy if e > speech.end]
    if first > 0:
        floor.append(min(flat[first - 1].end, speech.start))
    if last < len(flat):
        ceiling.append(max(flat[last].start, speech.end))
    room = Span(max(floor, default=0.0), min(ceiling, default=duration))
    texts, offset = [], 0
    for line, line_words in lines:
        keep = range(max(first - offset, 0), min(last - offset, len(line_words)))
        if len(keep) == len(line_words):
            texts.append(line.text)
        elif keep:
            texts.append(cut_text(line.text, [w.text for w in line_words], keep.start, keep.stop))
        offset += len(line_words)
    return Salvaged(flat[first:last], " ".join(t for t in texts if t), room,
                    round(_covered_share(speech, busy), 3), notes, covered)


def drop_unheard(kept: Salvaged, at_start: int, at_end: int, busy: list[tuple[float, float]],
                 language: str) -> Salvaged | None:
    """`kept` without the words a re-transcription did not hear at its edges (`at_start` and `at_end`
    scoring words), so the clip can be cut again between them and the words heard; None when no word
    would be left."""
    from castvoice.text.normalize import scoring_words

    def tokens_holding(count: int, tokens: list[Word]) -> int:
        taken = 0
        while count > 0 and taken < len(tokens):
            count -= len(scoring_words(tokens[taken].text, language))
            taken += 1
        return taken

    flat = kept.words
    first = tokens_holding(at_start, flat)
    last = len(flat) - tokens_holding(at_end, flat[::-1])
    if first >= last:
        return None
    notes = list(kept.notes)
    if first:
        notes.append(f"dropped “{_spoken(flat[:first])}” at the start: not heard in the clip")
    if last < len(flat):
        notes.append(f"dropped “{_spoken(flat[last:])}” at the end: not heard in the clip")
    words = flat[first:last]
    speech = Span(words[0].start, words[-1].end)
    room = Span(max(kept.room.start, flat[first - 1].end if first else kept.room.start),
                min(kept.room.end, flat[last].start if last < len(flat) else kept.room.end))
    text = cut_text(kept.text, [w.text for w in flat], first, last)
    return Salvaged(words, text, room, round(_covered_share(speech, busy), 3), notes)


def _voices_over(word: Word, busy: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The other voices overlapping a word by more than TOUCH, or by most of it (an aligner squeezes a
    word it cannot place to a few milliseconds)."""
    least = min(TOUCH, word.duration / 2)
    return [(s, e) for s, e in busy if min(e, word.end) - max(s, word.start) > least]


def _covered_share(span: Span, busy: list[tuple[float, float]]) -> float:
    """Share of `span` covered by the union of `busy`."""
    clipped = sorted((max(span.start, s), min(span.end, e)) for s, e in busy if e > span.start and s < span.end)
    covered, reach = 0.0, span.start
    for s, e in clipped:
        if e > reach:
            covered += e - max(s, reach)
            reach = e
    return covered / span.duration if span.duration > 0 else 0.0


def _spoken(words: list[Word]) -> str:
    return " ".join(w.text for w in words)


def cut_text(text: str, tokens: list[str], first: int, end: int) -> str:
    """The part of `text` that holds `tokens[first:end]`, where `tokens` are its words as aligned, in
    order (an aligner may spell a number out or skip a word: only tokens found in the text place a cut,
    and a cut never takes in a token it cannot place)."""
    written = list(_TOKEN.finditer(text))
    matcher = difflib.SequenceMatcher(None, [_plain(t) for t in tokens], [_plain(m.group()) for m in written],
                                      autojunk=False)
    placed = {a + k: b + k for a, b, size in matcher.get_matching_blocks() for k in range(size)}
    starts = [placed[i] for i in range(first, end) if i in placed]
    if not starts:
        return ""
    begin, finish = written[starts[0]].start(), written[starts[-1]].end()
    begin -= len(_OPENING.search(text[:begin]).group())
    finish += len(_CLOSING.match(text, finish).group())
    return text[begin:finish].strip()


def _plain(token: str) -> str:
    return token.casefold().replace("’", "'")
