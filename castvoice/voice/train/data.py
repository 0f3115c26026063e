"""What fine-tuning learns from: each utterance of the character as Kokoro would have to say it.

Per utterance: the audio at 24 kHz, its tokens, how many frames (600 samples, 25 ms) each token lasts, and
the pitch (F0, Hz) and energy curves at twice the frame rate that Kokoro's decoder reads.

- Durations: Kokoro says the text in the starting voice, and dynamic time warping of its MFCCs against the
  recording's moves each token boundary to where the recording has it. On stock voices speaking for each
  other, that puts boundaries 1-2 frames from the truth, where stretching the predicted durations to the
  recording's length is 4-9 frames off.
- F0: pYIN, zero where it hears no voicing (Kokoro's harmonic source is silent there).
- Energy: the log norm of the mel power spectrum, as StyleTTS 2 (on which Kokoro is built) trained its
  energy curve; it matches what Kokoro predicts for its own speech (correlation 0.99) once ENERGY_OFFSET is
  taken off.

The recording is scaled to the loudness of the starting voice saying the same words, so that the energy the
decoder learns from stays in the range Kokoro predicts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 24_000
FRAME = 600  # samples per Kokoro frame (one step of the aligned text features)
HALF = FRAME // 2  # samples per F0 or energy value
PITCH_RANGE = (60.0, 500.0)
ENERGY_OFFSET = 0.28  # Kokoro's predicted energy less the log-mel norm of its own speech, on stock voices
MFCC = 20


@dataclass
class Utterance:
    """A recording of the character and what it says."""

    audio: np.ndarray  # mono float32 at `rate`
    rate: int
    text: str

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.rate


@dataclass
class Example:
    """One utterance made ready for training."""

    text: str
    tokens: np.ndarray  # int64 [n], boundary tokens included
    durations: np.ndarray  # int64 [n], frames per token; they add up to len(audio) / FRAME
    f0: np.ndarray  # float32 [2 x frames], Hz, 0 where unvoiced
    energy: np.ndarray  # float32 [2 x frames]
    audio: np.ndarray  # float32 [frames x FRAME], 24 kHz
    bandwidth: float  # Hz: the recording holds nothing above this (half its own sample rate)

    @property
    def frames(self) -> int:
        return int(self.durations.sum())

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.{key}": value for key, value in self._fields().items()}

    def _fields(self) -> dict[str, np.ndarray]:
        return {"tokens": self.tokens, "durations": self.durations, "f0": self.f0, "energy": self.energy,
                "audio": self.audio, "bandwidth": np.array(self.bandwidth)}

    @classmethod
    def from_arrays(cls, arrays, prefix: str, text: str) -> Example:
        get = {key: arrays[f"{prefix}.{key}"] for key in ("tokens", "durations", "f0", "energy", "audio", "bandwidth")}
        return cls(text, get["tokens"], get["durations"], get["f0"], get["energy"], get["audio"],
                   float(get["bandwidth"]))


def prepare(utterance: Utterance, model, style_pack: np.ndarray, language: str) -> Example | None:
    """The utterance as an Example, aligned against the starting voice (`style_pack`, 510 x 1 x 256) speaking
    it with `model` (a KokoroTorch); None when it cannot be: no phonemes, or more tokens than frames."""
    import soxr
    import torch

    from castvoice.voice.kokoro_torch.model import phonemize, style_row, tokens

    phonemes = phonemize(utterance.text, language)
    if not phonemes:
        return None
    ids = tokens(phonemes)
    audio = np.asarray(utterance.audio, np.float32)
    if utterance.rate != SAMPLE_RATE:
        audio = soxr.resample(audio, utterance.rate, SAMPLE_RATE).astype(np.float32)
    frames = len(audio) // FRAME
    if frames < ids.shape[1]:
        return None
    audio = audio[: frames * FRAME]
    with torch.no_grad():
        spoken = model(ids, style_row(style_pack, ids))
    synthetic = spoken.audio.numpy()
    durations = align(synthetic, spoken.durations.numpy(), audio)
    level = _rms(synthetic) / max(_rms(audio), 1e-6)
    audio = np.clip(audio * level, -1.0, 1.0).astype(np.float32)
    return Example(utterance.text, ids[0].numpy(), durations, pitch(audio, frames), energy(audio, frames), audio,
                   min(utterance.rate, SAMPLE_RATE) / 2)


def align(synthetic: np.ndarray, durations: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Frames per token in `target` (24 kHz), from the same tokens spoken as `synthetic` with `durations`:
    the token boundaries carried over by dynamic time warping of MFCCs, every token at least one frame."""
    import librosa

    x, y = _mfcc(synthetic), _mfcc(target)
    _, path = librosa.sequence.dtw(X=x, Y=y, metric="euclidean")
    mapped, count = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    np.add.at(mapped, path[:, 0], path[:, 1])
    np.add.at(count, path[:, 0], 1)
    mapped /= np.maximum(count, 1)  # the mean target half-frame of each synthetic half-frame
    ends = np.cumsum(durations)[:-1] * 2
    frames, tokens = len(target) // FRAME, len(durations)
    bounds = np.round(mapped[np.minimum(ends, len(mapped) - 1)] / 2).astype(np.int64)
    # make room for one frame per token, from the front and then from the back
    bounds = np.maximum(bounds, np.arange(1, tokens))
    bounds = np.maximum.accumulate(bounds - np.arange(tokens - 1)) + np.arange(tokens - 1)
    bounds = np.minimum(bounds, frames - tokens + 1 + np.arange(tokens - 1))
    return np.diff(np.concatenate([[0], bounds, [frames]])).astype(np.int64)


