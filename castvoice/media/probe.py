"""What a media file holds, read with PyAV."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from castvoice.errors import InputError


@dataclass
class SubtitleStream:
    index: int
    codec: str
    language: str | None


@dataclass
class MediaInfo:
    path: Path
    duration: float
    sample_rate: int
    channels: int
    has_video: bool
    subtitle_streams: list[SubtitleStream] = field(default_factory=list)

    @property
    def text_subtitle_streams(self) -> list[SubtitleStream]:
        """Subtitle streams that carry text (bitmap subtitles such as PGS are skipped)."""
        return [s for s in self.subtitle_streams if s.codec in TEXT_SUBTITLE_CODECS]


TEXT_SUBTITLE_CODECS = {"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"}


def open_container(path: Path):
    """Open a media file with PyAV, turning its failures into a one-line InputError."""
    import av

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    try:
        return av.open(str(path))
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as error:
        raise InputError(f"not a media file that can be decoded ({error.__class__.__name__})", path) from None


def probe(path: Path) -> MediaInfo:
    """Describe a movie's streams; raise InputError if it is not media or has no audio."""
    with open_container(path) as container:
        audio = container.streams.audio
        if not audio:
            raise InputError("no audio track", path)
        stream = audio[0]
        _check_audio_decodes(container, stream, path)
        duration = _duration_seconds(container, stream)
        return MediaInfo(
            path=Path(path),
            duration=duration,
            sample_rate=stream.codec_context.sample_rate,
            channels=stream.codec_context.channels,
            has_video=bool(container.streams.video),
            subtitle_streams=[
                SubtitleStream(s.index, s.codec_context.name, s.metadata.get("language"))
                for s in container.streams.subtitles
            ],
        )


def _duration_seconds(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def _check_audio_decodes(container, stream, path: Path) -> None:
    """Decode the first audio frame, so that bytes that only look like media fail before any work."""
    import av

    try:
        for packet in container.demux(stream):
            if packet.decode():
                return
    except av.error.FFmpegError as error:
        raise InputError(f"audio could not be decoded ({error.__class__.__name__})", path) from None
    raise InputError("the audio track holds no samples", path)
