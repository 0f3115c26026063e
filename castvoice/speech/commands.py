"""Speech commands, ready for the CLI to call."""

from __future__ import annotations

from pathlib import Path

from castvoice.atomic import write_text_atomic
from castvoice.console import progress
from castvoice.errors import CastvoiceError
from castvoice.media.probe import probe
from castvoice.speech.asr import transcribe_file
from castvoice.speech.formats import FORMATS, render, to_rttm
from castvoice.speech.types import Turn


def transcribe_command(media: Path, model: str, language: str | None, fmt: str, words: bool, out: Path | None) -> str:
    """Transcribe a media file and return it rendered as `fmt`; also write it to `out` when given."""
    if fmt not in FORMATS:
        raise CastvoiceError(f"unknown transcript format {fmt!r}; choose from {', '.join(FORMATS)}")
    info = probe(media)
    with progress() as bar:
        task = bar.add_task("transcribing", total=max(1, round(info.duration)))
        transcript = transcribe_file(
            media, model, language, words, on_progress=lambda seconds: bar.update(task, completed=round(seconds))
        )
    text = render(transcript, fmt, words)
    if out is not None:
        write_text_atomic(out, text)
    return text


def diarize_command(media: Path, out: Path, num_speakers: int | None) -> list[Turn]:
    """Find who speaks when in a media file and write the turns to `out` as RTTM (file id: the media's stem)."""
    from castvoice.speech.diarize import diarize_file

    turns = diarize_file(media, num_speakers=num_speakers)
    write_text_atomic(out, to_rttm(turns, Path(media).stem))
    return turns
