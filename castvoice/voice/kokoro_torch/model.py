"""The whole of Kokoro-82M as one module, and its inputs made as castvoice's Kokoro engine makes them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from castvoice.voice.kokoro_torch.albert import HIDDEN as BERT_HIDDEN
from castvoice.voice.kokoro_torch.albert import VOCAB, Albert
from castvoice.voice.kokoro_torch.decoder import Decoder
from castvoice.voice.kokoro_torch.prosody import HIDDEN, STYLE, ProsodyPredictor, TextEncoder


@dataclass
class Output:
    audio: torch.Tensor  # [samples], 24 kHz
    durations: torch.Tensor  # [tokens], frames per token (boundary tokens included)


class KokoroTorch(nn.Module):
    """Kokoro-82M: token ids [1, n] (boundary token 0 at both ends) and a style vector [1, 256] (timbre half,
    then prosody half) to speech. Module and parameter names are those of the `kokoro` package's KModel."""

    def __init__(self) -> None:
        super().__init__()
        self.bert = Albert()
        self.bert_encoder = nn.Linear(BERT_HIDDEN, HIDDEN)
        self.predictor = ProsodyPredictor()
        self.text_encoder = TextEncoder(VOCAB)
        self.decoder = Decoder()

    def forward(self, tokens: torch.Tensor, style: torch.Tensor, speed: float = 1.0,
                durations: torch.Tensor | None = None) -> Output:
        """Speech for one utterance. Without `durations` (frames per token [n]) they are predicted, as the
        ONNX model does; given (forced from a recording, say), speech follows them. Differentiable in the
        style and every weight, except through the rounding of predicted durations."""
        prosody = style[:, STYLE:]
        d = self.predictor.text_encoder(self.bert_encoder(self.bert(tokens)).transpose(1, 2), prosody)
        if durations is None:
            durations = self.predictor.durations(d, speed)[0].round().clamp(min=1).long()
        frames = torch.repeat_interleave(torch.arange(tokens.shape[1], device=tokens.device), durations)
        alignment = F.one_hot(frames, tokens.shape[1]).T[None].to(d.dtype)
        f0, energy = self.predictor.curves(d.transpose(1, 2) @ alignment, prosody)
        audio = self.decoder(self.text_encoder(tokens) @ alignment, f0, energy, style[:, :STYLE])
        return Output(audio[0, 0], durations)


def kokoro_torch() -> KokoroTorch:
    """Kokoro-82M with castvoice's weights (the shipped int8 model dequantised to float32), in eval mode."""
    from castvoice.voice.engines.kokoro import kokoro_model_fp32
    from castvoice.voice.kokoro_torch.weights import load_onnx_weights

    model = KokoroTorch()
    load_onnx_weights(model, kokoro_model_fp32())
    return model.eval()


@cache
def model_version() -> str:
    """Which Kokoro the weights are: the first 12 hex digits of the shipped model's sha256. Whatever is trained
    on them (castvoice.voice.train) fits this version only."""
    from castvoice.voice.engines.kokoro import kokoro_model_fp32

    return kokoro_model_fp32().stem.rpartition("-")[2]


@cache
def _tokenizer():
    from kokoro_onnx.tokenizer import Tokenizer

    return Tokenizer()


def phonemize(text: str, language: str = "en-us") -> str:
    """Kokoro's phonemes for `text` (espeak-ng through kokoro_onnx), as castvoice's Kokoro engine reads it."""
    return " ".join(_tokenizer().phonemize(text, language).split())


def tokens(phonemes: str) -> torch.Tensor:
    """The token ids of `phonemes` with the boundary token at both ends: [1, n + 2]."""
    return torch.tensor([[0, *_tokenizer().tokenize(phonemes), 0]])


def style_row(pack: np.ndarray, ids: torch.Tensor) -> torch.Tensor:
    """The style vector [1, 256] that Kokoro takes from a voice's pack (510 x 1 x 256) for these token ids."""
    count = ids.shape[1] - 2
    return torch.from_numpy(np.asarray(pack[min(count, len(pack)) - 1], dtype=np.float32).reshape(1, -1))
