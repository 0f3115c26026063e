"""Text normalisation shared by matching code."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CONTRACTIONS = [
    (re.compile(r"\b(can|won)'t\b"), lambda m: {"can": "can not", "won": "will not"}[m.group(1)]),
    (re.compile(r"n't\b"), lambda m: " not"),
    (re.compile(r"'(re|m|ll|ve|d|s)\b"), lambda m: " " + {"re": "are", "m": "am", "ll": "will", "ve": "have", "d": "would", "s": "is"}[m.group(1)]),
]


def words(text: str) -> list[str]:
    """Lowercase words without accents or punctuation, contractions spelled out ("Don’t!" -> ["do", "not"])."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'").replace("‘", "'"))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    for pattern, expand in _CONTRACTIONS:
        text = pattern.sub(expand, text)
    return _WORD.findall(text)


def display_name(name: str) -> str:
    """How a character's name is shown: screenplay capitals become Title Case ("DR. LEE" -> "Dr. Lee")."""
    name = " ".join(name.split())
    if name.isupper():
        return " ".join(part[:1] + part[1:].lower() for part in name.split(" "))
    return name


def slug(name: str) -> str:
    """A file-name-safe form of a name ("Dr. Lee" -> "dr_lee")."""
    return "_".join(words(name)) or "unnamed"
