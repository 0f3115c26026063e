"""Cut one clip per line, moving each cut to a quiet point so no syllable is lost."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from castvoice.atomic import atomic_path
from castvoice.media.decode import ANALYSIS_RATE, read_analysis
from castvoice.spans import Span

FRAME = 0.01  # seconds per energy frame
REACH = 0.25  # how far a cut may move
CONTEXT = 1.5  # audio around a line used to judge what "quiet" is there
QUIET_ABOVE_FLOOR_DB = 6.0
QUIET_RUN = 8  # frames; shorter dips are gaps inside words (stop closures)
PAD_FRAMES = 5  # a cut sits this far inside the pause, where soft onsets and tails have died away
DB_PER_SECOND_MOVED = 20.0  # how much quieter a farther point must be to be preferred
TOUCHING = 0.01  # lines closer than this share their boundary (one cue split by dialogue dashes)


def frame_db(samples: np.ndarray) -> np.ndarray:
    """RMS level in dB of consecutive 10 ms frames."""
    size = round(FRAME * ANALYSIS_RATE)
    usable = len(samples) // size * size
    frames = samples[:usable].reshape(-1, size)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)


class _Envelope:
    """Frame levels around one boundary, with a quiet threshold taken from that neighbourhood."""

    def __init__(self, analysis: Path, around: float):
        self.origin = max(0.0, around - CONTEXT)
        self.db = frame_db(read_analysis(analysis, self.origin, around + CONTEXT))
        self.quiet = self.db <= np.percentile(self.db, 10) + QUIET_ABOVE_FLOOR_DB

    def frame(self, t: float) -> int:
        return int(np.clip((t - self.origin) / FRAME, 0, len(self.db) - 1))

    def time(self, frame: int) -> float:
        return self.origin + (frame + 0.5) * FRAME

    def quiet_run_at(self, frame: int, step: int) -> bool:
        """True when `frame` and the QUIET_RUN - 1 frames beyond it (in direction `step`) are quiet."""
        frames = range(frame, frame + step * QUIET_RUN, step)
        return all(0 <= f < len(self.quiet) and self.quiet[f] for f in frames)

    def outward(self, t: float, limit: float, step: int) -> float:
        """From `t` towards `limit` (step -1: earlier, +1: later), the first pause, entered by PAD."""
        frames = range(self.frame(t), self.frame(limit) + step, step)
        low, high = min(t, limit), max(t, limit)
        for f in frames:
            if self.quiet_run_at(f, step):
                return float(np.clip(self.time(f + step * PAD_FRAMES), low, high))
        return float(np.clip(self.time(min(frames, key=lambda f: self.db[f])), low, high))

    def quietest_near(self, t: float, low: float, high: float) -> float:
        """The quietest point within [low, high], favouring points near `t`.

        Levels are smoothed over 50 ms first, so the brief silence of a stop consonant inside a
        word does not pass for a pause between words."""
        smooth = np.convolve(self.db, np.ones(PAD_FRAMES) / PAD_FRAMES, mode="same")
        frames = np.arange(self.frame(low), self.frame(high) + 1)
        cost = smooth[frames] + DB_PER_SECOND_MOVED * np.abs(frames - self.frame(t)) * FRAME
        return self.time(int(frames[np.argmin(cost)]))


def plan_cuts(lines: list[Span], analysis: Path, duration: float, wanted: list[int] | None = None) -> dict[int, Span]:
    """Clip boundaries for the `wanted` lines (indices into `lines`, sorted by start; default all).

    Each boundary moves outward to a quiet point within REACH and never past the middle of the gap
    to the neighbouring line, so clips never overlap;
    a boundary two touching lines share (one cue split by dialogue dashes) moves to the quiet point
    nearest it, for both lines alike."""
    cuts = {}
    for i in range(len(lines)) if wanted is None else wanted:
        before = lines[i - 1] if i else None
        after = lines[i + 1] if i + 1 < len(lines) else None
        cuts[i] = Span(_start_cut(analysis, before, lines[i]), _end_cut(analysis, lines[i], after, duration))
    return cuts


def quiet_edge(analysis: Path, at: float, limit: float) -> float:
    """A clip edge at `at` (a word's start or end) moved outward towards `limit` (earlier or later) to the
    first pause, entered a little; never more than REACH and never past `limit`."""
    step = -1 if limit < at else +1
    bound = max(limit, at - REACH) if step < 0 else min(limit, at + REACH)
    return _Envelope(analysis, at).outward(at, bound, step)


def _start_cut(analysis: Path, before: Span | None, line: Span) -> float:
    if before is not None and before.end >= line.start - TOUCHING:
        return _shared_cut(analysis, before, line)
    return quiet_edge(analysis, line.start, (before.end + line.start) / 2 if before else 0.0)


def _end_cut(analysis: Path, line: Span, after: Span | None, duration: float) -> float:
    if after is not None and after.start <= line.end + TOUCHING:
        return _shared_cut(analysis, line, after)
    return quiet_edge(analysis, line.end, min((line.end + after.start) / 2 if after else duration, duration))


def _shared_cut(analysis: Path, first: Span, second: Span) -> float:
    point = second.start
    low, high = max(point - REACH, first.start), min(point + REACH, second.end)
    return _Envelope(analysis, point).quietest_near(point, low, high)


def write_clip(source: Path, span: Span, out: Path) -> None:
    """Write source audio between span.start and span.end as a 16-bit mono WAV at its own rate."""
    import soundfile as sf

    with sf.SoundFile(source) as audio:
        rate = audio.samplerate
        audio.seek(max(0, round(span.start * rate)))
        samples = audio.read(max(0, round((span.end - span.start) * rate)), dtype="float32")
    with atomic_path(out) as tmp:
        sf.write(tmp, samples, rate, subtype="PCM_16", format="WAV")
