"""Transcripts as text, SRT, WebVTT and JSON; speaker turns as RTTM."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from castvoice.errors import CastvoiceError, InputError
from castvoice.spans import Segment
from castvoice.speech.resegment import split_until
from castvoice.speech.types import Transcript

MAX_CUE_LINE = 42  # characters on one subtitle line; a cue holds two
MAX_CUE_SECONDS = 7.0
MIN_CUE_SECONDS = 1.0


def to_txt(transcript: Transcript) -> str:
    """One segment per line."""
    return "".join(f"{s.text.strip()}\n" for s in transcript.segments if s.text.strip())


def _timestamp(seconds: float, decimal: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def subtitle_cues(transcript: Transcript) -> list[Segment]:
    """The transcript as cues a subtitler accepts: segments split at word boundaries (sentence and clause
    ends and pauses first) until each cue lasts at most MAX_CUE_SECONDS and fits two lines of MAX_CUE_LINE
    characters. Cues are timed on their words; one shorter than MIN_CUE_SECONDS stays up longer, until the
    next begins. The text holds its line break as "\n"."""
    pieces = [p for s in transcript.segments if s.text.strip() for p in split_until(s, _fits_cue, transcript.language)]
    cues = [Segment(p.start, p.end, _cue_lines(p.text)) for p in pieces]
    last = transcript.duration if transcript.duration is not None else float("inf")
    for cue, after in zip(cues, [c.start for c in cues[1:]] + [last]):
        if cue.duration < MIN_CUE_SECONDS:
            cue.end = max(cue.end, min(cue.start + MIN_CUE_SECONDS, after))
    return cues


def _fits_cue(piece: Segment) -> bool:
    return piece.duration <= MAX_CUE_SECONDS and all(len(line) <= MAX_CUE_LINE
                                                     for line in _cue_lines(piece.text).split("\n"))


def _cue_lines(text: str) -> str:
    """Text on one line, never holding the cue arrow; when longer than MAX_CUE_LINE, on two lines broken at
    a space: after punctuation where both lines fit, and else where they are most even."""
    text = " ".join(text.split()).replace("-->", "->")
    spaces = [i for i, c in enumerate(text) if c == " "]
    if len(text) <= MAX_CUE_LINE or not spaces:
        return text

    def badness(space: int) -> tuple[bool, bool, int]:
        longer = max(space, len(text) - space - 1)
        return longer > MAX_CUE_LINE, text[space - 1] not in ",.;:!?", longer

    space = min(spaces, key=badness)
    return f"{text[:space]}\n{text[space + 1:]}"


def to_srt(transcript: Transcript) -> str:
    """SubRip cues (`subtitle_cues`)."""
    return "\n".join(f"{n}\n{_timestamp(c.start, ',')} --> {_timestamp(c.end, ',')}\n{c.text}\n"
                     for n, c in enumerate(subtitle_cues(transcript), start=1))


def to_vtt(transcript: Transcript) -> str:
    """WebVTT cues (`subtitle_cues`), with &, < and > escaped as the format requires."""
    cues = ["WEBVTT\n"]
    for cue in subtitle_cues(transcript):
        text = cue.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        cues.append(f"{_timestamp(cue.start, '.')} --> {_timestamp(cue.end, '.')}\n{text}\n")
    return "\n".join(cues)


def to_json(transcript: Transcript, words: bool = False) -> str:
    """The transcript as JSON; segments list their words when `words` is set."""
    return json.dumps(to_document(transcript, words), ensure_ascii=False, indent=2) + "\n"


def to_document(transcript: Transcript, words: bool = False) -> dict:
    """The transcript as the JSON-ready dict that `to_json` writes."""
    segments = []
    for s in transcript.segments:
        item = {"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text.strip()}
        if s.speaker is not None:
            item["speaker"] = s.speaker
        if words:
            item["words"] = [
                {"start": round(w.start, 3), "end": round(w.end, 3), "word": w.text,
                 "probability": None if w.probability is None else round(w.probability, 4)}
                for w in s.words
            ]
        segments.append(item)
    return {
        "language": transcript.language,
        "language_probability": None if transcript.language_probability is None
        else round(transcript.language_probability, 4),
        "duration": None if transcript.duration is None else round(transcript.duration, 3),
        "text": transcript.text,
        "segments": segments,
    }


FORMATS: dict[str, Callable[..., str]] = {"txt": to_txt, "srt": to_srt, "vtt": to_vtt, "json": to_json}


def render(transcript: Transcript, fmt: str, words: bool = False) -> str:
    """The transcript in one of FORMATS; only JSON carries word timings."""
    if fmt not in FORMATS:
        raise CastvoiceError(f"unknown transcript format {fmt!r}; choose from {', '.join(FORMATS)}")
    return to_json(transcript, words) if fmt == "json" else FORMATS[fmt](transcript)


def to_rttm(turns: list[Segment], file_id: str) -> str:
    """RTTM SPEAKER lines; whitespace in names becomes '_' because RTTM fields are space-separated."""
    return "".join(
        f"SPEAKER {_field(file_id)} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {_field(t.speaker)} <NA> <NA>\n"
        for t in sorted(turns, key=lambda t: (t.start, t.end))
    )


def _field(name: str) -> str:
    return re.sub(r"\s+", "_", name.strip())


def parse_rttm(text: str) -> dict[str, list[Segment]]:
    """SPEAKER lines of RTTM text as turns per file id, in time order, with `overlap` worked out from the times."""
    by_file: dict[str, list[Segment]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise CastvoiceError(f"RTTM line {number} has {len(fields)} fields, expected 10")
        try:
            start, duration = float(fields[3]), float(fields[4])
        except ValueError:
            raise CastvoiceError(f"RTTM line {number}: onset and duration must be numbers") from None
        by_file.setdefault(fields[1], []).append(Segment(round(start, 3), round(start + duration, 3), speaker=fields[7]))
    for turns in by_file.values():
        turns.sort(key=lambda t: (t.start, t.end))
        _mark_overlaps(turns)
    return by_file


def _mark_overlaps(turns: list[Segment]) -> None:
    """Set `overlap` on turns (sorted by start) that share time with another speaker's turn."""
    for i, turn in enumerate(turns):
        for other in turns[i + 1:]:
            if other.start >= turn.end:
                break
            if other.speaker != turn.speaker and other.end > turn.start:
                turn.overlap = other.overlap = True


def read_rttm(path: Path) -> dict[str, list[Segment]]:
    """Turns per file id from an RTTM file."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    return parse_rttm(path.read_text(encoding="utf-8"))
