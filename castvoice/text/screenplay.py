"""Read a screenplay's dialogue: Fountain (https://fountain.io/syntax) or the plain-text layout.

The plain-text layout is what a PDF screenplay becomes as text (``pdftotext -layout``): scene
headings and action at the left margin, character cues far to the right, dialogue in between.
When every line is flush left, a short line in capitals directly above other lines is a cue.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from castvoice.errors import InputError
from castvoice.text.decode import read_text_file
from castvoice.text.types import DialogueBlock, Screenplay

FOUNTAIN_SUFFIXES = (".fountain", ".spmd")

_NO_DIALOGUE = "no dialogue found (expected character names in capitals above their lines)"

_TITLE_KEY = re.compile(
    r"(?i)(?:title|credit|authors?|source|draft date|date|contact|copyright|notes|revision)[ \t]*:"
)
_FOUNTAIN_MARK = re.compile(r"^(?:@[^\W_]|\.[^\W_]|\[\[|/\*)", re.M)
_COMMENT = re.compile(r"/\*.*?\*/|\[\[.*?\]\]", re.S)
_REMOVED = "\ue000"  # stands in for a removed note or boneyard until its line is judged
_EMPHASIS = re.compile(r"(?<!\\)[*_]")

_HEADING_START = r"(?:INT|EXT|EST|I/E)[./ ]"
_FOUNTAIN_HEADING = re.compile(_HEADING_START, re.I)
_FORCED_HEADING = re.compile(r"\.[^\W_]")  # one period, then a letter or digit (not an ellipsis)
_FOUNTAIN_SCENE_NUMBER = re.compile(r"\s*#[^#\s]+#$")
_PLAIN_HEADING = re.compile(  # scene numbers may stand on both sides
    rf"(?:(?P<number>\d+[A-Z]*)\.?\s+)?(?P<heading>{_HEADING_START}.*?)(?:\s+(?P=number)\.?)?"
)

_PAGE_NUMBER = re.compile(r"\d{1,4}[A-Z]?\.?")
_CONTINUED = re.compile(r"(?:\d+[A-Z]*\s+)?\(?CONTINUED\)?:?(?:\s*\(\d+\))?(?:\s+\d+[A-Z]*)?")
_MORE = "(MORE)"

_EXTENSION = re.compile(r"\([^)]*\)")
_NAME_PUNCTUATION = frozenset(" .'’-&/#")
_MAX_NAME_WORDS = 5
_NOT_NAMES = frozenset(
    {
        "FADE IN", "FADE OUT", "FADE UP", "FADE TO BLACK", "CUT TO BLACK", "THE END", "END",
        "INTERCUT", "BACK TO SCENE", "CONTINUOUS", "LATER", "MOMENTS LATER", "MONTAGE",
        "END MONTAGE", "FLASHBACK", "END FLASHBACK", "SERIES OF SHOTS", "TITLE CARD", "SUPER",
        "BLACK", "BLACKOUT", "OVER BLACK",
    }
)  # fmt: skip


def read_screenplay(path: str | Path) -> Screenplay:
    """Read a Fountain or plain-text screenplay file."""
    path = Path(path)
    fountain = True if path.suffix.lower() in FOUNTAIN_SUFFIXES else None
    return parse_screenplay(read_text_file(path), str(path), fountain)


def parse_screenplay(text: str, name: str = "<screenplay>", fountain: bool | None = None) -> Screenplay:
    """Parse screenplay text; `fountain=None` decides between Fountain and plain text from the content."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise InputError("no dialogue found (the file is empty)", name)
    if fountain is None:
        fountain = _looks_like_fountain(text)
    screenplay = _parse_fountain(text) if fountain else _parse_plain(text)
    if not screenplay.blocks:
        raise InputError(_NO_DIALOGUE, name)
    return screenplay


def _looks_like_fountain(text: str) -> bool:
    return bool(_TITLE_KEY.match(text.lstrip("\n")) or _FOUNTAIN_MARK.search(text))


def _character(cue: str, forced: bool = False) -> str | None:
    """The character a cue line names, without extensions such as (V.O.); None if it is not a cue."""
    name = " ".join(_EXTENSION.sub(" ", cue).replace("^", " ").split())
    if forced:
        return name.upper() or None
    if (
        name != name.upper()
        or not any(c.isalpha() for c in name)
        or not all(c.isalnum() or c in _NAME_PUNCTUATION for c in name)
        or len(name.split()) > _MAX_NAME_WORDS
        or " - " in name
        or name.rstrip(".") in _NOT_NAMES
    ):
        return None
    return name


