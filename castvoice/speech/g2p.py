"""Pronunciations for words missing from a dictionary: espeak-ng IPA mapped to CMU ARPAbet (no stress)."""

from __future__ import annotations

import threading
from functools import cache

# espeak-ng's IPA phones (as phonemizer separates them, stress marks removed) -> ARPAbet.
# Diphthongs, r-coloured vowels and syllabic consonants map to the phone sequence cmudict uses.
IPA_TO_ARPABET: dict[str, tuple[str, ...]] = {
    # vowels
    "i": ("IY",), "iː": ("IY",), "ɪ": ("IH",), "ᵻ": ("IH",), "e": ("EY",), "eɪ": ("EY",), "ɛ": ("EH",),
    "æ": ("AE",), "a": ("AE",), "ɑ": ("AA",), "ɑː": ("AA",), "ɒ": ("AA",), "ɔ": ("AO",), "ɔː": ("AO",),
    "o": ("OW",), "oː": ("OW",), "oʊ": ("OW",), "əʊ": ("OW",), "ʊ": ("UH",), "u": ("UW",), "uː": ("UW",),
    "ʌ": ("AH",), "ə": ("AH",), "ɐ": ("AH",), "ɜ": ("ER",), "ɜː": ("ER",), "ɝ": ("ER",), "ɚ": ("ER",),
    "aɪ": ("AY",), "aʊ": ("AW",), "ɔɪ": ("OY",), "iə": ("IY", "AH"), "aɪə": ("AY", "AH"),
    # r-coloured vowels
    "ɪɹ": ("IH", "R"), "ɛɹ": ("EH", "R"), "ɑːɹ": ("AA", "R"), "ɑɹ": ("AA", "R"), "ɔːɹ": ("AO", "R"),
    "ɔɹ": ("AO", "R"), "oːɹ": ("AO", "R"), "oɹ": ("AO", "R"), "ʊɹ": ("UH", "R"), "ɜːɹ": ("ER",),
    "aɪɚ": ("AY", "ER"), "aʊɚ": ("AW", "ER"),
    # syllabic consonants
    "əl": ("AH", "L"), "l̩": ("AH", "L"), "n̩": ("AH", "N"), "m̩": ("AH", "M"),
    # consonants; flaps and glottal stops are written T in cmudict ("butter", "button")
    "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "k": ("K",), "ɡ": ("G",), "g": ("G",),
    "f": ("F",), "v": ("V",), "θ": ("TH",), "ð": ("DH",), "s": ("S",), "z": ("Z",), "ʃ": ("SH",),
    "ʒ": ("ZH",), "h": ("HH",), "tʃ": ("CH",), "dʒ": ("JH",), "m": ("M",), "n": ("N",), "ŋ": ("NG",),
    "l": ("L",), "ɫ": ("L",), "ɹ": ("R",), "r": ("R",), "ɾ": ("T",), "ʔ": ("T",), "w": ("W",), "ʍ": ("W",),
    "j": ("Y",), "x": ("K",), "ç": ("HH",),
}
_MARKS = str.maketrans("", "", "ˈˌˑ͡‿")
_LONGEST = max(map(len, IPA_TO_ARPABET))
_espeak_lock = threading.Lock()  # espeak-ng keeps process-wide state


def ipa_to_arpabet(ipa_phones: list[str]) -> list[str]:
    """ARPAbet for espeak IPA phones; unknown phones are split into the longest known pieces, or dropped."""
    arpabet: list[str] = []
    for phone in ipa_phones:
        phone = phone.translate(_MARKS)
        while phone:
            for size in range(min(len(phone), _LONGEST), 0, -1):
                if phone[:size] in IPA_TO_ARPABET:
                    arpabet += IPA_TO_ARPABET[phone[:size]]
                    phone = phone[size:]
                    break
            else:
                phone = phone[1:]  # a length mark or symbol with no ARPAbet counterpart
    return arpabet


def arpabet(words: list[str], language: str = "en-us") -> list[list[str]]:
    """ARPAbet pronunciations for `words` from espeak-ng's letter-to-sound rules (may be empty for symbols)."""
    from phonemizer.separator import Separator

    if not words:
        return []
    with _espeak_lock:
        ipa = _espeak(language).phonemize(list(words), separator=Separator(phone=" ", word="|"), strip=True)
    return [ipa_to_arpabet(entry.replace("|", " ").split()) for entry in ipa]


@cache
def _espeak(language: str):
    """phonemizer's espeak-ng backend on the library and data that espeakng_loader ships."""
    import espeakng_loader
    from phonemizer.backend import EspeakBackend
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
    EspeakWrapper.set_library(espeakng_loader.get_library_path())
    return EspeakBackend(language, language_switch="remove-flags")
