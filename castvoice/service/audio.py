"""Audio in and out of the service: uploads of any common format (recognised from their bytes) decoded
to 16 kHz mono, and speech encoded as wav, flac, mp3, opus or raw pcm."""

from __future__ import annotations

import io
import shutil
import struct
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from castvoice.errors import InputError
from castvoice.media.decode import ANALYSIS_RATE
from castvoice.service.errors import ApiError


@dataclass(frozen=True)
class AudioFormat:
    container: str  # libsndfile's name
    subtype: str
    media_type: str
    streams: bool  # can be sent piece by piece as the speech is made


AUDIO_FORMATS = {
    "wav": AudioFormat("WAV", "PCM_16", "audio/wav", streams=True),
    "flac": AudioFormat("FLAC", "PCM_16", "audio/flac", streams=False),
    "mp3": AudioFormat("MP3", "MPEG_LAYER_III", "audio/mpeg", streams=False),
    "opus": AudioFormat("OGG", "OPUS", "audio/ogg", streams=False),
    "pcm": AudioFormat("RAW", "PCM_16", "audio/pcm", streams=True),  # 16-bit signed little-endian, mono
}


def audio_format(name: str, streaming: bool = False) -> AudioFormat:
    """The named output format; 422 for an unknown one or one that cannot be streamed."""
    if name not in AUDIO_FORMATS:
        raise ApiError(422, f"unknown audio format {name!r}; choose from {', '.join(AUDIO_FORMATS)}",
                       "unsupported_format", "format")
    if streaming and not AUDIO_FORMATS[name].streams:
        streamable = ", ".join(k for k, v in AUDIO_FORMATS.items() if v.streams)
        raise ApiError(422, f"{name} cannot be streamed; stream {streamable}, or turn streaming off",
                       "unsupported_format", "format")
    return AUDIO_FORMATS[name]


def decode_upload(upload: BinaryIO, max_seconds: float) -> np.ndarray:
    """An uploaded file's first audio track as 16 kHz mono float32. The format is found from the bytes
    (the file name and declared type are not trusted): 415 for what is not decodable audio, 413 for
    audio longer than `max_seconds`."""
    from castvoice.media.decode import iter_analysis_blocks
    from castvoice.media.probe import probe

    upload.seek(0)
    with tempfile.NamedTemporaryFile(prefix="castvoice-upload-") as copy:
        shutil.copyfileobj(upload, copy)
        copy.flush()
        try:
            if probe(copy.name).duration > max_seconds:
                raise _too_long(max_seconds)
            blocks, samples = [], 0
            for block in iter_analysis_blocks(copy.name, seconds=10.0):
                samples += len(block)
                if samples > max_seconds * ANALYSIS_RATE:  # the container understated its length
                    raise _too_long(max_seconds)
                blocks.append(block)
        except InputError as error:
            raise ApiError(415, f"not audio that can be decoded: {error.problem}", "unsupported_media") from None
    return np.concatenate(blocks)


def _too_long(max_seconds: float) -> ApiError:
    return ApiError(413, f"the audio is longer than this server accepts ({max_seconds:g} s)", "audio_too_long")


def encode(samples: np.ndarray, rate: int, fmt: AudioFormat) -> bytes:
    """Mono float samples as a whole file (or raw pcm) in `fmt`."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.clip(samples, -1.0, 1.0), rate, format=fmt.container, subtype=fmt.subtype)
    return buffer.getvalue()


def pcm16(samples: np.ndarray) -> bytes:
    """Float samples as 16-bit signed little-endian pcm."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def streaming_wav_header(rate: int) -> bytes:
    """A 16-bit mono WAV header whose sizes say 'unknown length', as streaming players expect."""
    unknown = 0xFFFFFFFF
    return (b"RIFF" + struct.pack("<I", unknown) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", unknown))
