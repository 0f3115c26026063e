"""Decode a movie's audio track once into the two files later stages read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from castvoice.atomic import atomic_path
from castvoice.errors import InputError
from castvoice.media.probe import open_container
from castvoice.progress import track

ANALYSIS_RATE = 16_000


def iter_mono_blocks(path: Path, seconds: float = 1.0) -> Iterator[tuple[np.ndarray, int]]:
    """Yield (mono float32 samples, sample rate) blocks of about `seconds` of the first audio track."""
    import av

    with open_container(path) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        # Planar float at the stream's own rate: a format conversion only, no resampling.
        resampler = av.AudioResampler(format="fltp", rate=rate)
        pending: list[np.ndarray] = []
        size = 0
        try:
            for frame in container.decode(stream):
                for converted in resampler.resample(frame):
                    pending.append(converted.to_ndarray())
                    size += converted.samples
                if size >= seconds * rate:
                    yield np.concatenate(pending, axis=1).mean(axis=0, dtype=np.float32), rate
                    pending, size = [], 0
            pending += [converted.to_ndarray() for converted in resampler.resample(None)]
        except av.error.FFmpegError as error:
            raise InputError(f"audio could not be decoded: {error}", path) from None
        if pending:
            yield np.concatenate(pending, axis=1).mean(axis=0, dtype=np.float32), rate


def decode_audio(path: Path, source_out: Path, analysis_out: Path, duration_hint: float = 0.0) -> tuple[int, float]:
    """Write the audio as mono FLAC at its own rate and as 16 kHz float WAV; return (rate, seconds)."""
    import soundfile as sf
    import soxr

    samples = 0
    rate = None
    with (
        atomic_path(source_out) as source_tmp,
        atomic_path(analysis_out) as analysis_tmp,
        track("decoding audio", total=max(1, round(duration_hint))) as progress,
    ):
        source = analysis = resampler = None
        try:
            for block, rate in iter_mono_blocks(path):
                if source is None:
                    source = sf.SoundFile(source_tmp, "w", rate, 1, "PCM_24", format="FLAC")
                    analysis = sf.SoundFile(analysis_tmp, "w", ANALYSIS_RATE, 1, "FLOAT", format="WAV")
                    resampler = soxr.ResampleStream(rate, ANALYSIS_RATE, 1, dtype="float32")
                source.write(np.clip(block, -1.0, 1.0))
                analysis.write(resampler.resample_chunk(block))
                samples += len(block)
                progress.update(done=samples / rate)
            if source is None:
                raise InputError("the audio track holds no samples", path)
            analysis.write(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        finally:
            for handle in (source, analysis):
                if handle is not None:
                    handle.close()
    return rate, samples / rate


def read_analysis(path: Path, start: float = 0.0, end: float | None = None) -> np.ndarray:
    """Read a span (seconds) of the 16 kHz analysis audio."""
    import soundfile as sf

    stop = None if end is None else round(end * ANALYSIS_RATE)
    data, _ = sf.read(path, start=round(start * ANALYSIS_RATE), stop=stop, dtype="float32")
    return data


def iter_analysis_blocks(path: Path, seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Yield the first audio track as 16 kHz mono float32 blocks of about `seconds` each."""
    import soxr

    resampler = None
    for block, rate in iter_mono_blocks(path, seconds):
        resampler = resampler or soxr.ResampleStream(rate, ANALYSIS_RATE, 1, dtype="float32")
        yield resampler.resample_chunk(block)
    if resampler is None:
        raise InputError("the audio track holds no samples", path)
    yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)


def load_audio(path: Path) -> np.ndarray:
    """Any media file's first audio track as 16 kHz mono float32 (for short files and tests)."""
    return np.concatenate(list(iter_analysis_blocks(path, seconds=1.0)))
