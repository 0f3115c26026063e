"""Voice activity detection: where in the audio someone speaks, in memory or over a long file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np

from castvoice.errors import CastvoiceError
from castvoice.media.decode import ANALYSIS_RATE, iter_analysis_blocks
from castvoice.spans import Span


@dataclass(frozen=True)
class VadSettings:
    """How speech probabilities become regions (seconds, except the probability threshold)."""

    threshold: float = 0.5
    min_silence: float = 0.5
    min_speech: float = 0.25
    pad: float = 0.1


class VADBackend(Protocol):
    name: str

    def regions(self, audio: np.ndarray, settings: VadSettings) -> list[Span]:
        """Speech regions of 16 kHz mono float32 audio, in seconds from its start."""


class SileroVAD:
    """Silero VAD v6.2 (ONNX from the silero-vad package), run on 32 ms frames with its state carried through."""

    name = "silero"
    frame = 512

    def __init__(self) -> None:
        from faster_whisper.vad import SileroVADModel

        from castvoice.assets import silero_vad

        self._model = SileroVADModel(str(silero_vad()))

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability of each 32 ms frame of 16 kHz audio."""
        audio = np.asarray(audio, dtype=np.float32)
        if len(audio) == 0:
            return np.zeros(0, np.float32)
        return self._model(np.pad(audio, (0, -len(audio) % self.frame))).reshape(-1)

    def regions(self, audio: np.ndarray, settings: VadSettings) -> list[Span]:
        return frames_to_regions(self.probabilities(audio), self.frame / ANALYSIS_RATE, len(audio) / ANALYSIS_RATE,
                                 settings)


def frames_to_regions(
    probabilities: np.ndarray, frame_seconds: float, duration: float, settings: VadSettings
) -> list[Span]:
    """Silero's rule: speech starts at `threshold` and ends after `min_silence` below `threshold - 0.15`;
    regions up to `min_speech` long are dropped; each is padded, gaps narrower than two pads split in half."""
    low = max(settings.threshold - 0.15, 0.01)
    spans: list[list[float]] = []
    start = silence = None
    for index, probability in enumerate(probabilities):
        now = index * frame_seconds
        if start is None:
            if probability >= settings.threshold:
                start, silence = now, None
        elif probability >= settings.threshold:
            silence = None
        elif probability < low:
            silence = now if silence is None else silence
            if now - silence >= settings.min_silence:
                spans.append([start, silence])
                start = None
    if start is not None:
        spans.append([start, duration])
    spans = [span for span in spans if span[1] - span[0] > settings.min_speech]
    for before, after in zip(spans, spans[1:]):
        reach = min(settings.pad, (after[0] - before[1]) / 2)
        before[1] += reach
        after[0] -= reach
    if spans:
        spans[0][0] = max(0.0, spans[0][0] - settings.pad)
        spans[-1][1] = min(duration, spans[-1][1] + settings.pad)
    return [Span(round(a, 3), round(b, 3)) for a, b in spans]


VAD_BACKENDS: dict[str, Callable[[], VADBackend]] = {"silero": SileroVAD}


@cache
def get_vad(name: str = "silero") -> VADBackend:
    """The named VAD backend, created on first use and kept for the process."""
    if name not in VAD_BACKENDS:
        raise CastvoiceError(f"unknown VAD backend {name!r}; choose from {', '.join(VAD_BACKENDS)}")
    return VAD_BACKENDS[name]()


def speech_regions(
    audio16k: np.ndarray,
    *,
    threshold: float = 0.5,
    min_silence: float = 0.5,
    min_speech: float = 0.25,
    pad: float = 0.1,
    backend: str = "silero",
) -> list[Span]:
    """Where 16 kHz mono audio holds speech; regions are padded by `pad` seconds each side."""
    return get_vad(backend).regions(audio16k, VadSettings(threshold, min_silence, min_speech, pad))


@dataclass
class AudioChunk:
    """A piece of a long recording; `regions` are its speech regions in seconds from the start of the file."""

    offset: float
    audio: np.ndarray
    regions: list[Span]

    @property
    def end(self) -> float:
        return self.offset + len(self.audio) / ANALYSIS_RATE


def iter_speech_chunks(
    path: Path,
    max_seconds: float = 600.0,
    settings: VadSettings = VadSettings(),
    backend: str = "silero",
) -> Iterator[AudioChunk]:
    """Decode a media file into 16 kHz chunks of at most `max_seconds`, each cut inside a silence.

    Memory stays near one chunk. Each window of `max_seconds` is cut in the middle of the longest silence
    in its second half; only speech with no pause there is cut at the window's end.
    """
    vad = get_vad(backend)
    window = round(max_seconds * ANALYSIS_RATE)
    pending = np.zeros(0, np.float32)
    offset = 0
    for block in iter_analysis_blocks(path, seconds=min(30.0, max_seconds)):
        pending = np.concatenate([pending, block])
        while len(pending) >= window:
            regions = vad.regions(pending[:window], settings)
            cut, kept = _cut_point(regions, window)
            yield AudioChunk(offset / ANALYSIS_RATE, pending[:cut], _shifted(kept, offset))
            pending, offset = pending[cut:], offset + cut
    if len(pending):
        yield AudioChunk(offset / ANALYSIS_RATE, pending, _shifted(vad.regions(pending, settings), offset))


def _cut_point(regions: list[Span], window: int) -> tuple[int, list[Span]]:
    """Where a full window (samples) ends its chunk: the middle of the longest silence in its second half,
    else the window's end; and the speech regions that chunk keeps."""
    window_end = window / ANALYSIS_RATE
    edges = [0.0] + [t for r in regions for t in (r.start, r.end)] + [window_end]
    silences = [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2)]
    candidates = [(a, b) for a, b in silences if b > a and a + b >= window_end]
    if not regions or not candidates:
        return window, regions
    start, end = max(candidates, key=lambda silence: silence[1] - silence[0])
    cut = (start + end) / 2
    return round(cut * ANALYSIS_RATE), [r for r in regions if r.end <= cut]


def _shifted(regions: list[Span], offset_samples: int) -> list[Span]:
    shift = offset_samples / ANALYSIS_RATE
    return [Span(r.start + shift, r.end + shift) for r in regions]


def speech_regions_file(
    path: Path,
    settings: VadSettings = VadSettings(),
    block_seconds: float = 300.0,
    backend: str = "silero",
) -> list[Span]:
    """Speech regions of a whole media file, decoded and analysed in blocks of `block_seconds`."""
    merged: list[Span] = []
    for chunk in iter_speech_chunks(path, block_seconds, settings, backend):
        for region in chunk.regions:
            if merged and region.start <= merged[-1].end:
                merged[-1].end = max(merged[-1].end, region.end)
            else:
                merged.append(region)
    return merged
