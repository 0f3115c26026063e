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


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
            "twelve": "twelfth"}
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?(?:st|nd|rd|th|s|'s)?\b")
_ANNOTATION = re.compile(r"\[[^\]]*\]|<[^>]*>")
# Informal spellings that transcripts write either way.
_SAME_WORDS = {"gonna": "going to", "wanna": "want to", "gotta": "got to", "yknow": "you know", "y'know": "you know",
               "alright": "all right", "ok": "okay"}
FILLERS = frozenset({"uh", "um", "uhm", "umm", "hmm", "hm", "mm", "mmm", "mhm", "er", "erm", "ah", "eh"})


def _cardinal(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + _cardinal(n % 100))
    for size, name in ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            return _cardinal(n // size) + " " + name + ("" if n % size == 0 else " " + _cardinal(n % size))
    raise AssertionError(n)


def _year(n: int) -> str:
    """1455 -> "fourteen fifty five", 1900 -> "nineteen hundred", 1905 -> "nineteen oh five"."""
    high, low = divmod(n, 100)
    if low == 0:
        return _cardinal(high) + " hundred"
    return _cardinal(high) + (" oh " if low < 10 else " ") + _cardinal(low)


def _spell_number(match: re.Match) -> str:
    token = match.group()
    suffix = re.search(r"(st|nd|rd|th|'s|s)$", token)
    digits = token[: suffix.start()] if suffix else token
    whole, _, fraction = digits.replace(",", "").partition(".")
    n = int(whole)
    is_year = "," not in digits and not fraction and len(whole) == 4 and (1100 <= n < 2000 or 2010 <= n < 2100)
    spoken = _year(n) if is_year else _cardinal(n)
    if fraction:
        spoken += " point " + " ".join(_ONES[int(d)] for d in fraction)
    if suffix and suffix.group() in ("st", "nd", "rd", "th"):
        *head, last = spoken.split(" ")
        last = _ORDINAL.get(last) or (last[:-1] + "ieth" if last.endswith("y") else last + "th")
        spoken = " ".join([*head, last])
    elif suffix:
        spoken = spoken[:-1] + "ies" if spoken.endswith("y") else spoken + "s"
    return f" {spoken} "


def scoring_words(text: str) -> list[str]:
    """Words for word error rate: `words` without [annotations], <noises> or fillers, numbers spelled out."""
    text = _ANNOTATION.sub(" ", text)
    text = _NUMBER.sub(_spell_number, text).replace("%", " percent ")
    found = words(text.replace("-", " "))
    return [part for w in found if w not in FILLERS for part in _SAME_WORDS.get(w, w).split()]
