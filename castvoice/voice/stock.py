"""Kokoro's stock voices as cloning sees them, and the style arithmetic built on them.

Each stock voice speaks the probe sentences once; the speech's embedding under every objective encoder, its
speaking rate and its pitch are cached per voice under castvoice's cache (the stock voice table). The voice
search (castvoice.voice.clone) and the style encoder (castvoice.voice.style_encoder) both work from it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from castvoice.console import log
from castvoice.errors import CastvoiceError
from castvoice.media.decode import ANALYSIS_RATE
from castvoice.media.pitch import median_pitch
from castvoice.text.normalize import count_syllables

# Harvard-style sentences, varied in phonemes; synthesised by every stock voice once (cached) and by
# every candidate of the search.
PROBE_SENTENCES = (
    "The birch canoe slid on the smooth planks, and the boy waved from the shore.",
    "Glue the sheet to the dark blue background before the paint is dry.",
    "It is easy to tell the depth of a well when you drop a small stone.",
)
OBJECTIVE_WEIGHTS = {"resemblyzer": 0.75, "campplus": 0.25}  # speaker encoders, and their share of the objective
TIMBRE_DIMS = 128  # Kokoro's decoder reads the first half of a style row
RESIDUAL_COMPONENTS = 8
RESIDUAL_BOUND = 1.0  # stock voices' standard deviations along each component
STOCK_CACHE_VERSION = 3
# Stock voices offered per clone language: Kokoro's name prefix letter is the voice's language.
VOICE_LANGUAGES = {"en-us": "ab", "en-gb": "ab"}


@dataclass(frozen=True)
class StockVoices:
    """A language's stock voices with their probe speech embedded (at speed 1.0)."""

    names: list[str]
    styles: np.ndarray  # (voices, 510, 1, 256)
    embeddings: dict[str, np.ndarray]  # encoder -> (voices, dimension)
    rates: np.ndarray  # syllables per second of speech
    pitches: np.ndarray  # median Hz; NaN where nothing was voiced
    timbre_basis: np.ndarray  # (RESIDUAL_COMPONENTS, TIMBRE_DIMS), from all of the language's stock voices


def stock_voices(language: str = "en-us", names: Sequence[str] | None = None) -> StockVoices:
    """The stock voices offered for `language` (or just `names`), each voice's probe speech embedded by every
    objective encoder and its speaking rate measured; cached per voice under castvoice's cache."""
    from castvoice.progress import track
    from castvoice.voice.engines.kokoro import kokoro_engine

    if language not in VOICE_LANGUAGES:
        raise CastvoiceError(f"cloning supports {', '.join(VOICE_LANGUAGES)}, not {language!r}")
    tts = kokoro_engine()
    pool = [v for v in tts.voices() if v[0] in VOICE_LANGUAGES[language]]
    offered = pool if names is None else [v for v in pool if v in names]
    unknown = sorted(set(names or ()) - set(pool))
    if unknown:
        raise CastvoiceError(f"not a {language} stock voice: {', '.join(unknown)}")
    if not offered:
        raise CastvoiceError("no stock voices to clone from")
    rows = []
    with track("stock voices for cloning", total=len(offered)) as task:
        for name in offered:
            rows.append(_stock_voice(tts, name, language))
            task.advance()
    return StockVoices(
        names=offered,
        styles=np.stack([tts.style(name) for name in offered]),
        embeddings={enc: np.stack([row[enc] for row in rows]) for enc in OBJECTIVE_WEIGHTS},
        rates=np.array([float(row["rate"]) for row in rows]),
        pitches=np.array([float(row["pitch"]) for row in rows]),
        timbre_basis=timbre_basis(np.stack([tts.style(name) for name in pool])),
    )


def build_stock_table() -> Path:
    """Build the English stock voice table now (minutes the first time, then cached): the folder holding it."""
    stock_voices("en-us")
    return _table_dir()


def _table_dir() -> Path:
    from castvoice.assets import cache_dir

    return cache_dir() / "kokoro-clone"


def _stock_voice(tts, name: str, language: str) -> dict[str, np.ndarray]:
    """One stock voice's probe speech: centroid embedding per objective encoder, speaking rate and pitch."""
    import soxr

    from castvoice.atomic import atomic_path

    style = tts.style(name)
    key = hashlib.sha256(json.dumps([STOCK_CACHE_VERSION, PROBE_SENTENCES, sorted(OBJECTIVE_WEIGHTS), language,
                                     hashlib.sha256(style.tobytes()).hexdigest()]).encode()).hexdigest()[:16]
    path = _table_dir() / f"{name}-{key}.npz"
    if path.is_file():
        with np.load(path) as cached:
            return dict(cached)
    log.info("cloning: embedding the stock voice %s", name)
    clips = [soxr.resample(tts.synthesize(s, name, 1.0, language), tts.sample_rate, ANALYSIS_RATE)
             for s in PROBE_SENTENCES]
    row = {enc: centroid(embedder(enc).embed_many(clips)) for enc in OBJECTIVE_WEIGHTS}
    row["rate"] = np.array(speaking_rate(np.concatenate(clips), " ".join(PROBE_SENTENCES)))
    row["pitch"] = np.array(speech_pitch(np.concatenate(clips)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **row)
    return row


def compose_style(styles: np.ndarray, weights: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """The convex blend of style packs (voices, 510, 1, 256) with `residual` added to every row's timbre half."""
    style = np.tensordot(np.asarray(weights, np.float32), styles, axes=1)
    style[..., :TIMBRE_DIMS] += residual
    return style.astype(np.float32)


def timbre_basis(styles: np.ndarray) -> np.ndarray:
    """The stock voices' main directions of timbre variation, each scaled to one standard deviation:
    (RESIDUAL_COMPONENTS, TIMBRE_DIMS)."""
    timbres = styles[:, :, 0, :TIMBRE_DIMS].mean(axis=1)
    _, singular, directions = np.linalg.svd(timbres - timbres.mean(axis=0), full_matrices=False)
    deviations = singular / np.sqrt(max(len(timbres) - 1, 1))
    return (deviations[:RESIDUAL_COMPONENTS, None] * directions[:RESIDUAL_COMPONENTS]).astype(np.float32)


def embedder(name: str):
    """The named speaker encoder (castvoice.speech.embeddings), loaded once."""
    from castvoice.speech.embeddings import get_encoder

    return get_encoder(name)


def centroid(vectors: np.ndarray) -> np.ndarray:
    """The unit-length mean of embeddings."""
    from castvoice.speech.embeddings import l2_normalise

    return l2_normalise(np.asarray(vectors, np.float32).mean(axis=0))


def speech_pitch(audio16k: np.ndarray) -> float:
    """Median pitch (Hz) of the voiced frames; NaN when nothing is voiced (no pitch to compare)."""
    pitch = median_pitch(audio16k)
    return float("nan") if pitch is None else pitch


def speaking_rate(audio16k: np.ndarray, text: str) -> float:
    """Syllables per second of speech: `text`'s syllables over the time voice activity detection hears speech."""
    from castvoice.speech.asr import SPLIT_VAD
    from castvoice.speech.vad import get_vad

    speech = sum(r.end - r.start for r in get_vad().regions(np.asarray(audio16k, np.float32), SPLIT_VAD))
    return count_syllables(text) / speech if speech > 0 else 0.0