class _Speech:
    """The lines under one character cue, split into spoken text and parentheticals."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.parentheticals: list[str] = []
        self._open: list[str] | None = None  # a parenthetical that spans lines

    def add(self, line: str) -> None:
        if self._open is None and line.startswith("("):
            self._open, line = [], line[1:]
        if self._open is not None:
            inside, closed, line = line.partition(")")
            self._open.append(inside)
            if not closed:
                return
            self.parentheticals.append(" ".join(self._open))
            self._open = None
        self.lines.append(line)

    @property
    def in_parenthetical(self) -> bool:
        return self._open is not None

    def block(self, character: str, scene: int) -> DialogueBlock | None:
        lines = self.lines if self._open is None else [*self.lines, "(" + " ".join(self._open)]
        text = _collapse(" ".join(lines))
        if not text:
            return None
        parenthetical = "; ".join(p for p in map(_collapse, self.parentheticals) if p)
        return DialogueBlock(character, text, scene, parenthetical or None)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _merge(block: DialogueBlock, more: DialogueBlock) -> None:
    """Append the rest of a speech that a page break interrupted."""
    block.text = f"{block.text} {more.text}"
    if more.parenthetical:
        block.parenthetical = "; ".join(filter(None, (block.parenthetical, more.parenthetical)))


# Fountain


def _parse_fountain(text: str) -> Screenplay:
    lines = _without_comments(text)
    screenplay = Screenplay()
    i, screenplay.title = _title_page(lines)
    after_blank = True
    while i < len(lines):
        line = lines[i].strip()
        if not line or line.startswith(("#", "=")):  # sections, synopses and page breaks
            after_blank = True
            i += 1
            continue
        heading = _fountain_heading(line)
        if heading is not None:
            screenplay.scene_headings.append(heading)
        else:
            character = _fountain_cue(line, after_blank, i + 1 < len(lines) and lines[i + 1].strip() != "")
            if character:
                end, speech = _fountain_dialogue(lines, i + 1)
                block = speech.block(character, len(screenplay.scene_headings))
                if block:
                    screenplay.blocks.append(block)
                    i = end
                    after_blank = False
                    continue
        after_blank = False
        i += 1
    return screenplay


def _without_comments(text: str) -> list[str]:
    """Lines with notes [[...]] and boneyard /* ... */ removed; a line that held only those goes too."""
    lines = []
    for line in _COMMENT.sub(_REMOVED, text).split("\n"):
        if _REMOVED in line:
            line = line.replace(_REMOVED, "")
            if not line.strip():
                continue
        lines.append(line)
    return lines


def _title_page(lines: list[str]) -> tuple[int, str | None]:
    """Where the script starts after a Fountain title page, and the title the page gives."""
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    title_lines: list[str] = []
    if i < len(lines) and _TITLE_KEY.match(lines[i]):
        key = None
        while i < len(lines) and lines[i].strip():
            if _TITLE_KEY.match(lines[i]):
                key, _, value = lines[i].partition(":")
                key = key.strip().lower()
                if key == "title" and value.strip():
                    title_lines.append(value.strip())
            elif key == "title":  # a title over several indented lines
                title_lines.append(lines[i].strip())
            i += 1
    return i, _title_text(" ".join(title_lines))


def _title_text(text: str) -> str | None:
    """A title as written for reading: emphasis gone, an all-capitals title in title case."""
    text = _collapse(_inline(text))
    return (text.title() if text.isupper() else text) or None


def _inline(text: str) -> str:
    """Text without Fountain emphasis markers."""
    return _EMPHASIS.sub("", text).replace("\\*", "*").replace("\\_", "_")


def _fountain_heading(line: str) -> str | None:
    if _FORCED_HEADING.match(line):
        heading = line[1:]
    elif _FOUNTAIN_HEADING.match(line):
        heading = line
    else:
        return None
    return _collapse(_inline(_FOUNTAIN_SCENE_NUMBER.sub("", heading)))


def _fountain_cue(line: str, after_blank: bool, before_text: bool) -> str | None:
    if line.startswith("@"):
        return _character(_inline(line[1:]), forced=True)
    if line.startswith(("!", ">", "~", ".")) or not (after_blank and before_text):
        return None
    return _character(line)


def _fountain_dialogue(lines: list[str], i: int) -> tuple[int, _Speech]:
    """Read dialogue from line i to the next blank line; a line of two spaces keeps it going."""
    speech = _Speech()
    while i < len(lines) and (lines[i].strip() or lines[i] == "  "):
        line = lines[i].strip()
        speech.add(_inline(line[1:].strip() if line.startswith("~") else line))
        i += 1
    return i, speech


# Plain text


@dataclass(frozen=True)
class _Line:
    indent: int
    text: str  # stripped; empty for a blank line


@dataclass(frozen=True)
class _Layout:
    """Indentation thresholds of an indented script; all None when everything is flush left."""

    cue_min: float | None = None  # a cue is indented at least this much
    dialogue_min: float | None = None  # dialogue is indented at least this much (action less)
    dialogue_max: float | None = None  # a line this far right is a cue, title or transition


def _parse_plain(text: str) -> Screenplay:
    lines = _plain_lines(text)
    layout = _measure(lines)
    screenplay = Screenplay(title=_plain_title(lines))
    interrupted: DialogueBlock | None = None  # a speech that ended in (MORE) at a page break
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.text:
            i += 1
            continue
        heading = _plain_heading(line.text)
        if heading is not None:
            screenplay.scene_headings.append(heading)
        else:
            character = _plain_cue(lines, i, layout)
            if character:
                end, speech, more = _plain_dialogue(lines, i + 1, layout)
                block = speech.block(character, len(screenplay.scene_headings))
                if block:
                    if interrupted and interrupted.character == character:
                        _merge(interrupted, block)
                        block = interrupted
                    else:
                        screenplay.blocks.append(block)
                    interrupted = block if more else None
                    i = end
                    continue
        interrupted = None
        i += 1
    return screenplay


def _plain_title(lines: list[_Line]) -> str | None:
    """A plain script's title: its first line, when a blank line follows it and it is neither a scene
    heading nor a transition such as FADE IN:."""
    written = [i for i, line in enumerate(lines) if line.text]
    if not written:
        return None
    first = written[0]
    text = lines[first].text
    followed_by_blank = first + 1 < len(lines) and not lines[first + 1].text
    if not followed_by_blank or _plain_heading(text) is not None or text.endswith(":"):
        return None
    return _title_text(text)


def _plain_lines(text: str) -> list[_Line]:
    """Lines with their indentation, without page numbers and CONTINUED markers."""
    lines = []
    for raw in text.replace("\f", "").split("\n"):
        raw = raw.expandtabs(8).rstrip()
        stripped = raw.lstrip()
        if _PAGE_NUMBER.fullmatch(stripped) or _CONTINUED.fullmatch(stripped):
            continue
        lines.append(_Line(len(raw) - len(stripped), stripped))
    return lines


def _plain_heading(text: str) -> str | None:
    match = _PLAIN_HEADING.fullmatch(text)
    return _collapse(match["heading"]) if match else None


def _measure(lines: list[_Line]) -> _Layout:
    """Find the columns of action, dialogue and cues from the lines that look like cues."""
    content = [line for line in lines if line.text]
    margin = min((line.indent for line in content if not line.text[0].isdigit()), default=0)
    cue_columns, dialogue_columns, flush_cues = [], [], 0
    for i, line in enumerate(lines[:-1]):
        if not lines[i + 1].text or _plain_heading(line.text) or not _character(line.text):
            continue
        if line.indent < margin + 6:
            flush_cues += 1
            continue
        cue_columns.append(line.indent)
        j = i + 1
        while j < len(lines) and lines[j].text.startswith("("):
            j += 1
        if j < len(lines) and lines[j].text:
            dialogue_columns.append(lines[j].indent)
    if len(cue_columns) <= flush_cues:
        return _Layout()
    cue = statistics.median_low(cue_columns)
    dialogue = statistics.median_low(dialogue_columns) if dialogue_columns else margin
    dialogue_min = (margin + dialogue) / 2 if dialogue - margin >= 4 else None
    if cue - dialogue >= 4:
        return _Layout((dialogue + cue) / 2, dialogue_min, (dialogue + cue) / 2)
    return _Layout((margin + cue) / 2, dialogue_min)


def _plain_cue(lines: list[_Line], i: int, layout: _Layout) -> str | None:
    line = lines[i]
    if i + 1 >= len(lines) or not lines[i + 1].text:
        return None
    if layout.cue_min is not None and line.indent < layout.cue_min:
        return None
    return _character(line.text)


def _plain_dialogue(lines: list[_Line], i: int, layout: _Layout) -> tuple[int, _Speech, bool]:
    """Read dialogue from line i; also say whether it ended in (MORE), to go on after a page break."""
    speech = _Speech()
    while i < len(lines) and lines[i].text:
        line = lines[i]
        if line.text.upper() == _MORE:
            return i + 1, speech, True
        parenthetical = line.text.startswith("(") or speech.in_parenthetical
        if (
            _plain_heading(line.text)
            or (layout.dialogue_min is not None and line.indent < layout.dialogue_min)
            or (layout.dialogue_max is not None and line.indent >= layout.dialogue_max and not parenthetical)
        ):
            break
        speech.add(line.text)
        i += 1
    return i, speech, False
