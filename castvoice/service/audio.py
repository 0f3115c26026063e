"""Audio in and out of the service: uploads of any common format (recognised from their bytes) decoded
to 16 kHz mono, and speech encoded in every format OpenAI's speech API offers: wav, flac, mp3, opus, aac
or raw pcm."""

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
    container: str  # libsndfile's name; FFmpeg's where `codec` is set
    subtype: str | None  # libsndfile's
    media_type: str
    streams: bool  # can be sent piece by piece as the speech is made
    codec: str | None = None  # FFmpeg's encoder (through PyAV), for what libsndfile cannot write

    def available(self) -> bool:
        """Whether this process can encode the format (PyAV may be built without the encoder)."""
        if self.codec is None:
            return True
        import av

        try:
            av.codec.Codec(self.codec, "w")
        except (ValueError, av.FFmpegError):
            return False
        return True


AUDIO_FORMATS = {
    "wav": AudioFormat("WAV", "PCM_16", "audio/wav", streams=True),
    "flac": AudioFormat("FLAC", "PCM_16", "audio/flac", streams=False),
    "mp3": AudioFormat("MP3", "MPEG_LAYER_III", "audio/mpeg", streams=False),
    "opus": AudioFormat("OGG", "OPUS", "audio/ogg", streams=False),
    "aac": AudioFormat("adts", None, "audio/aac", streams=False, codec="aac"),  # AAC-LC in ADTS, as OpenAI sends
    "pcm": AudioFormat("RAW", "PCM_16", "audio/pcm", streams=True),  # 16-bit signed little-endian, mono
}


def audio_format(name: str, streaming: bool = False, param: str = "format") -> AudioFormat:
    """The named output format; 422 for an unknown one, one this process cannot encode, or one that cannot be
    streamed (`param` is the request field that named it)."""
    fmt = AUDIO_FORMATS.get(name)
    if fmt is None or not fmt.available():
        supported = ", ".join(k for k, v in AUDIO_FORMATS.items() if v.available())
        problem = "unknown audio format" if fmt is None else "this server cannot encode"
        raise ApiError(422, f"{problem} {name!r}; choose from {supported}", "unsupported_format", param)
    if streaming and not fmt.streams:
        streamable = ", ".join(k for k, v in AUDIO_FORMATS.items() if v.streams)
        raise ApiError(422, f"{name} cannot be streamed; stream {streamable}, or turn streaming off",
                       "unsupported_format", param)
    return fmt


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

    samples = np.clip(samples, -1.0, 1.0).astype(np.float32)
    if fmt.codec is not None:
        return _encode_with_ffmpeg(samples, rate, fmt)
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt.container, subtype=fmt.subtype)
    return buffer.getvalue()


def _encode_with_ffmpeg(samples: np.ndarray, rate: int, fmt: AudioFormat) -> bytes:
    """`samples` encoded by PyAV; the encoder gets the frame size and sample format it needs from PyAV."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt.container) as out:
        stream = out.add_stream(fmt.codec, rate=rate, layout="mono")
        packets = []
        if len(samples):
            frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
            frame.sample_rate = rate
            packets += stream.encode(frame)
        for packet in packets + list(stream.encode(None)):
            out.mux(packet)
    return buffer.getvalue()


def pcm16(samples: np.ndarray) -> bytes:
    """Float samples as 16-bit signed little-endian pcm."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def streaming_wav_header(rate: int) -> bytes:
    """A 16-bit mono WAV header whose sizes say 'unknown length', as streaming players expect."""
    unknown = 0xFFFFFFFF
    return (b"RIFF" + struct.pack("<I", unknown) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", unknown))
