"""Kokoro fine-tuned on one speaker (castvoice.voice.train): the PyTorch Kokoro with a voice's style pack and
decoder adapters, speaking through kokoro_onnx's own batching, trimming and pauses so that a trained voice
reads a text exactly as a stock voice does.

One model serves every trained voice of the process: a voice's adapters are copied in when it speaks (under a
lock), nothing is merged or copied. On 2 busy cores a trained voice speaks as fast as a stock voice through the
shipped int8 ONNX model (real-time factor 0.50-0.54 against 0.57-0.63 in one process, one thread each), so
there is no ONNX export to make."""

from __future__ import annotations

import hashlib
import shutil
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from castvoice.errors import CastvoiceError
from castvoice.voice.engines.kokoro import KokoroTTS

ADAPTER_PREFIX = "lora."


@dataclass(frozen=True, eq=False)
class AdaptedVoice:
    """A trained voice, as the engine takes it: style pack and adapters (castvoice.voice.train.lora)."""

    style: np.ndarray  # 510 x 1 x 256
    adapters: dict[str, np.ndarray]
    key: str = field(default="")  # tells voices apart without comparing arrays

    @classmethod
    def of(cls, arrays: dict[str, np.ndarray]) -> AdaptedVoice:
        if "style" not in arrays:
            raise CastvoiceError("a trained voice needs its style array")
        adapters = {k: v for k, v in arrays.items() if k.startswith(ADAPTER_PREFIX)}
        digest = hashlib.sha256(np.asarray(arrays["style"], np.float32).tobytes())
        for name in sorted(adapters):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(adapters[name]).tobytes())
        return cls(np.asarray(arrays["style"], np.float32), adapters, digest.hexdigest())


class KokoroTrainedTTS(KokoroTTS):
    """Kokoro-82M in PyTorch with a trained voice's adapters; it speaks stock voices and style arrays too
    (without adapters). 24 kHz."""

    name = "kokoro-trained"

    def __init__(self) -> None:  # the stock engine's session and tokenizer serve here as well, unchanged
        from castvoice.assets import kokoro_voices
        from castvoice.voice.engines.kokoro import kokoro_engine

        self._kokoro = _torch_kokoro(kokoro_engine()._kokoro.sess, str(kokoro_voices()))
        self._lock = threading.Lock()

    def _voice(self, voice):
        if isinstance(voice, AdaptedVoice):
            if voice.style.shape != self.style_shape:
                raise CastvoiceError("a trained voice's style array must be 510 x 1 x 256")
            return voice
        return AdaptedVoice(super()._voice(voice), {})

    def _speech(self, phonemes: str, voice: AdaptedVoice, speed: float, language: str) -> np.ndarray:
        with self._lock:
            self._kokoro.adapt(voice)
            return super()._speech(phonemes, voice.style, speed, language)


def _torch_kokoro(session, voices: str):
    """kokoro_onnx's Kokoro with its inference done by the PyTorch model instead of the ONNX session (which
    only describes the inputs)."""
    from kokoro_onnx import Kokoro

    class TorchKokoro(Kokoro):
        voice_key: str | None = None

        def adapt(self, voice: AdaptedVoice) -> None:
            from castvoice.voice.train.lora import load_adapter_arrays

            if voice.key != self.voice_key:
                try:
                    load_adapter_arrays(speaking_model(), voice.adapters)
                except ValueError as error:
                    raise CastvoiceError(f"the trained voice does not fit this Kokoro ({error}); train it again "
                                         "with `castvoice train-voice`") from None
                self.voice_key = voice.key

        def _infer(self, tokens, style, speed):
            import torch

            with torch.inference_mode():
                out = speaking_model()(torch.tensor([[0, *tokens, 0]]),
                                       torch.from_numpy(np.asarray(style, np.float32).reshape(1, -1)), float(speed))
            return out.audio.numpy(), out.durations.numpy()

    return TorchKokoro.from_session(session, voices)


@cache
def speaking_model():
    """The process's PyTorch Kokoro for speaking, on the CPU with castvoice's thread count, made on first use."""
    import torch

    from castvoice.speech.embeddings import cpu_threads
    from castvoice.voice.kokoro_torch.model import kokoro_torch

    torch.set_num_threads(cpu_threads())
    return kokoro_torch()


