"""Log-mel spectrograms of 24 kHz speech, differentiable: how far two renderings of an utterance are apart,
and the loss that fine-tuning will follow."""

from __future__ import annotations

from functools import cache

import torch

SAMPLE_RATE = 24_000
N_FFT = 1024
HOP = 256
MELS = 80
FLOOR = 1e-5  # mel power; about -50 dB below a full-scale sine, so near-silence does not dominate


@cache
def _filters() -> torch.Tensor:
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=MELS))


def log_mel(audio: torch.Tensor) -> torch.Tensor:
    """log10 of the mel power spectrogram [..., 80, frames] of `audio` [..., samples]."""
    window = torch.hann_window(N_FFT, device=audio.device, dtype=audio.dtype)
    power = torch.stft(audio, N_FFT, HOP, window=window, return_complex=True).abs() ** 2
    return torch.log10(torch.clamp(_filters().to(audio) @ power, min=FLOOR))


def log_mel_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The mean absolute difference in dB between the log-mel spectrograms of two 1-D signals, over the
    length they share."""
    length = min(a.shape[-1], b.shape[-1])
    return 10 * (log_mel(a[..., :length]) - log_mel(b[..., :length])).abs().mean()
