"""What every TTS engine shares: the interface, the text pieces it speaks, and streaming piece by piece.

`synthesize` speaks a whole text in one call to the engine. `stream` cuts the text with `split_text`
into sentences (long ones at clauses, and the first piece short so the first audio comes quickly) and
yields the speech of one piece at a time, making the next piece while the caller plays the last.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from castvoice.errors import CastvoiceError
from castvoice.text.sentences import CLAUSE_END, split_sentences

FIRST_PIECE_WORDS = 5
MAX_PIECE_CHARS = 160
SPEED_RANGE = (0.5, 2.0)
# Words a short first piece may stop before: the cut then falls between phrases, where a pause sounds natural.
PHRASE_STARTS = frozenset(
    "a an the and but or so to of in on at for with from into that which who when where while before after if "
    "because than".split()
)
# Characters espeak reads out by name ("asterisk", "tilde") but that in written text are markup.
MARKUP = str.maketrans("", "", "*~\\")
_WORD_GAP = re.compile(r"(?=\s)")


def split_text(text: str, first_words: int | None = FIRST_PIECE_WORDS, max_chars: int = MAX_PIECE_CHARS) -> list[str]:
    """The pieces `stream` speaks one at a time: sentences, cut at clauses (else between words) when longer
    than `max_chars`, with the first piece cut to at most `first_words` words. Emoji, control characters and
    markup symbols are dropped (see `speakable`)."""
    pieces = [
        piece
        for sentence in split_sentences(speakable(text))
        for piece in _within(sentence, max_chars)
        if any(c.isalnum() for c in piece)
    ]
    if first_words:
        pieces[:1] = [part for part in _first_piece(pieces[0], first_words) if part]
    return pieces


def speakable(text: str) -> str:
    """`text` without what no voice should say: emoji and other symbols, format and control characters,
    markup. Raises CastvoiceError when no letter or digit is left."""
    kept = []
    for char in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(char)
        if char.isspace():
            kept.append(char)
        elif category not in ("So", "Sk", "Me") and category[0] != "C" and not "\ufe00" <= char <= "\ufe0f":
            kept.append(char)
    result = "".join(kept).translate(MARKUP)
    if not any(c.isalnum() for c in result):
        raise CastvoiceError("nothing to speak: the text is empty or holds only symbols")
    return result


def _within(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at clause ends if it can be, else between words,
    else anywhere (one unbroken run of characters)."""
    if len(text) <= limit:
        return [text]
    for boundary in (CLAUSE_END, _WORD_GAP):
        parts = boundary.split(text)
        if len(parts) > 1:
            return [piece for packed in _packed(parts, limit) for piece in _within(packed.strip(), limit)]
    return [text[i : i + limit] for i in range(0, len(text), limit)]


def _packed(parts: list[str], limit: int) -> list[str]:
    """Consecutive parts joined into runs of at most `limit` characters (a longer part stays alone)."""
    runs = [parts[0]]
    for part in parts[1:]:
        if len(runs[-1]) + len(part) <= limit:
            runs[-1] += part
        else:
            runs.append(part)
    return runs


def _first_piece(piece: str, max_words: int) -> tuple[str, str]:
    """`piece` cut after its first clause, or after at most `max_words` words, preferably before a word
    that starts a phrase."""
    words = piece.split(" ")
    if len(words) <= max_words:
        return piece, ""
    clause = CLAUSE_END.split(piece, maxsplit=1)[0]
    if len(clause.split()) <= max_words:
        return clause, piece[len(clause) :].strip()
    cut = max((i for i in range(2, max_words + 1) if words[i].lower() in PHRASE_STARTS), default=max_words)
    return " ".join(words[:cut]), " ".join(words[cut:])


