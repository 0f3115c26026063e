"""Plain data for the speech stage. Times are seconds from the start of the audio."""

from __future__ import annotations

from dataclasses import dataclass, field

from castvoice.spans import Segment


@dataclass
class Transcript:
    language: str
    segments: list[Segment] = field(default_factory=list)
    language_probability: float | None = None
    duration: float | None = None

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())
