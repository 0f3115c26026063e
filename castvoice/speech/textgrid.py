"""Alignments as Praat TextGrids ("words" and "phones" tiers) and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from castvoice.atomic import atomic_path, write_text_atomic
from castvoice.errors import InputError
from castvoice.spans import Word


def write_textgrid(words: list[Word], path: Path, duration: float | None = None) -> None:
    """Write a long-format TextGrid; gaps between words or phones become empty intervals."""
    from praatio import textgrid

    end = max([duration or 0.0] + [w.end for w in words])
    grid = textgrid.Textgrid(0.0, end)
    tiers = {
        "words": [(w.start, w.end, w.text) for w in words],
        "phones": [(p.start, p.end, p.text) for w in words for p in w.phones],
    }
    for name, entries in tiers.items():
        grid.addTier(textgrid.IntervalTier(name, _rounded(entries), 0.0, end))
    with atomic_path(Path(path)) as tmp:
        grid.save(str(tmp), format="long_textgrid", includeBlankSpaces=True)


def read_textgrid(path: Path, words_tier: str = "words", phones_tier: str = "phones") -> list[Word]:
    """Labelled intervals of a TextGrid's word tier, each with the phones of the phone tier inside it."""
    from praatio import textgrid

    try:
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except Exception as error:  # praatio raises assorted errors for malformed files
        raise InputError(f"is not a readable TextGrid ({error})", path) from None
    if words_tier not in grid.tierNames:
        raise InputError(f"has no {words_tier!r} tier (tiers: {', '.join(grid.tierNames)})", path)
    words = [Word(e.start, e.end, e.label) for e in grid.getTier(words_tier).entries if e.label.strip()]
    if phones_tier in grid.tierNames:
        phones = [Word(e.start, e.end, e.label) for e in grid.getTier(phones_tier).entries if e.label.strip()]
        for word in words:
            word.phones = [p for p in phones if word.start <= (p.start + p.end) / 2 < word.end]
    return words


def alignment_json(words: list[Word]) -> dict:
    """{"words": [{"start", "end", "word", "phones": [{"start", "end", "phone"}]}]}, times in seconds."""
    return {
        "words": [
            {
                "start": round(w.start, 3),
                "end": round(w.end, 3),
                "word": w.text,
                "phones": [{"start": round(p.start, 3), "end": round(p.end, 3), "phone": p.text} for p in w.phones],
            }
            for w in words
        ]
    }


def write_alignment_json(words: list[Word], path: Path) -> None:
    """Write `alignment_json` to `path`."""
    write_text_atomic(Path(path), json.dumps(alignment_json(words), indent=1, ensure_ascii=False) + "\n")


def _rounded(entries: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Times to the millisecond, so that touching intervals share one boundary exactly."""
    return [(round(a, 3), round(b, 3), label) for a, b, label in entries if round(b, 3) > round(a, 3)]