def pitch(audio: np.ndarray, frames: int) -> np.ndarray:
    """F0 (Hz) every HALF samples of 24 kHz audio, 0 where unvoiced: [2 x frames]."""
    import librosa

    f0, voiced, _ = librosa.pyin(audio, fmin=PITCH_RANGE[0], fmax=PITCH_RANGE[1], sr=SAMPLE_RATE,
                                 frame_length=4 * FRAME, hop_length=HALF)
    f0 = np.where(voiced & np.isfinite(f0), f0, 0.0)
    return _fit(f0, 2 * frames)


def energy(audio: np.ndarray, frames: int) -> np.ndarray:
    """Kokoro's energy curve of 24 kHz audio: [2 x frames]."""
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=SAMPLE_RATE, n_fft=2048, win_length=1200, hop_length=HALF,
                                         n_mels=80, htk=True, norm=None, power=2.0)
    return _fit(np.log(np.linalg.norm(mel + 1e-5, axis=0)) - ENERGY_OFFSET, 2 * frames)


def _fit(curve: np.ndarray, length: int) -> np.ndarray:
    return np.pad(curve[:length], (0, max(0, length - len(curve))), mode="edge").astype(np.float32)


def _mfcc(audio: np.ndarray) -> np.ndarray:
    """MFCCs 1-19 every HALF samples, each normalised over the utterance (which takes much of the speaker out)."""
    import librosa

    features = librosa.feature.mfcc(y=audio, sr=SAMPLE_RATE, n_mfcc=MFCC, n_fft=2 * FRAME, hop_length=HALF)[1:]
    return (features - features.mean(axis=1, keepdims=True)) / (features.std(axis=1, keepdims=True) + 1e-5)


def _rms(audio: np.ndarray) -> float:
    """RMS over the louder half of 25 ms frames: the level of the speech, not of the pauses."""
    frames = audio[: len(audio) // FRAME * FRAME].reshape(-1, FRAME)
    power = (frames.astype(np.float64) ** 2).mean(axis=1)
    return float(np.sqrt(np.mean(power[power >= np.median(power)]))) if len(power) else 0.0
