"""Kokoro's text encoder and prosody predictor: per phoneme, its acoustic features and how many frames it
lasts; per frame, the pitch (F0) and energy (N) curves at twice the frame rate.

Every batch holds sequences of one length (no padding, so no masks): fine-tuning runs one clip at a time."""

from __future__ import annotations

import torch
from torch import nn

from castvoice.voice.kokoro_torch.blocks import AdainResBlk1d, AdaLayerNorm, LayerNorm

HIDDEN = 512
STYLE = 128
MAX_DURATION = 50


class TextEncoder(nn.Module):
    """Token ids [batch, length] to features [batch, 512, length]."""

    def __init__(self, symbols: int, channels: int = HIDDEN, kernel_size: int = 5, depth: int = 3) -> None:
        super().__init__()
        self.embedding = nn.Embedding(symbols, channels)
        self.cnn = nn.ModuleList(
            nn.Sequential(nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2),
                          LayerNorm(channels), nn.LeakyReLU(0.2))
            for _ in range(depth))
        self.lstm = nn.LSTM(channels, channels // 2, batch_first=True, bidirectional=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens).transpose(1, 2)
        for block in self.cnn:
            x = block(x)
        x, _ = self.lstm(x.transpose(1, 2))
        return x.transpose(1, 2)


class DurationEncoder(nn.Module):
    """BERT features [batch, 512, length] and the prosody style [batch, 128] to [batch, length, 640]: LSTMs
    with style-adaptive layer norms, the style appended to every step."""

    def __init__(self, depth: int = 3) -> None:
        super().__init__()
        self.lstms = nn.ModuleList()
        for _ in range(depth):
            self.lstms.append(nn.LSTM(HIDDEN + STYLE, HIDDEN // 2, batch_first=True, bidirectional=True))
            self.lstms.append(AdaLayerNorm(STYLE, HIDDEN))

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        steps = s[:, None].expand(-1, x.shape[2], -1)
        x = torch.cat([x.transpose(1, 2), steps], dim=-1)
        for block in self.lstms:
            if isinstance(block, AdaLayerNorm):
                x = torch.cat([block(x, s), steps], dim=-1)
            else:
                x, _ = block(x)
        return x


class ProsodyPredictor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.text_encoder = DurationEncoder()
        self.lstm = nn.LSTM(HIDDEN + STYLE, HIDDEN // 2, batch_first=True, bidirectional=True)
        self.duration_proj = nn.ModuleDict({"linear_layer": nn.Linear(HIDDEN, MAX_DURATION)})
        self.shared = nn.LSTM(HIDDEN + STYLE, HIDDEN // 2, batch_first=True, bidirectional=True)
        self.F0 = self._curve()
        self.N = self._curve()
        self.F0_proj = nn.Conv1d(HIDDEN // 2, 1, 1)
        self.N_proj = nn.Conv1d(HIDDEN // 2, 1, 1)

    @staticmethod
    def _curve() -> nn.ModuleList:
        return nn.ModuleList([
            AdainResBlk1d(HIDDEN, HIDDEN, STYLE),
            AdainResBlk1d(HIDDEN, HIDDEN // 2, STYLE, upsample=True),
            AdainResBlk1d(HIDDEN // 2, HIDDEN // 2, STYLE),
        ])

    def durations(self, d: torch.Tensor, speed: float) -> torch.Tensor:
        """Frames per phoneme [batch, length] (float, before rounding) from the duration encoder's output."""
        x, _ = self.lstm(d)
        return torch.sigmoid(self.duration_proj["linear_layer"](x)).sum(dim=-1) / speed

    def curves(self, en: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """F0 and energy [batch, 2 x frames] from the duration encoder's output spread over frames."""
        x, _ = self.shared(en.transpose(1, 2))
        f0 = n = x.transpose(1, 2)
        for block in self.F0:
            f0 = block(f0, s)
        for block in self.N:
            n = block(n, s)
        return self.F0_proj(f0).squeeze(1), self.N_proj(n).squeeze(1)