def profile_voice(profile) -> AdaptedVoice:
    """The voice a kokoro-trained profile speaks with; an error for a profile trained on another Kokoro."""
    from castvoice.voice.kokoro_torch.model import model_version

    trained_on = profile.state.get("model")
    if trained_on != model_version():
        raise CastvoiceError(f"voice {profile.name!r} was trained on Kokoro {trained_on}, and this castvoice has "
                             f"Kokoro {model_version()}; train it again with `castvoice train-voice`")
    return AdaptedVoice.of(profile.arrays)


def profile_state(tts, name: str, references: list[np.ndarray], budget_seconds: float, language: str):
    """A trained voice from 16 kHz recordings without their text: Whisper base transcribes them first."""
    from castvoice.media.decode import ANALYSIS_RATE
    from castvoice.speech.asr import get_asr
    from castvoice.voice.clone import ASR_LANGUAGE
    from castvoice.voice.train import Utterance

    asr = get_asr("base")
    utterances = [Utterance(r, ANALYSIS_RATE, asr.transcribe(r, ASR_LANGUAGE.get(language)).text) for r in references]
    return trained_profile_state([u for u in utterances if u.text.strip()], references, budget_seconds / 60, "auto",
                                 language)


def trained_profile_state(utterances, references: list[np.ndarray], minutes: float, device: str, language: str,
                          folder: Path | None = None):
    """A kokoro-trained profile's (state, arrays, similarity) from `utterances` (castvoice.voice.train.Utterance),
    starting from the stock voice nearest the 16 kHz `references`; checkpoints go to `folder` (default:
    castvoice's cache, by the inputs) and are removed once the voice is made."""
    from castvoice.voice.clone import Target
    from castvoice.voice.engines.kokoro import kokoro_engine
    from castvoice.voice.kokoro_torch.model import model_version
    from castvoice.voice.stock import stock_voices
    from castvoice.voice.train.fit import check_budget, train

    check_budget(minutes)
    stock, target = stock_voices(language), Target.of(references)
    index = int(np.argmax(target.stock_selection(stock)))
    start = stock.names[index]
    folder = folder or _cache_folder(utterances)
    voice = train(utterances, kokoro_engine().style(start), folder, minutes, device, language)
    arrays = {"style": voice.style, **voice.adapters}
    state = {"speed": 1.0, "language": language, "model": model_version(), "nearest": start,
             "nearest_similarity": {name: round(float(stock.embeddings[name][index] @ vector), 4)
                                    for name, vector in target.embeddings.items()},
             "budget_seconds": round(minutes * 60), **voice.scores}
    similarity = probe_similarity(arrays, references, language)
    shutil.rmtree(folder, ignore_errors=True)
    return state, arrays, similarity


def probe_similarity(arrays: dict[str, np.ndarray], references: list[np.ndarray], language: str) -> dict[str, float]:
    """The trained voice saying the probe sentences against the references, per speaker encoder that cloning
    uses (castvoice.voice.clone), so that the two kinds of voice compare."""
    import soxr

    from castvoice.media.decode import ANALYSIS_RATE
    from castvoice.voice.clone import Target
    from castvoice.voice.stock import PROBE_SENTENCES, centroid, embedder

    tts = trained_engine()
    voice = AdaptedVoice.of(arrays)
    clips = [soxr.resample(tts.synthesize(s, voice, 1.0, language), tts.sample_rate, ANALYSIS_RATE)
             for s in PROBE_SENTENCES]
    target = Target.of(references)
    return {name: round(float(centroid(embedder(name).embed_many(clips)) @ vector), 4)
            for name, vector in target.embeddings.items()}


@cache
def trained_engine() -> KokoroTrainedTTS:
    """The process's kokoro-trained engine, made on first use and kept (`get_tts("kokoro-trained")` is it)."""
    return KokoroTrainedTTS()


def _cache_folder(utterances) -> Path:
    from castvoice.assets import cache_dir

    digest = hashlib.sha256()
    for u in utterances:
        digest.update(u.text.encode())
        digest.update(np.asarray(u.audio, np.float32).tobytes())
    return cache_dir() / "training" / digest.hexdigest()[:16]
