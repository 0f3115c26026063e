"""Read SRT, WebVTT and ASS/SSA subtitles into spoken cues and sound events.

Every source (a file, decoded text, or dialogue packets from a video container) goes
through `track_from_dialogue`, which strips markup, separates sound descriptions from
speech, finds speaker labels, splits dialogue-dash cues and places cues on the media's
timeline.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from pathlib import Path

from castvoice.errors import InputError
from castvoice.text.decode import read_text_file
from castvoice.spans import Segment
from castvoice.text.types import SubtitleTrack

RawCue = tuple[float, float, str, str | None]  # start, end, text with markup, speaker

# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def read_subtitles(
    path: str | Path, offset: float = 0.0, duration: float | None = None
) -> SubtitleTrack:
    """Read an SRT, WebVTT or ASS/SSA file in any common encoding.

    `offset` seconds are added to every time; with `duration`, cues are kept within
    [0, duration]. Raises InputError when the file is not subtitles or has no cues.
    """
    return parse_subtitles(read_text_file(path, "subtitle file"), str(path), offset, duration)


def parse_subtitles(
    text: str, name: str = "<subtitles>", offset: float = 0.0, duration: float | None = None
) -> SubtitleTrack:
    """Parse already-decoded SRT, WebVTT or ASS/SSA text; `name` is used in messages."""
    if not text.strip("\ufeff \t\r\n"):
        raise InputError("file is empty, not subtitles", name)
    parse = _PARSERS.get(_sniff_format(text))
    if parse is None:
        raise InputError("is not a subtitle file (no SRT, WebVTT or ASS/SSA cues found)", name)
    lines = re.split(r"\r\n|\r|\n", text.lstrip("\ufeff"))
    parse_warnings: list[str] = []
    raw = parse(lines, name, parse_warnings)
    track = track_from_dialogue(raw, name, offset, duration)
    track.warnings[:0] = parse_warnings
    if not track.cues and not track.events:
        raise InputError(_nothing_usable(track.warnings, name), name)
    return track


def track_from_dialogue(
    raw: Iterable[RawCue],
    name: str = "<subtitles>",
    offset: float = 0.0,
    duration: float | None = None,
) -> SubtitleTrack:
    """Build a track from timed cue texts that may still carry ASS or HTML/WebVTT markup.

    Each item is (start, end, text, speaker) with an optional speaker name such as an
    ASS Name field. Cues with no duration are skipped with a warning.
    """
    track = SubtitleTrack()
    timed: list[tuple[float, float, list[_Line], str | None]] = []
    for start, end, text, speaker in raw:
        if end <= start:
            problem = "has no duration" if end == start else "ends before it starts"
            track.warnings.append(f"{name}: cue at {_clock(start)} {problem}; skipped")
            continue
        timed.append((start, end, _markup_lines(text), (speaker or "").strip() or None))

    timeline = _Timeline(offset, duration)
    unrolled = _unroll([lines for _, _, lines, _ in timed])
    for (start, end, _, speaker), lines in zip(timed, unrolled):
        placed = timeline.place(start, end)
        if placed is not None:
            cues, events = _split_cue(*placed, lines, speaker)
            track.cues.extend(cues)
            track.events.extend(events)
    track.warnings.extend(timeline.warnings(name))

    track.cues.sort(key=lambda cue: cue.start)
    track.events.sort(key=lambda event: event.start)
    return track


# ---------------------------------------------------------------------------
# Decoding and format detection
# ---------------------------------------------------------------------------

_ASS_SECTION = re.compile(
    r"^\s*\[(?:Script Info|V4\+? Styles|Events)\]", re.IGNORECASE | re.MULTILINE
)
_TIMING_LIKE = re.compile(r"^\s*\S*\d\S*\s*-->\s*\S*\d", re.MULTILINE)  # even if malformed


def _sniff_format(text: str) -> str | None:
    """Name the format from the content: "vtt", "ass", "srt", or None."""
    if text.lstrip("\ufeff \t\r\n").startswith("WEBVTT"):
        return "vtt"
    if _ASS_SECTION.search(text):
        return "ass"
    if _TIMING_LIKE.search(text):
        return "srt"
    return None


# ---------------------------------------------------------------------------
# Format parsers: lines -> raw cues, with a warning per malformed cue
# ---------------------------------------------------------------------------

_TIMESTAMP = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?"
_TIMING_LINE = re.compile(rf"\s*{_TIMESTAMP}\s*-->\s*{_TIMESTAMP}(?:\s.*)?")


def _seconds(hours: str | None, minutes: str, seconds: str, fraction: str | None) -> float | None:
    if int(minutes) >= 60 or int(seconds) >= 60:
        return None
    value = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    return value + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


_VTT_BLOCKS = ("WEBVTT", "NOTE", "STYLE", "REGION")  # blocks without a timing line that are not cues


def _parse_timed_blocks(
    lines: list[str], name: str, warnings: list[str], webvtt: bool
) -> list[RawCue]:
    """Parse SRT or WebVTT: a timing line "A --> B [settings]" followed by text lines.

    In WebVTT only an empty line ends a cue (a line of spaces belongs to it); in SRT any
    blank line does. Identifiers, NOTE, STYLE and header lines outside cues are ignored;
    other text outside a cue (a cue whose timing line is missing or has no arrow) is
    skipped with a warning.
    """
    cues: list[tuple[float, float, list[str]]] = []
    text: list[str] | None = None
    loose: list[tuple[int, str]] = []  # (line number, line) outside any cue since the last blank line

    def skip_loose() -> None:
        found = [(number, line) for number, line in loose if not line.strip().isdigit()]  # not cue numbers
        if found and not (webvtt and found[0][1].startswith(_VTT_BLOCKS)):
            number, line = found[0]
            warnings.append(f"{name}: line {number}: text outside any cue (no timing line with -->) "
                            f"{line.strip()!r}; cue skipped")
        loose.clear()

    for number, line in enumerate(lines, 1):
        if "-->" in line:
            if text and text[-1].strip().isdigit():
                text.pop()  # the next cue's number, when no blank line came before it
            del loose[-1:]  # the cue's identifier
            skip_loose()
            match = _TIMING_LINE.fullmatch(line)
            times = match and (_seconds(*match.groups()[:4]), _seconds(*match.groups()[4:]))
            if not times or None in times:
                warnings.append(
                    f"{name}: line {number}: unreadable cue timing {line.strip()!r}; cue skipped"
                )
                text = []  # the skipped cue's text goes nowhere
                continue
            text = []
            cues.append((times[0], times[1], text))
        elif (line == "") if webvtt else (not line.strip()):
            text = None
            skip_loose()
        elif text is not None:
            text.append(line)
        else:
            loose.append((number, line))
    skip_loose()
    return [(start, end, "\n".join(text), None) for start, end, text in cues]


_ASS_DEFAULT_FORMAT = [
    "layer", "start", "end", "style", "name", "marginl", "marginr", "marginv", "effect", "text"
]
_ASS_TIME = re.compile(_TIMESTAMP)
_ASS_EVENTS = ("format", "dialogue", "comment", "picture", "sound", "movie", "command")


def _parse_ass(lines: list[str], name: str, warnings: list[str]) -> list[RawCue]:
    """Parse the Dialogue lines of an ASS/SSA [Events] section, honouring its Format line."""
    cues: list[RawCue] = []
    fields = _ASS_DEFAULT_FORMAT
    in_events = False
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if line.startswith("["):
            in_events = line.lower() == "[events]"
            continue
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if in_events and line and not line.startswith(";") and key not in _ASS_EVENTS:
            warnings.append(f"{name}: line {number}: not a Dialogue line {line!r}; skipped")
            continue
        if not in_events or key not in ("format", "dialogue"):
            continue  # styles, script info, and Comment events are not spoken
        if key == "format":
            fields = [f.strip().lower() for f in value.split(",")]
            continue
        values = [v.strip() for v in value.split(",", len(fields) - 1)]
        event = dict(zip(fields, values))
        start, end = _ass_seconds(event.get("start", "")), _ass_seconds(event.get("end", ""))
        if len(values) < len(fields) or start is None or end is None:
            warnings.append(f"{name}: line {number}: malformed Dialogue line; skipped")
            continue
        cues.append((start, end, event.get("text", ""), event.get("name") or event.get("actor")))
    return cues


def _ass_seconds(value: str) -> float | None:
    match = _ASS_TIME.fullmatch(value)
    return _seconds(*match.groups()) if match else None


_PARSERS = {
    "srt": partial(_parse_timed_blocks, webvtt=False),
    "vtt": partial(_parse_timed_blocks, webvtt=True),
    "ass": _parse_ass,
}


def _nothing_usable(warnings: list[str], name: str) -> str:
    if not warnings:
        return "contains no subtitle cues"
    first = warnings[0].removeprefix(f"{name}: ")
    more = f", and {len(warnings) - 1} more problems" if len(warnings) > 1 else ""
    return f"contains no usable subtitle cues ({first}{more})"


# ---------------------------------------------------------------------------
# Markup: raw cue text -> plain lines, each with its WebVTT voice
# ---------------------------------------------------------------------------


@dataclass
class _Line:
    text: str
    voice: str | None = None  # from a WebVTT <v Name> span


_ASS_DRAWING = re.compile(r"\{[^{}]*\\p[1-9][^{}]*\}.*?(?=\{[^{}]*\\p0[^{}]*\}|$)", re.DOTALL)
_BRACE_BLOCK = re.compile(r"\{[^{}]*\}")  # ASS override tags, also used in some SRT files
_VOICE_TAG = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]*)>|</v>")
_RUBY_TEXT = re.compile(r"<rt\b[^>]*>.*?</rt>", re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<\d[\d:.]*>")  # HTML/WebVTT tags, karaoke timestamps
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060\ufeff]")


def _markup_lines(text: str) -> list[_Line]:
    """Strip ASS and HTML/WebVTT markup, keeping line breaks and <v> voices."""
    text = _BRACE_BLOCK.sub("", _ASS_DRAWING.sub("", text))
    text = text.replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
    text = _RUBY_TEXT.sub("", text)
    lines: list[_Line] = []
    voice = None
    for line in re.split(r"\r\n|\r|\n", text):
        tags = list(_VOICE_TAG.finditer(line))
        opened = [tag.group(1).strip() for tag in tags if tag.group(1)]
        line_voice = opened[0] if opened else voice
        if tags:  # a voice lasts until </v> or the end of the cue
            voice = (tags[-1].group(1) or "").strip() or None
        plain = " ".join(_INVISIBLE.sub("", html.unescape(_TAG.sub("", line))).split())
        if plain:
            lines.append(_Line(plain, line_voice))
    return lines


def _unroll(cues: list[list[_Line]]) -> list[list[_Line]]:
    """Remove the repeated lines of roll-up captions (as in YouTube's WebVTT).

    A file counts as roll-up when most cues begin with the previous cue's last line;
    such lines are dropped, so each line is spoken once.
    """
    repeats = sum(
        bool(prev and cur and cur[0].text == prev[-1].text) for prev, cur in pairwise(cues)
    )
    if len(cues) < 3 or repeats * 2 < len(cues) - 1:
        return cues
    unrolled = cues[:1]
    for prev, cur in pairwise(cues):
        overlap = max(
            (k for k in range(1, min(len(prev), len(cur)) + 1)
             if [x.text for x in cur[:k]] == [x.text for x in prev[-k:]]),
            default=0,
        )
        unrolled.append(cur[overlap:])
    return unrolled


# ---------------------------------------------------------------------------
# Timeline: offset, clamping to 0 and to the media's duration
# ---------------------------------------------------------------------------


class _Timeline:
    """Places cues on the media's timeline and counts what it had to change."""

    def __init__(self, offset: float, duration: float | None):
        self.offset = offset
        self.duration = duration
        self.before_zero = self.clamped_at_zero = self.after_end = self.clamped_at_end = 0

    def place(self, start: float, end: float) -> tuple[float, float] | None:
        """Shift a cue by the offset and keep it within [0, duration], or None to drop it."""
        start, end = start + self.offset, end + self.offset
        if end <= 0:
            self.before_zero += 1
            return None
        if start < 0:
            self.clamped_at_zero += 1
            start = 0.0
        if self.duration is not None:
            if start >= self.duration:
                self.after_end += 1
                return None
            if end > self.duration:
                self.clamped_at_end += 1
                end = self.duration
        return round(start, 3), round(end, 3)

    def warnings(self, name: str) -> list[str]:
        """One warning per kind of change made."""
        shift = f" with offset {self.offset:+g} s" if self.offset else ""
        media_end = f"the end of the media ({_clock(self.duration or 0.0)})"
        changes = [
            (self.before_zero, f"end before 0 s{shift}; dropped"),
            (self.clamped_at_zero, f"start before 0 s{shift}; clamped to 0"),
            (self.after_end, f"start after {media_end}; dropped"),
            (self.clamped_at_end, f"end after {media_end}; clamped"),
        ]
        return [
            f"{name}: {count} {'cue' if count == 1 else 'cues'} {problem}"
            for count, problem in changes
            if count
        ]


# ---------------------------------------------------------------------------
# Speech: dialogue dashes, speaker labels, sound descriptions
# ---------------------------------------------------------------------------


@dataclass
class _Part:
    """The lines of one speaker's turn inside a cue."""

    voice: str | None
    lines: list[str] = field(default_factory=list)


_DASH = re.compile(r"^[-‐–—](?!\d)\s*")  # not a minus sign: "-20 degrees"
_INLINE_DASH = re.compile(r"(?<=[.?!…])\s+(?=[-‐–—]\s)")  # "- Hi. - Hello." on one line
_MUSIC_SPAN = re.compile(r"[♪♫][^♪♫]*[♪♫](?:\s*[♪♫])*")
_MUSIC_NOTE = re.compile(r"[♪♫]")
_LEADING_BRACKET = re.compile(r"\s*(\[([^\[\]]*)\]|\(([^()]*)\))\s*")
_BRACKETED = re.compile(r"\[[^\[\]]*\]|\([^()]*\)")
_COLON_LABEL = re.compile(r"([^:\s][^:]{0,39}?)\s?:(?:\s+|$)")
_NAME_WORD = re.compile(r"[^\W\d_][\w.'’-]*")

# Bracketed text at the start of a line names a speaker ("[MARCUS] Hi", "(Oliver) Hi")
# when speech follows it and it has 1-3 words that are all capitalised (ALL CAPS or Title
# Case, numbers allowed after the first word: "MAN 2") with no lowercase words. SDH
# descriptions are lowercase ("[door slams]") or contain a sound word or an -ing form
# ("[LAUGHS]", "[Phone ringing]"); those, and any other bracket, become sound events.
_SOUND_WORDS = frozenset(
    """
    applause bang bangs beep beeps breathes buzz buzzes chatter chuckle chuckles clang
    clatter click clicks cough coughs crash crashes cries crowd exhales explosion
    footsteps gasp gasps giggle giggles groan groans growl growls grunt grunts gunshot
    gunshots inaudible indistinct inhales knock knocks laugh laughs laughter moan moans
    music mutters murmurs noise rings scoff scoffs scream screams shout shouts sigh sighs
    silence siren slam slams sniff sniffs sniffles snores sobs static stammers thud
    thunder whimpers whispers whistle yawns yells
    """.split()
)


def _is_name(label: str) -> bool:
    words = label.split()
    if not 1 <= len(words) <= 3 or not _NAME_WORD.fullmatch(words[0]):
        return False
    for position, word in enumerate(words):
        bare = word.strip(".'’-").lower()
        if not (word[0].isupper() or (position > 0 and word.isdigit())):
            return False
        if bare in _SOUND_WORDS or bare.endswith("ing"):
            return False
    return True


def _split_cue(
    start: float, end: float, lines: list[_Line], speaker: str | None
) -> tuple[list[Segment], list[Segment]]:
    """Turn one timed cue into spoken segments (one per speaker turn) and sound events."""
    turns = [_speech(part) for part in _dialogue_parts(lines)]
    events = [Segment(start, end, sound) for _, _, sounds in turns for sound in sounds]
    spoken = [(who, text) for who, text, _ in turns if text]
    if len(spoken) == 1 and spoken[0][0] is None:
        spoken = [(speaker, spoken[0][1])]

    cues = []
    total = sum(len(text) for _, text in spoken)
    done = 0
    for who, text in spoken:  # the cue's time is shared in proportion to text length
        cue_start = start + (end - start) * done / total
        done += len(text)
        cue_end = start + (end - start) * done / total
        cues.append(Segment(round(cue_start, 3), round(cue_end, 3), text, who))
    return cues, events


def _dialogue_parts(lines: list[_Line]) -> list[_Part]:
    """Group lines into speaker turns: a new turn at each leading dash or voice change."""
    parts: list[_Part] = []
    for line in lines:
        pieces = _INLINE_DASH.split(line.text) if _DASH.match(line.text) else [line.text]
        for piece in pieces:
            dash = _DASH.match(piece)
            if dash or not parts or parts[-1].voice != line.voice:
                parts.append(_Part(line.voice))
            parts[-1].lines.append(piece[dash.end():] if dash else piece)
    return parts


def _speech(part: _Part) -> tuple[str | None, str, list[str]]:
    """Return (speaker, spoken text, sound descriptions) for one speaker turn."""
    sounds: list[str] = []
    music: list[str] = []
    spoken_lines = []
    for line in part.lines:
        music.extend(span.group() for span in _MUSIC_SPAN.finditer(line))
        line = _MUSIC_SPAN.sub(" ", line)
        if _MUSIC_NOTE.search(line):  # an unclosed note: the whole line is sung
            music.append(line.strip())
            line = ""
        spoken_lines.append(line)
    if music:
        sounds.append(" ".join(music))

    text = " ".join(" ".join(spoken_lines).split())
    speaker = None
    while match := _LEADING_BRACKET.match(text):
        label = (match.group(2) or match.group(3) or "").strip()
        text = text[match.end():]
        if speaker is None and text and _is_name(label):
            speaker = label
        else:
            sounds.append(match.group(1))
    sounds.extend(_BRACKETED.findall(text))
    text = " ".join(_BRACKETED.sub(" ", text).split())

    if speaker is None and (label := _COLON_LABEL.match(text)) and _is_name(label.group(1)):
        speaker, text = label.group(1), text[label.end():]
    if sounds:  # tidy what removing descriptions left: "Hello [coughs]." -> "Hello."
        text = re.sub(r"\s+([,.!?…])", r"\1", text).lstrip(",;: ")
    if not any(ch.isalnum() for ch in text):
        text = ""
    return speaker or part.voice, text, sounds


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:06.3f}"
