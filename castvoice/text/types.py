"""Plain data for the text stage."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Cue:
    """One spoken line from a subtitle file (a dialogue-dash cue becomes several)."""

    start: float
    end: float
    text: str
    speaker: str | None = None  # a name the subtitle itself gives (ASS Name, <v Name>, "NAME:")


@dataclass
class SoundEvent:
    """A non-speech description such as "[door slams]" or "♪ music ♪"."""

    start: float
    end: float
    description: str


@dataclass
class SubtitleTrack:
    """Everything read from one subtitle source."""

    cues: list[Cue] = field(default_factory=list)
    events: list[SoundEvent] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class DialogueBlock:
    """One character's speech in a screenplay, between a character cue and the next element."""

    character: str
    text: str
    scene: int
    parenthetical: str | None = None


@dataclass
class Screenplay:
    """The dialogue of a screenplay, in order, with scene numbers (0 before the first heading)."""

    blocks: list[DialogueBlock] = field(default_factory=list)
    scene_headings: list[str] = field(default_factory=list)

    @property
    def characters(self) -> list[str]:
        return sorted({b.character for b in self.blocks})
