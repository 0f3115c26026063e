"""Kokoro's decoder: aligned phoneme features, F0 and energy to a 24 kHz waveform through an iSTFTNet
generator driven by a harmonic source built from F0.

Where the shipped ONNX export computes something differently from the `kokoro` package, this follows the
export, so that both say the same: the harmonic source has no random initial phase and no added noise, and
the inverse STFT is a transposed convolution that divides by the window's overlap only over its first
frame (the export folded that normalisation at a one-frame length), so past its first samples the speech is
1.5 times as loud as a normalised inverse STFT would make it."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from castvoice.voice.kokoro_torch.blocks import AdaIN1d, AdainResBlk1d

SAMPLE_RATE = 24_000
N_FFT = 20
HOP = 5
UPSAMPLE_RATES = (10, 6)
UPSAMPLE_KERNELS = (20, 12)
RESBLOCK_KERNELS = (3, 7, 11)
DILATIONS = (1, 3, 5)
HARMONICS = 8
VOICED_F0 = 10.0  # Hz; below it a frame is unvoiced and the harmonic source is silent
SINE_AMPLITUDE = 0.1
SOURCE_UPSAMPLE = math.prod(UPSAMPLE_RATES) * HOP  # samples per F0 value: 300


class AdaINResBlock1(nn.Module):
    """HiFi-GAN's resblock with style-adaptive instance norms and Snake activations."""

    def __init__(self, channels: int, kernel_size: int, style_dim: int) -> None:
        super().__init__()

        def convs(dilations) -> nn.ModuleList:
            return nn.ModuleList(nn.Conv1d(channels, channels, kernel_size, dilation=d,
                                           padding=d * (kernel_size - 1) // 2) for d in dilations)

        self.convs1 = convs(DILATIONS)
        self.convs2 = convs((1,) * len(DILATIONS))
        self.adain1 = nn.ModuleList(AdaIN1d(style_dim, channels) for _ in DILATIONS)
        self.adain2 = nn.ModuleList(AdaIN1d(style_dim, channels) for _ in DILATIONS)
        self.alpha1 = nn.ParameterList(nn.Parameter(torch.ones(1, channels, 1)) for _ in DILATIONS)
        self.alpha2 = nn.ParameterList(nn.Parameter(torch.ones(1, channels, 1)) for _ in DILATIONS)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        for c1, c2, n1, n2, a1, a2 in zip(self.convs1, self.convs2, self.adain1, self.adain2, self.alpha1, self.alpha2):
            xt = n1(x, s)
            xt = xt + (1 / a1) * torch.sin(a1 * xt) ** 2
            xt = n2(c1(xt), s)
            xt = xt + (1 / a2) * torch.sin(a2 * xt) ** 2
            x = x + c2(xt)
        return x


class SourceModule(nn.Module):
    """The harmonic-plus-noise source's harmonic branch: the F0 sine and 8 overtones merged into one signal."""

    def __init__(self) -> None:
        super().__init__()
        self.l_linear = nn.Linear(HARMONICS + 1, 1)

    def forward(self, f0: torch.Tensor) -> torch.Tensor:
        """F0 upsampled to samples [batch, samples, 1] to the source [batch, samples, 1]."""
        harmonics = f0 * torch.arange(1, HARMONICS + 2, device=f0.device, dtype=f0.dtype)
        step = (harmonics / SAMPLE_RATE) % 1
        # the phase advances per frame and is interpolated to samples, as StyleTTS 2 trained it
        step = F.interpolate(step.transpose(1, 2), scale_factor=1 / SOURCE_UPSAMPLE, mode="linear")
        phase = torch.cumsum(step, dim=2) * 2 * math.pi
        phase = F.interpolate(phase * SOURCE_UPSAMPLE, scale_factor=SOURCE_UPSAMPLE, mode="linear")
        sines = torch.sin(phase.transpose(1, 2)) * SINE_AMPLITUDE * (f0 > VOICED_F0).to(f0.dtype)
        return torch.tanh(self.l_linear(sines))


def inverse_stft_basis() -> torch.Tensor:
    """The transposed-convolution kernel [n_fft + 2, 1, n_fft] that turns (real, imaginary) bins back into
    overlapping windowed frames (torch-stft's construction, scaled by hop / n_fft)."""
    fourier = np.fft.fft(np.eye(N_FFT))
    bins = N_FFT // 2 + 1
    basis = np.vstack([fourier.real[:bins], fourier.imag[:bins]])
    window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float64).numpy()
    inverse = np.linalg.pinv(N_FFT / HOP * basis).T * window
    return torch.from_numpy(inverse[:, None, :].astype(np.float32))


class Generator(nn.Module):
    def __init__(self, style_dim: int = 128, channels: int = 512) -> None:
        super().__init__()
        self.m_source = SourceModule()
        self.ups = nn.ModuleList()
        self.noise_convs = nn.ModuleList()
        self.noise_res = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (rate, kernel) in enumerate(zip(UPSAMPLE_RATES, UPSAMPLE_KERNELS)):
            width = channels // 2 ** (i + 1)
            self.ups.append(nn.ConvTranspose1d(width * 2, width, kernel, rate, padding=(kernel - rate) // 2))
            self.resblocks.extend(AdaINResBlock1(width, k, style_dim) for k in RESBLOCK_KERNELS)
            if i + 1 < len(UPSAMPLE_RATES):
                stride = math.prod(UPSAMPLE_RATES[i + 1:])
                self.noise_convs.append(nn.Conv1d(N_FFT + 2, width, stride * 2, stride, padding=(stride + 1) // 2))
                self.noise_res.append(AdaINResBlock1(width, 7, style_dim))
            else:
                self.noise_convs.append(nn.Conv1d(N_FFT + 2, width, 1))
                self.noise_res.append(AdaINResBlock1(width, 11, style_dim))
        self.conv_post = nn.Conv1d(width, N_FFT + 2, 7, 1, padding=3)
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)
        self.register_buffer("inverse_basis", inverse_stft_basis(), persistent=False)

    def source_spectrum(self, f0: torch.Tensor) -> torch.Tensor:
        """F0 [batch, 2 x frames] to the harmonic source's magnitudes and phases [batch, 22, stft frames].

        Where a bin is zero in theory (the imaginary part of the DC and Nyquist bins, the upper bins of a frame
        of constant source) its phase is rounding residue: torch's FFT leaves exact zeros where ONNX Runtime's
        Bluestein STFT leaves tiny values of either sign, so such phases can differ by up to 2 pi between
        the two. Given the ONNX model's source spectrum, this decoder says what it says to within float
        rounding; this is the one place where the two part."""
        f0 = F.interpolate(f0[:, None], scale_factor=SOURCE_UPSAMPLE, mode="nearest").transpose(1, 2)
        source = self.m_source(f0).squeeze(-1)
        spectrum = torch.stft(source, N_FFT, HOP, N_FFT, window=self.window, center=True, pad_mode="reflect",
                              return_complex=True)
        return torch.cat([spectrum.abs(), spectrum.angle()], dim=1)

    def _inverse_stft(self, magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        frames = torch.cat([magnitude * torch.cos(phase), magnitude * torch.sin(phase)], dim=1)
        audio = F.conv_transpose1d(frames, self.inverse_basis, stride=HOP)
        overlap = self.window ** 2  # the window's overlap over one frame: all the export divides by
        overlap = torch.where(overlap > torch.finfo(overlap.dtype).tiny, overlap, 1.0)
        audio = torch.cat([audio[..., :N_FFT] / overlap, audio[..., N_FFT:]], dim=-1) * (N_FFT / HOP)
        return audio[..., N_FFT // 2:-(N_FFT // 2)]

    def forward(self, x: torch.Tensor, s: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            source = self.source_spectrum(f0)
        for i, up in enumerate(self.ups):
            x = F.leaky_relu(x, 0.1)
            x_source = self.noise_res[i](self.noise_convs[i](source), s)
            x = up(x)
            if i == len(self.ups) - 1:
                x = F.pad(x, (1, 0), mode="reflect")
            x = x + x_source
            blocks = self.resblocks[i * len(RESBLOCK_KERNELS):(i + 1) * len(RESBLOCK_KERNELS)]
            x = sum(block(x, s) for block in blocks) / len(RESBLOCK_KERNELS)
        x = self.conv_post(F.leaky_relu(x))
        bins = N_FFT // 2 + 1
        return self._inverse_stft(torch.exp(x[:, :bins]), torch.sin(x[:, bins:]))


class Decoder(nn.Module):
    """Aligned text features [batch, 512, frames], F0 and energy [batch, 2 x frames] and the timbre style
    [batch, 128] to audio [batch, 1, samples] (600 samples a frame)."""

    def __init__(self, dim_in: int = 512, style_dim: int = 128) -> None:
        super().__init__()
        self.encode = AdainResBlk1d(dim_in + 2, 1024, style_dim)
        self.decode = nn.ModuleList([
            AdainResBlk1d(1024 + 2 + 64, 1024, style_dim),
            AdainResBlk1d(1024 + 2 + 64, 1024, style_dim),
            AdainResBlk1d(1024 + 2 + 64, 1024, style_dim),
            AdainResBlk1d(1024 + 2 + 64, 512, style_dim, upsample=True),
        ])
        self.F0_conv = nn.Conv1d(1, 1, 3, 2, padding=1)
        self.N_conv = nn.Conv1d(1, 1, 3, 2, padding=1)
        self.asr_res = nn.Sequential(nn.Conv1d(512, 64, 1))
        self.generator = Generator(style_dim)

    def forward(self, asr: torch.Tensor, f0: torch.Tensor, n: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        f0_down = self.F0_conv(f0[:, None])
        n_down = self.N_conv(n[:, None])
        x = self.encode(torch.cat([asr, f0_down, n_down], dim=1), s)
        asr_res = self.asr_res(asr)
        for block in self.decode:
            x = block(torch.cat([x, asr_res, f0_down, n_down], dim=1), s)
        return self.generator(x, s, f0)