@dataclass(frozen=True)
class OnnxSettings:
    """How onnxruntime runs a TTS model on the CPU; the defaults are onnxruntime's own."""

    threads: int | None = None  # intra-op threads; None: one per physical core
    spinning: bool = True  # idle threads spin-wait for work: fast on idle cores, a loss on busy ones
    optimization: str = "all"  # graph optimisation level: disable, basic, extended or all
    parallel: bool = False  # run independent graph branches at once (inter-op threads)

    def session(self, model: Path):
        """An onnxruntime CPU session for the model file, with these settings."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
        options.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.optimization]
        if self.parallel:
            options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        return ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])


# Measured by `castvoice bench tts` on 2 busy cores: without spinning Kokoro runs 1.1-1.3x faster, with the
# same WER. One thread was about as fast there (the other core was taken); onnxruntime's thread count is
# kept so that a free core is used. Basic graph optimisation and parallel execution were slower.
TUNED = OnnxSettings(spinning=False)


class TTSBackend(Protocol):
    name: str
    sample_rate: int
    languages: tuple[str, ...]  # the first is the default

    def voices(self) -> list[str]:
        """Names of the voices this backend offers."""

    def synthesize(self, text: str, voice: str | np.ndarray, speed: float = 1.0,
                   language: str | None = None) -> np.ndarray:
        """Speech for `text` as float32 mono samples at `sample_rate`; `voice` is a stock voice name or,
        for backends that clone by style, the voice's style array."""

    def stream(self, text: str, voice: str | np.ndarray, speed: float = 1.0,
               language: str | None = None) -> Iterator[np.ndarray]:
        """The same speech as pieces (see `split_text`), each yielded as soon as it is made."""


class PieceByPiece:
    """What every backend shares: checking the arguments, and streaming piece by piece.

    A backend provides `_voice` (the voice argument checked and made ready for its engine), `_whole` and
    `_piece` (speech for a whole checked text and for one piece)."""

    name: str
    languages: tuple[str, ...]

    def synthesize(self, text: str, voice: str | np.ndarray, speed: float = 1.0,
                   language: str | None = None) -> np.ndarray:
        voice, language = self._checked(voice, speed, language)
        return self._whole(speakable(text), voice, speed, language)

    def stream(self, text: str, voice: str | np.ndarray, speed: float = 1.0,
               language: str | None = None) -> Iterator[np.ndarray]:
        voice, language = self._checked(voice, speed, language)
        pieces = split_text(text)  # here, so that bad input fails at the call and not at the first chunk
        return _made_ahead(self._piece(piece, voice, speed, language) for piece in pieces)

    def spoken_language(self, language: str | None) -> str:
        """`language`, or the default one when None; a CastvoiceError for a language this engine does not speak."""
        language = language or self.languages[0]
        if language not in self.languages:
            raise CastvoiceError(f"{self.name} does not speak {language!r}; choose from {', '.join(self.languages)}")
        return language

    def _checked(self, voice, speed: float, language: str | None):
        if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
            raise CastvoiceError(f"speed {speed} is out of range; use {SPEED_RANGE[0]} to {SPEED_RANGE[1]}")
        language = self.spoken_language(language)
        return self._voice(voice), language

    def _unknown_voice(self, voice: str) -> CastvoiceError:
        names = self.voices()
        more = f", ... ({len(names)} in all)" if len(names) > 6 else ""
        return CastvoiceError(f"unknown {self.name} voice {voice!r}; voices include {', '.join(names[:6])}{more}")


_END = object()


def _made_ahead(pieces: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Yield from `pieces` while a worker thread makes the next one, so synthesis goes on while the caller
    plays; stops making pieces when the caller stops taking them."""
    slot: queue.Queue = queue.Queue(maxsize=1)
    stopped = threading.Event()

    def hand_over(item) -> bool:
        while not stopped.is_set():
            with contextlib.suppress(queue.Full):
                slot.put(item, timeout=0.1)
                return True
        return False

    def make() -> None:
        try:
            for piece in pieces:
                if not hand_over(piece):
                    return
        except Exception as error:  # raised again in the caller's thread
            hand_over(error)
            return
        hand_over(_END)

    threading.Thread(target=make, name="tts-stream", daemon=True).start()
    try:
        while (item := slot.get()) is not _END:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stopped.set()
