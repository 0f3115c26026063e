"""Text normalisation: words for matching and scoring, and the spoken form a TTS trainer wants."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

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


_ANNOTATION = re.compile(r"\[[^\]]*\]|<[^>]*>")
# Informal spellings that transcripts write either way.
_SAME_WORDS = {"gonna": "going to", "wanna": "want to", "gotta": "got to", "yknow": "you know", "y'know": "you know",
               "alright": "all right", "ok": "okay"}
FILLERS = frozenset({"uh", "um", "uhm", "umm", "hmm", "hm", "mm", "mmm", "mhm", "er", "erm", "ah", "eh"})


def scoring_words(text: str, language: str = "en") -> list[str]:
    """Words for word error rate: `words` of the `spoken_text`, without [annotations], <noises> or fillers."""
    text = spoken_text(_ANNOTATION.sub(" ", text), language)
    found = words(text.replace("-", " "))
    return [part for w in found if w not in FILLERS for part in _SAME_WORDS.get(w, w).split()]


def count_syllables(text: str) -> int:
    """Syllables of English text estimated from its spelling: vowel groups of each scoring word, less a
    silent final e (a rough count for other languages written in Latin letters)."""
    total = 0
    for word in scoring_words(text):
        groups = len(re.findall(r"[aeiouy]+", word))
        if word.endswith("e") and not word.endswith(("le", "ee")) and groups > 1:
            groups -= 1
        total += max(groups, 1)
    return total


def spoken_text(text: str, language: str = "en") -> str:
    """`text` as it is spoken, for a TTS trainer: case and punctuation kept, whitespace collapsed.

    Numbers, ordinals ("3rd"), years, decimals, percentages and clock times ("9:30", "8.50 pm") become
    words in `language` wherever num2words knows it (digits stay otherwise). English text also gets
    currency ("$5", "£3.50") and abbreviations ("Mr.", "Dr.", "St.", "etc.", "No. 5", "&") expanded.
    """
    lang = _number_language(language)
    english = lang is not None and _base(lang) == "en"
    if english:
        text = _expand_abbreviations(text)
    if lang:
        text = _TIME.sub(lambda m: _say_time(m, lang), text)
        if english:
            text = _CURRENCY.sub(_say_money, text)
        text = _number_regex(lang).sub(lambda m: _say_number(m, lang), text)
    return " ".join(text.split())


# --- Numbers -------------------------------------------------------------------------------------------

# Base languages that write a decimal point; the others write a decimal comma and group thousands with
# dots or spaces ("1.000,5", "1 000").
_DECIMAL_POINT = frozenset({"en", "he", "ja", "ko", "th", "te", "kn", "bn", "am", "ar", "fa", "cy"})
# Where num2words reads a year unlike the plain number ("1984" -> nineteen eighty-four, neunzehnhundert...).
_YEAR_READING = frozenset({"en", "de", "nl", "da", "no"})
_UNSPACED = frozenset({"ja", "th"})  # written without spaces between words
_PERCENT = {"en": "percent", "de": "Prozent", "fr": "pour cent", "es": "por ciento", "it": "per cento",
            "pt": "por cento", "nl": "procent"}
# num2words' converters fail in different ways for what they do not implement.
_NUM2WORDS_GAPS = (NotImplementedError, TypeError, KeyError, AttributeError, OverflowError)


def _base(lang: str) -> str:
    return lang.split("_")[0]


@cache
def _number_language(language: str) -> str | None:
    """num2words' converter for an ISO 639-1 code or tag ("pt-BR" -> "pt_BR", "en-us" -> "en"), or None."""
    from num2words import CONVERTER_CLASSES

    known = {name.lower(): name for name in CONVERTER_CLASSES}
    tag = language.strip().lower().replace("-", "_")
    lang = known.get(tag) or known.get(tag.split("_")[0])
    return lang if lang and _say(1984, lang) else None


