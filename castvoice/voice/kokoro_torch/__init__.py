"""Kokoro-82M in PyTorch, built from the weights castvoice already ships, so that a voice can be fine-tuned
on a character's clips.

castvoice speaks with Kokoro through ONNX Runtime, which cannot be trained. This package is the same network
as PyTorch modules, with the float32 weights read out of the assembled ONNX model (`weights.py`); nothing is
downloaded. The architecture is that of StyleTTS 2 (MIT) as the `kokoro` package (hexgrad, Apache-2.0)
writes it, written out here because that package's import pulls in its G2P (misaki, spaCy). It follows the
ONNX export where the two differ, so it predicts the ONNX model's durations and speaks as it does, and
gradients reach the style vector and every weight (tests/voice/test_kokoro_torch.py).

- `model.kokoro_torch()`: the model with castvoice's weights; `model.phonemize`, `model.tokens` and
  `model.style_row` make its inputs as castvoice's Kokoro engine does.
- `model.KokoroTorch`: tokens and a style vector to speech and durations; durations may be given (forced
  from a recording) instead of predicted.
- `mel.log_mel`: a differentiable log-mel spectrogram, to compare speech and to train on.
"""
