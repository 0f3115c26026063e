"""Word and character error rates between what was meant and what was heard, after the same
normalisation on both sides (`scoring_words`: numbers spelled out, case and punctuation dropped)."""

from __future__ import annotations

from castvoice.text.normalize import scoring_words


def _scored(text: str, language: str) -> str:
    return " ".join(scoring_words(text, language))


def count_word_errors(references: list[str], hypotheses: list[str], language: str = "en") -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words) over all pairs."""
    import jiwer

    refs = [_scored(r, language) for r in references]
    hyps = [_scored(h, language) for h in hypotheses]
    scored = jiwer.process_words(refs, hyps)
    return scored.substitutions + scored.deletions + scored.insertions, sum(len(r.split()) for r in refs)


def word_error_rate(reference: str, hypothesis: str, language: str = "en") -> float | None:
    """WER of one pair; None when the reference has no words."""
    errors, words = count_word_errors([reference], [hypothesis], language)
    return errors / words if words else None


def character_error_rate(reference: str, hypothesis: str, language: str = "en") -> float | None:
    """CER of one pair (at most 1.0); None when the reference has no words."""
    import jiwer

    expected = _scored(reference, language)
    if not expected:
        return None
    return min(1.0, float(jiwer.cer(expected, _scored(hypothesis, language))))
