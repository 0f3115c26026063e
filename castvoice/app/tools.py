"""The speech tools on their own, outside any workspace: transcribe, align and diarize a media file."""

from __future__ import annotations

from pathlib import Path

from castvoice.atomic import write_text_atomic
from castvoice.errors import CastvoiceError, InputError
from castvoice.media.decode import ANALYSIS_RATE
from castvoice.progress import track
from castvoice.spans import Segment

SUBTITLE_SUFFIXES = {".srt", ".vtt", ".ass", ".ssa"}


def transcribe(media: Path, model: str, language: str | None, fmt: str, words: bool, out: Path | None) -> str:
    """Transcribe a media file and return it rendered as `fmt`; also write it to `out` when given."""
    from castvoice.media.probe import probe
    from castvoice.speech.asr import transcribe_file
    from castvoice.speech.formats import FORMATS, render

    if fmt not in FORMATS:
        raise CastvoiceError(f"unknown transcript format {fmt!r}; choose from {', '.join(FORMATS)}")
    info = probe(media)
    with track("transcribing", total=max(1, round(info.duration))) as progress:
        transcript = transcribe_file(media, model, language,
                                     on_progress=lambda seconds: progress.update(done=round(seconds)))
    text = render(transcript, fmt, words)
    if out is not None:
        write_text_atomic(out, text)
    return text


def align(media: Path, text_source: Path, out: Path, language: str = "en") -> int:
    """Align a transcript (plain text) or subtitles with a media file's speech; write FILE.TextGrid or
    FILE.json; return the number of words aligned."""
    from castvoice.media.decode import load_audio
    from castvoice.speech.align import aligner_for
    from castvoice.speech.textgrid import write_alignment_json, write_textgrid

    media, text_source, out = Path(media), Path(text_source), Path(out)
    if out.suffix.lower() not in (".textgrid", ".json"):
        raise InputError("the output must end in .TextGrid or .json", out)
    if not media.is_file():
        raise InputError("file not found", media)
    audio = load_audio(media)
    duration = len(audio) / ANALYSIS_RATE
    aligner = aligner_for(language)
    if text_source.suffix.lower() in SUBTITLE_SUFFIXES:
        from castvoice.text.subtitles import read_subtitles

        cues = read_subtitles(text_source, duration=duration).cues
        if not cues:
            raise InputError("no spoken cues within the media's length", text_source)
        with track("aligning words"):
            words = [w for cue in aligner.align_segments(audio, [(c.start, c.end, c.text) for c in cues]) for w in cue]
    else:
        with track("aligning words"):
            words = aligner.align(audio, _read_transcript(text_source))
    if not words:
        raise InputError("the text holds no words to align", text_source)
    if out.suffix.lower() == ".json":
        write_alignment_json(words, out)
    else:
        write_textgrid(words, out, duration)
    return len(words)


def _read_transcript(path: Path) -> str:
    from castvoice.text.decode import read_text_file

    text = read_text_file(path, "transcript")
    if not text.strip():
        raise InputError("file is empty", path)
    return text


def diarize(media: Path, out: Path, num_speakers: int | None) -> list[Segment]:
    """Find who speaks when in a media file and write the turns to `out` as RTTM (file id: the media's stem)."""
    from castvoice.speech.diarize import diarize_file
    from castvoice.speech.formats import to_rttm

    turns = diarize_file(media, num_speakers=num_speakers)
    write_text_atomic(out, to_rttm(turns, Path(media).stem))
    return turns
