"""Where sentences end: one set of rules for whole texts (speech synthesis, fact extraction) and for
text that arrives piece by piece (a reply spoken while it is written)."""

from __future__ import annotations

import re
from collections.abc import Iterator

# A full stop after these (or after an initial, or a dotted abbreviation such as e.g.) does not end the sentence.
ABBREVIATIONS = frozenset("mr mrs ms dr prof st jr sr vs mt capt lt sgt col gen".split())
QUOTES = "\"'“”‘’«»()[]"
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(rf"[.!?…]+[{re.escape(QUOTES)}]*(?=\s|$)|[。！？]+")
CLAUSE_END = re.compile(r"(?<=[,;:—–])(?=\s)|(?<=[、，；：])")
_WORD_END = re.compile(r"\S(?=\s)")


def sentence_ends(text: str, final: bool = True) -> Iterator[int]:
    """Offsets just after each sentence end in `text`. With `final` False more text may follow, so an
    end needs the whitespace after it to count ("Mr." then "Smith" must not end a sentence)."""
    start = 0
    for end in _SENTENCE_END.finditer(text):
        if not final and not text[end.end():end.end() + 1].isspace() and text[end.start()] not in "。！？":
            continue
        last_word = text[start:end.end()].split()[-1].strip(QUOTES + ".").lower()
        if text[end.start()] == "." and (last_word in ABBREVIATIONS or "." in last_word or _is_initial(last_word)):
            continue  # "Mr.", "e.g.", "J. R. R. Tolkien"
        start = end.end()
        yield start


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, whitespace collapsed; a blank line always ends a sentence."""
    sentences = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        paragraph = " ".join(paragraph.split())
        start = 0
        for end in sentence_ends(paragraph):
            sentences.append(paragraph[start:end].strip())
            start = end
        sentences.append(paragraph[start:].strip())
    return [s for s in sentences if s]


def _is_initial(word: str) -> bool:
    return len(word) == 1 and word.isalpha() and word != "i"


class SentenceCutter:
    """Cuts whole sentences from text fed piece by piece, each as soon as it ends. With `first_words`, the
    first piece is cut sooner, so that speech can start early: at a clause end or after that many words."""

    def __init__(self, first_words: int | None = None) -> None:
        self.buffer, self.first_words = "", first_words

    def feed(self, piece: str) -> list[str]:
        """The sentences that `piece` completes."""
        self.buffer += piece
        done = []
        while end := self._end():
            sentence, self.buffer = self.buffer[:end].strip(), self.buffer[end:]
            if sentence:
                self.first_words = None
                done.append(sentence)
        return done

    def flush(self) -> list[str]:
        """What is left, as a last sentence."""
        rest, self.buffer = self.buffer.strip(), ""
        return [rest] if rest else []

    def _end(self) -> int | None:
        if (end := next(sentence_ends(self.buffer, final=False), None)) is not None:
            return end
        if not self.first_words:
            return None
        if clause := CLAUSE_END.search(self.buffer):
            return clause.end()
        words = [m.end() for m in _WORD_END.finditer(self.buffer)]
        return words[self.first_words - 1] if len(words) >= self.first_words else None
