"""A trained voice: Kokoro-82M fine-tuned on a speaker's own utterances (`castvoice train-voice`).

Cloning within Kokoro's style space (castvoice.voice.clone) can only blend the stock voices. Training starts
from the nearest of them and fits the speaker: a style offset for their pitch, rhythm and timbre, then
low-rank adapters on the decoder (castvoice.voice.train.fit). The voice is a profile of the `kokoro-trained`
backend (castvoice.voice.engines.kokoro_trained, which makes it) that holds its style pack and adapters, a few MB, never a
copy of the model.

- `data`: utterances aligned, pitch and energy measured: what training learns from
- `lora`: the adapters
- `fit`: the training, within a budget, resumable
"""

from __future__ import annotations

from castvoice.voice.train.data import Utterance

__all__ = ["Utterance"]
