"""Forced alignment: where each word of a known text is spoken, behind one interface.

"pocketsphinx" (English, embedded) gives word and phone times; words missing from its dictionary
get espeak-ng pronunciations. "whisper" (any language) gives word times from Whisper's alignment
heads. Audio longer than one window is aligned window by window: each backend finds how many of
the remaining words a window holds, and the window is cut in the pause after the last sure word.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import cache
from typing import Protocol

import numpy as np

from castvoice.console import log
from castvoice.errors import CastvoiceError
from castvoice.media.decode import ANALYSIS_RATE
from castvoice.spans import Word
from castvoice.text.normalize import spoken_text

WINDOW_SECONDS = 30.0
# Words ending in the last sixth of a window may belong to speech cut by the window's end:
# they are aligned again in the next window.
WINDOW_MARGIN = 1 / 6
MIN_WINDOW_SECONDS = 3.0
MIN_DURATION = 0.01
EDGE_SECONDS = 0.03  # words this close to a window's edge may have been cut by it

_ANNOTATION = re.compile(r"\[[^\]]*\]|<[^>]*>")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


class Aligner(Protocol):
    name: str

    def align(self, audio16k: np.ndarray, text: str, start: float = 0.0) -> list[Word]:
        """The words of `text` with times in seconds (from the audio's start, plus `start`)."""

    def align_segments(
        self, audio16k: np.ndarray, segments: list[tuple[float, float, str]], pad: float = 0.3
    ) -> list[list[Word]]:
        """Align each (start, end, text) span on its own, within a window widened by `pad` seconds."""


# ---------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------


def alignment_words(text: str, spell_numbers: bool = False) -> list[str]:
    """Lowercase words with inner apostrophes kept, punctuation and [annotations] or <noises> dropped.

    With `spell_numbers`, numbers and abbreviations become English words ("1984" -> nineteen eighty four).
    """
    text = _ANNOTATION.sub(" ", text.replace("’", "'").replace("‘", "'"))
    if spell_numbers:
        text = spoken_text(text, "en")
    text = text.lower()
    return _WORD.findall(text)


# ---------------------------------------------------------------------------
# Shared window logic
# ---------------------------------------------------------------------------


class WindowedAligner(ABC):
    """Alignment of any length from a backend that aligns up to WINDOW_SECONDS at a time.

    A backend implements `_words` (text -> the words it aligns), `_align_window` (all words in a
    short window) and `_fit_prefix` (how many of the next words a window holds, and where to cut it).
    """

    name = ""

    def align(self, audio16k: np.ndarray, text: str, start: float = 0.0) -> list[Word]:
        words = self._words(text)
        audio = np.asarray(audio16k, dtype=np.float32)
        duration = len(audio) / ANALYSIS_RATE
        if words and duration < MIN_DURATION * len(words):
            log.warning("%d words cannot fit in %.2f s of audio; not aligned", len(words), duration)
            return []
        return self._align_span(audio, words, start, WINDOW_SECONDS) if words else []

    def align_segments(
        self, audio16k: np.ndarray, segments: list[tuple[float, float, str]], pad: float = 0.3
    ) -> list[list[Word]]:
        """Each span's window reaches `pad` seconds beyond it, but not back past the words of the span
        before it nor on past the middle of the span after it. When the words run into a window edge
        that `pad` set, the speech may go on beyond it: that edge moves out by `pad` once more."""
        audio = np.asarray(audio16k, dtype=np.float32)
        duration = len(audio) / ANALYSIS_RATE
        order = sorted(range(len(segments)), key=lambda i: (segments[i][0], segments[i][1]))
        results: list[list[Word]] = [[] for _ in segments]
        previous: list[Word] = []
        for rank, index in enumerate(order):
            start, end, text = segments[index]
            floor = max(0.0, min(previous[-1].end, start) if previous else 0.0)
            ceiling = duration
            if rank + 1 < len(order):
                after = segments[order[rank + 1]]
                ceiling = min(ceiling, max(end, (after[0] + after[1]) / 2))
            low, high = max(floor, start - pad), min(ceiling, end + pad)
            words = self._align_between(audio, text, low, high)
            if words:
                wider_low = max(floor, low - pad) if words[0].start - low < EDGE_SECONDS else low
                wider_high = min(ceiling, high + pad) if high - words[-1].end < EDGE_SECONDS else high
                if (wider_low, wider_high) != (low, high):
                    words = self._align_between(audio, text, wider_low, wider_high)
            if previous and words and words[0].start < previous[-1].end:
                boundary = (words[0].start + previous[-1].end) / 2
                _settle(previous, previous[0].start, boundary)
                _settle(words, boundary, words[-1].end)
            results[index] = words
            previous = words or previous
        return results

    def _align_between(self, audio: np.ndarray, text: str, low: float, high: float) -> list[Word]:
        """`align` on the audio from `low` to `high` seconds."""
        if high - low < MIN_DURATION:
            return []
        first, last = round(low * ANALYSIS_RATE), round(high * ANALYSIS_RATE)
        return self.align(audio[first:last], text, start=first / ANALYSIS_RATE)

    def _align_span(self, audio: np.ndarray, words: list[str], start: float, window: float) -> list[Word]:
        """Align `words` over `audio` in windows of at most `window` seconds, each cut in the pause after the
        last word it surely holds. A window the backend cannot align is aligned again in halves."""
        seconds = len(audio) / ANALYSIS_RATE
        if seconds <= window:
            try:
                aligned = self._align_window(audio, words, start)
            except RuntimeError as error:
                if len(words) > 1 and seconds / 2 >= MIN_WINDOW_SECONDS:
                    return self._align_span(audio, words, start, seconds / 2)
                log.warning("alignment failed at %.1f s (%s); %d words spread evenly", start, error, len(words))
                aligned = _spread(words, start, start + seconds)
            _settle(aligned, start, start + seconds)
            return aligned
        size = round(window * ANALYSIS_RATE)
        words_per_second = len(words) / seconds
        aligned: list[Word] = []
        position, next_word = 0, 0
        while next_word < len(words) and position < len(audio):
            offset = start + position / ANALYSIS_RATE
            if len(audio) - position <= size:
                return aligned + self._align_span(audio[position:], words[next_word:], offset, window)
            count, cut = self._fit_prefix(audio[position : position + size], words[next_word:], words_per_second)
            if not count:
                log.warning("no words of the text found in %.1f-%.1f s; skipped", offset, offset + cut)
            piece = max(1, round(cut * ANALYSIS_RATE))
            if count:
                chunk, chunk_words = audio[position : position + piece], words[next_word : next_word + count]
                aligned += self._align_span(chunk, chunk_words, offset, window)
            next_word += count
            position += piece
        return aligned

    @abstractmethod
    def _words(self, text: str) -> list[str]:
        """The words of `text` as this backend aligns them."""

    @abstractmethod
    def _align_window(self, audio: np.ndarray, words: list[str], start: float) -> list[Word]:
        """All `words` in a window of at most WINDOW_SECONDS; RuntimeError when no alignment is found."""

    @abstractmethod
    def _fit_prefix(self, audio: np.ndarray, words: list[str], words_per_second: float) -> tuple[int, float]:
        """How many leading `words` this window surely holds, and where (seconds) to cut it after them."""


def _commit(found: list[tuple[float, float]], window_seconds: float) -> tuple[int, float]:
    """How many leading (start, end) word spans to keep from a window, and where (seconds) to cut it.

    Spans ending in the window's last WINDOW_MARGIN part are left for the next window; the cut
    falls midway between the last kept word and the next one.
    """
    limit = window_seconds * (1 - WINDOW_MARGIN)
    count = 0
    while count < len(found) and found[count][1] <= limit:
        count += 1
    if count == 0:
        return 0, limit
    following = found[count][0] if count < len(found) else window_seconds
    return count, min(limit, (found[count - 1][1] + max(following, found[count - 1][1])) / 2)


def _retime(word: Word, start: float, end: float) -> None:
    """Move a word to [start, end], scaling its phones along with it."""
    old_start, old_span = word.start, word.end - word.start
    scale = (end - start) / old_span if old_span > 0 else 0.0
    for phone in word.phones:
        phone.start = start + (phone.start - old_start) * scale
        phone.end = start + (phone.end - old_start) * scale
    word.start, word.end = start, end


def _settle(words: list[Word], low: float, high: float) -> None:
    """Keep words in order inside [low, high], none shorter than MIN_DURATION, none overlapping."""
    cursor = low
    for word in words:
        begin = max(word.start, cursor)
        _retime(word, begin, max(word.end, begin + MIN_DURATION))
        cursor = word.end
    cursor = high
    for word in reversed(words):
        if word.end <= cursor:
            break
        finish = min(word.end, cursor)
        _retime(word, min(word.start, finish - MIN_DURATION), finish)
        cursor = word.start


def _spread(words: list[str], start: float, end: float) -> list[Word]:
    """Words laid over [start, end] in proportion to their length (no phones)."""
    edges = start + (end - start) * np.cumsum([0] + [len(w) + 1 for w in words]) / (sum(len(w) + 1 for w in words))
    return [Word(float(a), float(b), w) for w, a, b in zip(words, edges[:-1], edges[1:])]


# ---------------------------------------------------------------------------
# pocketsphinx (English)
# ---------------------------------------------------------------------------

PS_FRAME_RATE = 100
PS_MAX_WINDOW_WORDS = 200
# Wide beams: with the defaults, spontaneous speech often finds no path through the whole text.
# bestpath=False keeps the first pass's segmentation consistent for the phone-level second pass.
# topn 3 (of 4 Gaussians scored per frame): about 20% faster with the same boundary accuracy.
PS_CONFIG = {"beam": 1e-100, "wbeam": 1e-80, "pbeam": 1e-100, "bestpath": False, "topn": 3}
_PS_NON_WORDS = {"<s>", "</s>", "<sil>", "(NULL)"}


class PocketsphinxAligner(WindowedAligner):
    """CMU pocketsphinx 5 with its bundled en-us model: word and ARPAbet phone times, 10 ms frames."""

    name = "pocketsphinx"

    def __init__(self, language: str = "en") -> None:
        if language.split("-")[0].lower() != "en":
            raise CastvoiceError(f"the pocketsphinx aligner knows only English, not {language!r}; use whisper")

    def _words(self, text: str) -> list[str]:
        return alignment_words(text, spell_numbers=True)

    def _align_window(self, audio: np.ndarray, words: list[str], start: float) -> list[Word]:
        decoder = _pocketsphinx_decoder(words)
        pcm = _pcm16(audio)
        decoder.set_align_text(" ".join(words))
        _decode(decoder, pcm)
        if decoder.hyp() is None:
            raise RuntimeError("no path through the text")
        decoder.set_alignment()
        _decode(decoder, pcm)
        aligned = [
            Word(
                start + entry.start / PS_FRAME_RATE,
                start + (entry.start + entry.duration) / PS_FRAME_RATE,
                "",
                phones=[
                    Word(start + p.start / PS_FRAME_RATE, start + (p.start + p.duration) / PS_FRAME_RATE, p.name)
                    for p in entry
                ],
            )
            for entry in decoder.get_alignment()
            if _is_word(entry.name)
        ]
        if len(aligned) != len(words):
            raise RuntimeError(f"{len(aligned)} of {len(words)} words aligned")
        for word, text in zip(aligned, words):
            word.text = text
        return aligned

    def _fit_prefix(self, audio: np.ndarray, words: list[str], words_per_second: float) -> tuple[int, float]:
        """Decode the window with a grammar that may stop after any word of the text."""
        candidates = words[:PS_MAX_WINDOW_WORDS]
        decoder = _pocketsphinx_decoder(candidates)
        final = len(candidates) + 1
        transitions = [(i, i + 1, 1.0, word) for i, word in enumerate(candidates)]
        transitions += [(i, final, 1.0) for i in range(1, final)]
        decoder.add_fsg("window", decoder.create_fsg("window", 0, final, transitions))
        decoder.activate_search("window")
        _decode(decoder, _pcm16(audio))
        segments = decoder.seg() if decoder.hyp() is not None else None
        found = [
            (s.start_frame / PS_FRAME_RATE, (s.end_frame + 1) / PS_FRAME_RATE)
            for s in (segments or [])
            if _is_word(s.word)
        ]
        return _commit(found, len(audio) / ANALYSIS_RATE)


def _is_word(name: str) -> bool:
    return name not in _PS_NON_WORDS and not name.startswith("[") and not name.startswith("+")


def _pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()


def _decode(decoder, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _pocketsphinx_decoder(words: list[str]):
    """The process's decoder, with espeak-ng pronunciations added for any of `words` it lacks."""
    decoder = _decoder()
    missing = sorted({w for w in words if decoder.lookup_word(w) is None})
    if missing:
        from castvoice.speech.g2p import arpabet

        for number, (word, phones) in enumerate(zip(missing, arpabet(missing)), 1):
            decoder.add_word(word, " ".join(phones or ["AH"]), number == len(missing))  # rebuild once, at the end
    return decoder


@cache
def _decoder():
    from pocketsphinx import Decoder

    return Decoder(lm=None, loglevel="FATAL", **PS_CONFIG)


# ---------------------------------------------------------------------------
# Whisper (any language)
# ---------------------------------------------------------------------------

WHISPER_MAX_TEXT_TOKENS = 440  # the decoder holds 448 tokens, start tokens included
WHISPER_OVERSHOOT = 1.5  # words offered to a window, relative to the text's average rate


class WhisperAligner(WindowedAligner):
    """Word times from Whisper base's cross-attention alignment heads for a known text (no phones)."""

    name = "whisper"

    def __init__(self, language: str = "en") -> None:
        self.language = language.split("-")[0].lower()

    def _words(self, text: str) -> list[str]:
        return alignment_words(text)

    def _align_window(self, audio: np.ndarray, words: list[str], start: float) -> list[Word]:
        return [
            Word(start + timing["start"], start + timing["end"], timing["word"].strip(), float(timing["probability"]))
            for timing in self._timings(audio, words)
            if timing["word"].strip()
        ]

    def _fit_prefix(self, audio: np.ndarray, words: list[str], words_per_second: float) -> tuple[int, float]:
        """Offer more words than the window likely holds; the surplus crowds into its last seconds."""
        offered = words[: math.ceil(words_per_second * WINDOW_SECONDS * WHISPER_OVERSHOOT) + 5]
        found = [(t["start"], t["end"]) for t in self._timings(audio, offered) if t["word"].strip()]
        return _commit(found, len(audio) / ANALYSIS_RATE)

    def _timings(self, audio: np.ndarray, words: list[str]) -> list[dict]:
        from faster_whisper.audio import pad_or_trim

        model, tokenizer = _whisper(self.language)
        tokens = tokenizer.encode(" " + " ".join(words))
        if len(tokens) > WHISPER_MAX_TEXT_TOKENS:
            raise RuntimeError(f"{len(tokens)} text tokens exceed Whisper's {WHISPER_MAX_TEXT_TOKENS}")
        features = model.feature_extractor(audio)
        frames = min(features.shape[-1] - 1, model.feature_extractor.nb_max_frames)
        encoded = model.encode(pad_or_trim(features[:, :frames]))
        return model.find_alignment(tokenizer, [tokens], encoded, frames)[0]


@cache
def _whisper(language: str):
    """Whisper base (loaded once per process) and a tokenizer for `language`."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES, Tokenizer

    if language not in _LANGUAGE_CODES:
        raise CastvoiceError(f"Whisper does not know the language code {language!r} (use a code such as en, de, fr)")
    from castvoice.speech.asr import load_whisper

    model = load_whisper("base")
    return model, Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)


# ---------------------------------------------------------------------------
# Registry and command
# ---------------------------------------------------------------------------

ALIGNERS: dict[str, Callable[[str], Aligner]] = {"pocketsphinx": PocketsphinxAligner, "whisper": WhisperAligner}


@cache
def get_aligner(name: str, language: str = "en") -> Aligner:
    """The named aligner (for `language` where the backend needs one), created once per process."""
    if name not in ALIGNERS:
        raise CastvoiceError(f"unknown aligner {name!r}; choose from {', '.join(ALIGNERS)}")
    return ALIGNERS[name](language)


def aligner_for(language: str) -> Aligner:
    """pocketsphinx for English, Whisper for every other language."""
    language = language.split("-")[0].lower()
    return get_aligner("pocketsphinx" if language == "en" else "whisper", language)
