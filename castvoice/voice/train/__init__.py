"""A trained voice: Kokoro-82M fine-tuned on a speaker's own utterances (`castvoice train-voice`).

Cloning within Kokoro's style space (castvoice.voice.clone) can only blend the stock voices. Training starts
from the nearest of them and fits the speaker: a style offset for their pitch, rhythm and timbre, then
low-rank adapters on the decoder (castvoice.voice.train.fit). The voice is a profile of the `kokoro-trained`
backend (castvoice.voice.engines.kokoro_trained) that holds its style pack and adapters, a few MB, never a
copy of the model.

- `data`: utterances aligned, pitch and energy measured: what training learns from
- `lora`: the adapters
- `fit`: the training, within a budget, resumable
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np

from castvoice.voice.train.data import Utterance

__all__ = ["Utterance", "trained_state"]


def trained_state(utterances: list[Utterance], references: list[np.ndarray], minutes: float, device: str,
                  language: str, folder: Path | None = None):
    """A kokoro-trained profile's (state, arrays, similarity) from `utterances`, starting from the stock voice
    nearest the 16 kHz `references`; checkpoints go to `folder` (default: castvoice's cache, by the inputs)
    and are removed once the voice is made."""
    from castvoice.voice.clone import nearest_voice
    from castvoice.voice.engines.kokoro import kokoro_engine
    from castvoice.voice.kokoro_torch.model import model_version
    from castvoice.voice.train.fit import check_budget, train

    check_budget(minutes)
    start = nearest_voice(references, language)
    folder = folder or _cache_folder(utterances)
    voice = train(utterances, kokoro_engine().style(start), folder, minutes, device, language)
    arrays = {"style": voice.style, **voice.adapters}
    state = {"speed": 1.0, "language": language, "model": model_version(), "nearest": start,
             "budget_seconds": round(minutes * 60), **voice.scores}
    similarity = probe_similarity(arrays, references, language)
    shutil.rmtree(folder, ignore_errors=True)
    return state, arrays, similarity


def probe_similarity(arrays: dict[str, np.ndarray], references: list[np.ndarray], language: str) -> dict[str, float]:
    """The trained voice saying the probe sentences against the references, per speaker encoder that cloning
    uses (castvoice.voice.clone), so that the two kinds of voice compare."""
    import soxr

    from castvoice.media.decode import ANALYSIS_RATE
    from castvoice.voice.backends import get_tts
    from castvoice.voice.clone import Target
    from castvoice.voice.engines.kokoro_trained import AdaptedVoice
    from castvoice.voice.stock import PROBE_SENTENCES, centroid, embedder

    tts = get_tts("kokoro-trained")
    voice = AdaptedVoice.of(arrays)
    clips = [soxr.resample(tts.synthesize(s, voice, 1.0, language), tts.sample_rate, ANALYSIS_RATE)
             for s in PROBE_SENTENCES]
    target = Target.of(references)
    return {name: round(float(centroid(embedder(name).embed_many(clips)) @ vector), 4)
            for name, vector in target.embeddings.items()}


def _cache_folder(utterances: list[Utterance]) -> Path:
    from castvoice.assets import cache_dir

    digest = hashlib.sha256()
    for u in utterances:
        digest.update(u.text.encode())
        digest.update(np.asarray(u.audio, np.float32).tobytes())
    return cache_dir() / "training" / digest.hexdigest()[:16]
