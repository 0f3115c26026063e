"""Plain data for the text stage."""

from __future__ import annotations

from dataclasses import dataclass, field

from castvoice.spans import Segment


@dataclass
class SubtitleTrack:
    """Everything read from one subtitle source."""

    cues: list[Segment] = field(default_factory=list)  # spoken lines; `speaker` is a name the subtitle gives
    events: list[Segment] = field(default_factory=list)  # sound descriptions: "[door slams]", "♪ music ♪"
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
    title: str | None = None  # from a Fountain title page, or a plain script's first line

    @property
    def characters(self) -> list[str]:
        return sorted({b.character for b in self.blocks})
