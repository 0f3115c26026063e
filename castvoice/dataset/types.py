"""Plain data for a character's dataset: one checked clip and its scores."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DatasetClip:
    id: str  # stable and file-name safe, e.g. "diane_012"
    line_id: int
    character: str
    start: float  # movie seconds of the cut
    end: float
    text: str  # as written in the subtitles or screenplay
    normalized: str  # spoken form: numbers and abbreviations expanded
    language: str  # ISO 639-1, e.g. "en"
    audio_file: Path  # the cleaned audio (mono, any rate)
    kept: bool
    reason: str | None = None  # the check it fails (kept anyway if included by hand), or "excluded by hand"
    scores: dict[str, float | None] = field(default_factory=dict)  # snr_db, clipping, similarity, cer, ...
    override: str | None = None  # "include" or "exclude" by hand, else None
    film: str | None = None  # the film it was cut from

    @property
    def duration(self) -> float:
        return self.end - self.start
