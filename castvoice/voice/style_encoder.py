"""A learned style encoder: from speaker embeddings of someone's speech to a place in Kokoro's style space.

Trained once on synthetic speech (`scripts/train_style_encoder.py`): random convex blends of the English
stock voices with bounded timbre perturbations each speak a sentence, and the speaker encoders embed the
speech. The encoder predicts a voice's timbre (the mean of the style pack's first TIMBRE_DIMS values)
from the timbres of the synthetic voices that sound most like it. Cloning then places a character by
predicting its timbre and expressing it as a convex blend of stock voices plus a residual within the
search's bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from castvoice.media.decode import ANALYSIS_RATE
from castvoice.voice.stock import (
    OBJECTIVE_WEIGHTS,
    RESIDUAL_BOUND,
    RESIDUAL_COMPONENTS,
    TIMBRE_DIMS,
    StockVoices,
    compose_style,
    embedder,
    stock_voices,
)

WEIGHTS_FILE = Path(__file__).with_name("style_encoder.npz")
TRAINING_SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "The boy was there when the sun rose.",
    "Rice is often served in round bowls.",
    "It's easy to tell the depth of a well.",
    "The hogs were fed chopped corn and garbage.",
    "These days a chicken leg is a rare dish.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
)
MAX_BLEND = 4  # stock voices in one training blend
ENCODER = "resemblyzer"  # its nearest voices placed real speakers best (CAM++ added made it worse)
NEIGHBOURS = 5


def voice_timbre(style: np.ndarray) -> np.ndarray:
    """The timbre of a style pack (510, 1, 256) or of a stack of them: the mean of its timbre half."""
    return np.asarray(style)[..., :, 0, :TIMBRE_DIMS].mean(axis=-2)


def features(embeddings: dict[str, np.ndarray]) -> np.ndarray:
    """One vector per voice: the objective encoders' centroid embeddings side by side."""
    return np.concatenate([embeddings[name] for name in sorted(OBJECTIVE_WEIGHTS)])