def _say(value: int | float, lang: str, to: str = "cardinal") -> str | None:
    """num2words for one value, or None where the language lacks that reading."""
    from num2words import num2words

    try:
        spoken = num2words(value, lang=lang, to=to)
    except _NUM2WORDS_GAPS:
        return None
    if _base(lang) == "en":
        spoken = spoken.replace(" and ", " ")  # "one hundred twenty", the American reading
    return " ".join(spoken.replace(",", " ").split())  # no pause inside "one million, two hundred thousand"


@cache
def _number_pattern(lang: str) -> str:
    if _base(lang) in _DECIMAL_POINT:
        return r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
    return r"\d{1,3}(?:[.\u00a0\u202f ]\d{3})+(?:,\d+)?|\d+(?:,\d+)?"


@cache
def _number_regex(lang: str) -> re.Pattern:
    number = rf"(?P<number>{_number_pattern(lang)})"
    if _base(lang) == "en":  # "'80s", "3rd", "1990s"
        number = rf"(?:['’](?=\d0s\b))?{number}(?:(?:(?P<ordinal>(?i:st|nd|rd|th))|(?P<plural>'?s))(?![^\W\d_]))?"
    return re.compile(rf"{number}(?:\s?(?P<percent>%))?")


def _spell(number: str, lang: str, to: str = "cardinal") -> str | None:
    """A number as written in `lang` ("12,000", "3.5", "007", "1984") in words, or None."""
    point = "." if _base(lang) in _DECIMAL_POINT else ","
    whole, _, fraction = re.sub(rf"[^\d{point}]", "", number).partition(point)
    if fraction:
        return _say(float(f"{whole}.{fraction}"), lang)
    if len(whole) > 1 and whole.startswith("0"):  # a code such as "007": digit by digit
        digits = [_say(int(d), lang) for d in whole]
        return None if None in digits else " ".join(digits)
    value = int(whole)
    if to == "cardinal" and number.isdigit() and len(number) == 4 and 1100 <= value < 2100 \
            and _base(lang) in _YEAR_READING:
        to = "year"
    return _say(value, lang, to) or _say(value, lang)


def _say_number(match: re.Match, lang: str) -> str:
    found = match.groupdict()
    spoken = _spell(found["number"], lang, "ordinal" if found.get("ordinal") else "cardinal")
    if spoken is None:
        return match.group()
    if found.get("plural"):  # "1990s" -> nineteen nineties
        spoken = spoken[:-1] + "ies" if spoken.endswith("y") else spoken + "s"
    if found["percent"]:
        spoken += " " + _PERCENT.get(_base(lang), "%")
    return _spaced(spoken, match, lang)


def _spaced(spoken: str, match: re.Match, lang: str) -> str:
    """`spoken` with a space where it would touch a letter, digit or currency sign around the match ("5kg")."""
    if _base(lang) in _UNSPACED:
        return spoken
    before, after = match.string[match.start() - 1: match.start()], match.string[match.end(): match.end() + 1]
    joins = [bool(c) and (c.isalnum() or unicodedata.category(c) == "Sc") for c in (before, after)]
    return (" " if joins[0] else "") + spoken + (" " if joins[1] else "")


def _ends_sentence(match: re.Match) -> bool:
    """Whether the text after `match` starts a new sentence: the trailing period of "p.m." or "etc." is kept."""
    rest = match.string[match.end():].lstrip()
    return not rest or rest[0].isupper() or rest[0] in "\"'”’»)]"


# "9:30", "9:30 pm", "9 a.m.", and "8.50 pm" (a British time, not a decimal, when am/pm follows).
_MERIDIEM = r"[ap]\.?\s?m\b"
_TIME = re.compile(rf"(?<![\d.,:])(?P<hour>\d{{1,2}})(?!\d)(?::(?P<minute>[0-5]\d)(?![\d:])"
                   rf"|\.(?P<dot_minute>[0-5]\d)(?=\s?{_MERIDIEM}))?(?:\s?(?P<meridiem>{_MERIDIEM})(?P<dot>\.)?)?",
                   re.IGNORECASE)


