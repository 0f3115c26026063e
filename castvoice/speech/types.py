"""Plain data for the speech stage. Times are seconds from the start of the audio."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SpeechRegion:
    """A stretch of audio where voice activity detection hears speech."""

    start: float
    end: float


@dataclass
class Phone:
    start: float
    end: float
    label: str  # ARPAbet for English aligners


@dataclass
class Word:
    start: float
    end: float
    text: str
    probability: float | None = None
    phones: list[Phone] = field(default_factory=list)


@dataclass
class Segment:
    """A stretch of transcribed or aligned speech, optionally with its words and speaker."""

    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    speaker: str | None = None


@dataclass
class Transcript:
    language: str
    segments: list[Segment] = field(default_factory=list)
    language_probability: float | None = None
    duration: float | None = None

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


@dataclass
class Turn:
    """One speaker's turn from diarization; `overlap` marks turns where another speaker talks too."""

    start: float
    end: float
    speaker: str
    overlap: bool = False
