"""Stretches of a recording as plain data, shared by every stage (as lhotse's supervision segments are):
`Span` (where), `Word` (an aligned word or phone), `Segment` (a stretch of speech or sound with what is
known of it). Times are seconds from the start of the recording."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Span:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Word(Span):
    """An aligned or recognised word; its phones are Words too, whose text is the phone (ARPAbet for English)."""

    text: str = ""
    probability: float | None = None
    phones: list[Word] = field(default_factory=list)


@dataclass
class Segment(Span):
    """A stretch of speech: a subtitle cue, a recognised or aligned sentence, a speaker's turn; or, among a
    subtitle track's events, a sound description such as "[door slams]"."""

    text: str = ""
    speaker: str | None = None  # a name the source gives (subtitle label), or a diarized speaker label
    words: list[Word] = field(default_factory=list)
    overlap: bool = False  # another speaker talks at the same time (diarization)