def _say_time(match: re.Match, lang: str) -> str:
    hour, minute, meridiem = int(match["hour"]), match["minute"] or match["dot_minute"], match["meridiem"]
    if not (minute or meridiem) or hour > (12 if meridiem else 24):
        return match.group()
    english = _base(lang) == "en"
    spoken = [_say(hour, lang)]
    minutes = int(minute or 0)
    if minutes:
        spoken += ["oh", _say(minutes, lang)] if english and minutes < 10 else [_say(minutes, lang)]
    elif english and minute and not meridiem:
        spoken.append("o'clock" if 1 <= hour <= 12 else "hundred")
    if meridiem:
        spoken.append(" ".join(c for c in meridiem if c.isalpha()))  # "p m", "P M"
    if match["dot"] and _ends_sentence(match):
        spoken[-1] += "."
    return _spaced(" ".join(spoken), match, lang)


# --- English currency and abbreviations ----------------------------------------------------------------

_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
               "£": ("pound", "pounds", "penny", "pence"), "¥": ("yen", "yen", None, None)}
_CURRENCY = re.compile(rf"(?P<symbol>[$€£¥])\s?(?P<amount>{_number_pattern('en')})"
                       r"(?:\s(?P<scale>hundred|thousand|million|billion|trillion)\b)?")


def _say_money(match: re.Match) -> str:
    """Money in words: "$5" -> five dollars, "€3.50" -> three euros and fifty cents."""
    one, many, sub_one, sub_many = _CURRENCIES[match["symbol"]]
    amount = match["amount"]
    whole, _, fraction = amount.replace(",", "").partition(".")
    if match["scale"] or (fraction and (len(fraction) != 2 or not sub_one)):
        spoken = " ".join(filter(None, [_spell(amount, "en"), match["scale"], many]))
    else:
        units, cents = int(whole), int(fraction or 0)
        parts = [f"{_say(units, 'en')} {one if units == 1 else many}"] if units or not cents else []
        if cents:
            parts.append(f"{_say(cents, 'en')} {sub_one if cents == 1 else sub_many}")
        spoken = " and ".join(parts)
    return _spaced(spoken, match, "en")


# (pattern, expansions, whether the abbreviation's period may also end a sentence)
_ABBREVIATIONS = [
    # Before a capitalised word: a title ("Dr. Lee", British "Mr Lee", screenplay "DR. LEE", "St. Louis").
    (re.compile(r"\b(?:(Mr|Mrs|Ms|Dr|Prof|St)\.?|(MR|MRS|MS|DR|PROF|ST)\.)(?=\s+[A-Z])"),
     {"mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "prof": "professor", "st": "saint"}, False),
    # Anywhere else: a place ("Baker St.", "Mulholland Dr.").
    (re.compile(r"\b(St|Dr|ST|DR)\."), {"st": "street", "dr": "drive"}, True),
    (re.compile(r"\b(?i:(jr|sr)\.|(etc)\b\.?)"), {"jr": "junior", "sr": "senior", "etc": "et cetera"}, True),
    (re.compile(r"\b(?i:(vs))\b\.?"), {"vs": "versus"}, False),
    (re.compile(r"\b(No|NO)\.\s*(?=\d)"), {"no": "number "}, False),
]


def _expand_abbreviations(text: str) -> str:
    for pattern, expansions, may_end_sentence in _ABBREVIATIONS:
        text = pattern.sub(lambda m, e=expansions, end=may_end_sentence: _say_abbreviation(m, e, end), text)
    return re.sub(r"\s*&\s*", " and ", text)


def _say_abbreviation(match: re.Match, expansions: dict[str, str], may_end_sentence: bool) -> str:
    short = next(group for group in match.groups() if group)
    spoken = _in_case_of(short, expansions[short.lower()])
    if may_end_sentence and match.group().endswith(".") and _ends_sentence(match):
        spoken += "."
    return spoken


def _in_case_of(source: str, word: str) -> str:
    """`word` in the case of `source`: "DR" -> DOCTOR, "Dr" -> Doctor, "etc" -> et cetera."""
    if len(source) > 1 and source.isupper():
        return word.upper()
    return word[:1].upper() + word[1:] if source[:1].isupper() else word
