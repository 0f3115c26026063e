"""Pitch of speech: one YIN tracker, with the loudness of each frame so that statistics use voiced
speech only. Audio is 16 kHz mono."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from castvoice.media.decode import ANALYSIS_RATE

PITCH_RANGE = (60.0, 450.0)  # Hz: the lowest male to a high female or child voice
FRAME, HOP = 800, 160  # 50 ms windows (two periods of the lowest pitch) every 10 ms
VOICED_WITHIN_DB = 25.0  # a frame counts as voiced speech within this many dB of the loudest frame


@dataclass
class PitchTrack:
    """Fundamental frequency (Hz) and level (dBFS) per frame, every HOP samples."""

    f0: np.ndarray
    level_db: np.ndarray

    def voiced(self, within_db: float = VOICED_WITHIN_DB) -> np.ndarray:
        """Frames loud enough to be speech whose pitch is not pinned to the edge of the search range."""
        loud = self.level_db > self.level_db.max() - within_db
        return loud & (self.f0 > PITCH_RANGE[0] * 1.05) & (self.f0 < PITCH_RANGE[1] * 0.95)

    def median(self) -> float | None:
        """Median pitch of the voiced frames; None when there are none."""
        voiced = self.f0[self.voiced()]
        return float(np.median(voiced)) if len(voiced) else None


def track_pitch(audio16k: np.ndarray) -> PitchTrack | None:
    """The pitch track of 16 kHz audio; None when it is shorter than one frame."""
    import librosa

    audio = np.asarray(audio16k, np.float32)
    if len(audio) < FRAME:
        return None
    f0 = librosa.yin(audio, fmin=PITCH_RANGE[0], fmax=PITCH_RANGE[1], sr=ANALYSIS_RATE, frame_length=FRAME,
                     hop_length=HOP)
    rms = librosa.feature.rms(y=audio, frame_length=FRAME, hop_length=HOP)[0][: len(f0)]
    return PitchTrack(f0[: len(rms)], 20 * np.log10(np.maximum(rms, 1e-6)))


def median_pitch(audio16k: np.ndarray) -> float | None:
    """Median pitch (Hz) of the voiced frames of 16 kHz audio; None when nothing is voiced."""
    found = track_pitch(audio16k)
    return found.median() if found is not None else None