def random_voice(stock: StockVoices, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random convex blend of up to MAX_BLEND stock voices with a bounded timbre residual: (weights, residual)."""
    weights = np.zeros(len(stock.names))
    chosen = rng.choice(len(stock.names), size=rng.integers(1, MAX_BLEND + 1), replace=False)
    weights[chosen] = rng.dirichlet(np.ones(len(chosen)))
    coefficients = rng.uniform(-RESIDUAL_BOUND, RESIDUAL_BOUND, RESIDUAL_COMPONENTS)
    return weights, (coefficients @ stock.timbre_basis).astype(np.float32)


def generate(out: Path, count: int, seed: int, shard: int = 25, language: str = "en-us") -> None:
    """Synthesise `count` random voices, one training sentence each, into shards of `shard` samples under
    `out`; shards already written are kept, so a killed run goes on where it stopped."""
    import soxr

    from castvoice.atomic import atomic_path
    from castvoice.progress import track
    from castvoice.voice.engines.kokoro import kokoro_engine

    tts, stock = kokoro_engine(), stock_voices(language)
    out.mkdir(parents=True, exist_ok=True)
    with track("style encoder data", total=count) as task:
        for first in range(0, count, shard):
            path = out / f"samples-{seed}-{first:06d}.npz"
            if not path.is_file():
                rng = np.random.default_rng([seed, first])
                rows = []
                for _ in range(min(shard, count - first)):
                    weights, residual = random_voice(stock, rng)
                    style = compose_style(stock.styles, weights, residual)
                    sentence = TRAINING_SENTENCES[rng.integers(len(TRAINING_SENTENCES))]
                    speech = soxr.resample(tts.synthesize(sentence, style, 1.0, language), tts.sample_rate,
                                           ANALYSIS_RATE)
                    embedded = {name: embedder(name).embed_many([speech])[0] for name in OBJECTIVE_WEIGHTS}
                    rows.append((features(embedded), voice_timbre(style)))
                with atomic_path(path) as tmp, open(tmp, "wb") as f:
                    np.savez(f, features=np.stack([r[0] for r in rows]), timbres=np.stack([r[1] for r in rows]))
            task.update(done=min(first + shard, count))


@dataclass(frozen=True)
class StyleEncoder:
    """Speaker embedding -> timbre, by the NEIGHBOURS synthetic voices whose speech is nearest (cosine) under
    ENCODER. A nearest-neighbour map never leaves the voices it was trained on: real speech, whose embeddings
    lie apart from synthetic speech, is placed among Kokoro voices rather than extrapolated past them (a
    ridge regression, tried first, placed most real speakers further from themselves than their nearest
    stock voice)."""

    embeddings: np.ndarray  # (voices, ENCODER's dimension), unit length
    timbres: np.ndarray  # (voices, TIMBRE_DIMS)

    def timbre(self, embeddings: dict[str, np.ndarray]) -> np.ndarray:
        return self._nearest_timbre(np.asarray(embeddings[ENCODER], np.float32))

    def _nearest_timbre(self, embedding: np.ndarray) -> np.ndarray:
        similarity = self.embeddings.astype(np.float32) @ (embedding / np.linalg.norm(embedding))
        return self.timbres[np.argsort(-similarity)[:NEIGHBOURS]].astype(np.float32).mean(axis=0)

    def save(self, path: Path = WEIGHTS_FILE) -> None:
        from castvoice.atomic import atomic_path

        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, embeddings=self.embeddings.astype(np.float16), timbres=self.timbres.astype(np.float16))

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE) -> StyleEncoder:
        with np.load(path) as saved:
            return cls(saved["embeddings"], saved["timbres"])


def load_samples(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every shard under `folder`: (features, timbres)."""
    shards = [np.load(p) for p in sorted(folder.glob("samples-*.npz"))]
    return np.concatenate([s["features"] for s in shards]), np.concatenate([s["timbres"] for s in shards])


def _encoder_part(features_: np.ndarray, name: str) -> np.ndarray:
    """One encoder's embeddings out of rows of `features`."""
    start = 0
    for encoder in sorted(OBJECTIVE_WEIGHTS):
        size = embedder(encoder).dimension
        if encoder == name:
            part = features_[:, start:start + size]
            return part / np.linalg.norm(part, axis=1, keepdims=True)
        start += size
    raise KeyError(name)


def train(folder: Path, held_out: float = 0.2, seed: int = 0) -> tuple[StyleEncoder, dict[str, float]]:
    """The encoder from every sample under `folder`, with its timbre error on a held-out share (from an
    encoder of the rest) against the spread of the timbres."""
    x, y = load_samples(folder)
    x = _encoder_part(x, ENCODER)
    test = np.random.default_rng(seed).random(len(x)) < held_out
    trial = StyleEncoder(x[~test], y[~test])
    predicted = np.stack([trial._nearest_timbre(e) for e in x[test]])
    spread = np.linalg.norm(y[test] - y[~test].mean(axis=0), axis=1).mean()
    report = {"samples": len(x), "neighbours": NEIGHBOURS,
              "held-out error / spread": float(np.linalg.norm(predicted - y[test], axis=1).mean() / spread)}
    return StyleEncoder(x.astype(np.float32), y.astype(np.float32)), report


def place(timbre: np.ndarray, stock: StockVoices) -> tuple[np.ndarray, np.ndarray]:
    """A timbre as (convex weights over the stock voices, residual coefficients within the search's bounds):
    the closest convex blend, then what is left projected onto the timbre basis."""
    from scipy.optimize import nnls

    timbres = voice_timbre(stock.styles)
    # Convexity by a heavily weighted sum-to-one row appended to the least-squares problem.
    rows = np.vstack([timbres.T, 100.0 * np.ones(len(timbres))])
    weights, _ = nnls(rows, np.concatenate([timbre, [100.0]]))
    weights /= weights.sum()
    left = timbre - weights @ timbres
    basis = stock.timbre_basis
    wanted = np.linalg.lstsq(basis.T, left, rcond=None)[0]  # in units of the basis (one std each)
    coefficients = np.arctanh(np.clip(wanted / RESIDUAL_BOUND, -0.95, 0.95))
    return weights, coefficients
