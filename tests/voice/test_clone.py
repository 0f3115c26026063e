"""Cloning a real speaker within Kokoro's style space: real models, a small stock pool and a short budget."""

from __future__ import annotations

import numpy as np
import pytest

from castvoice.errors import CastvoiceError
from castvoice.media.decode import ANALYSIS_RATE, load_audio
from castvoice.voice.clone import SPEED_RANGE, WER_TOLERANCE, clone_kokoro
from castvoice.voice.stock import PROBE_SENTENCES, RESIDUAL_BOUND, TIMBRE_DIMS, compose_style, stock_voices
from conftest import EVAL

pytestmark = [
    pytest.mark.slow,  # Kokoro, Resemblyzer, CAM++ and Whisper base, on about 2 minutes of synthesis
    pytest.mark.skipif(not (EVAL / "cmu_arctic_pra").is_dir(), reason="../shared/eval is not present"),
]

SPEAKER = "cmu_arctic_us_aew"  # a US man, three clean utterances
VOICES = ("am_adam", "am_michael", "af_heart")  # a small stock pool keeps the first-time table short
BUDGET_SECONDS = 160.0  # the nearest voice, the placement, one blend generation and one residual generation
NEW_SENTENCE = "The juice of lemons makes fine punch, my grandmother always used to say."


@pytest.fixture(scope="module")
def references() -> list[np.ndarray]:
    return [load_audio(path) for path in sorted((EVAL / "cmu_arctic_pra").glob(f"{SPEAKER}_*.wav"))]


@pytest.fixture(scope="module")
def clone(references):
    stock_voices(names=VOICES)  # embedded and cached before the clock starts
    return clone_kokoro(references, budget_seconds=BUDGET_SECONDS, voices=VOICES)


def test_the_clone_is_a_convex_blend_of_stock_voices_with_a_bounded_timbre_residual(clone):
    assert clone.style.shape == (510, 1, 256) and clone.style.dtype == np.float32
    assert np.isfinite(clone.style).all()
    weights = np.array(list(clone.blend.values()))
    assert set(clone.blend) <= set(VOICES) and clone.nearest_voice in VOICES
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0, abs=1e-5)
    stock = stock_voices(names=VOICES)
    styles = stock.styles[[stock.names.index(name) for name in clone.blend]]
    np.testing.assert_allclose(clone.style, compose_style(styles, weights, clone.residual), atol=1e-5)
    # The residual moves the timbre half only, within RESIDUAL_BOUND deviations along each basis direction.
    assert clone.residual.shape == (TIMBRE_DIMS,)
    basis = stock.timbre_basis
    coefficients = np.linalg.lstsq(basis.T, clone.residual, rcond=None)[0]
    np.testing.assert_allclose(coefficients @ basis, clone.residual, atol=1e-4)
    assert np.abs(coefficients).max() <= RESIDUAL_BOUND + 1e-3
    assert SPEED_RANGE[0] <= clone.speed <= SPEED_RANGE[1]


def test_the_search_kept_the_nearest_voice_as_a_floor(clone):
    # How many generations fit the budget depends on the machine and its load; the nearest voice and the
    # placement are always tried.
    assert clone.trials >= 2
    # The selection score is the selection encoder's similarity less a pitch penalty, alike for both.
    assert clone.final.selection >= clone.nearest.selection
    assert clone.scores == clone.final.scores() and set(clone.scores) == {"resemblyzer", "campplus", "wer", "objective"}
    assert clone.scores["wer"] <= max(WER_TOLERANCE, clone.nearest.wer)
    assert clone.scores["objective"] >= clone.nearest.objective
    assert sum(w > 0 for w in clone.best_blend.weights.values()) >= 1 and not clone.best_blend.residual.any()


def test_the_clone_speaks_new_text_intelligibly(clone):
    import soxr

    from castvoice.speech.asr import get_asr
    from castvoice.text.metrics import count_word_errors
    from castvoice.voice.backends import get_tts

    tts = get_tts("kokoro")
    speech = soxr.resample(tts.synthesize(NEW_SENTENCE, clone.style, clone.speed), tts.sample_rate, ANALYSIS_RATE)
    errors, words = count_word_errors([NEW_SENTENCE], [get_asr("base").transcribe(speech, "en").text])
    assert errors / words <= 0.1


def test_the_search_stops_early_once_nothing_gains(monkeypatch):
    """A stock voice's own speech of the probe sentences: the nearest voice is the voice itself, so no blend or
    residual can gain the margin, and both stages stall long before the budget is spent (with small generations
    and a short stall, to keep the test short)."""
    import soxr

    from castvoice.voice import clone as search
    from castvoice.voice.backends import get_tts

    monkeypatch.setattr(search, "POPULATION", 4)
    monkeypatch.setattr(search, "STALL_GENERATIONS", 2)

    tts = get_tts("kokoro")
    own_speech = [soxr.resample(tts.synthesize(s, "af_heart", 1.0), tts.sample_rate, ANALYSIS_RATE)
                  for s in PROBE_SENTENCES]
    stock_voices(names=VOICES)
    budget = 600.0
    clone = clone_kokoro(own_speech, budget_seconds=budget, voices=VOICES)
    assert clone.nearest_voice == "af_heart" and clone.stopped_early and clone.seconds < budget * 0.75
    assert clone.trials >= 2 + search.STALL_GENERATIONS * search.POPULATION  # at least the residual stage's stalls
    assert clone.final.objective >= clone.nearest.objective


def test_cloning_refuses_missing_references_and_unknown_voices(references):
    with pytest.raises(CastvoiceError, match="reference"):
        clone_kokoro([], budget_seconds=10)
    with pytest.raises(CastvoiceError, match="not a en-us stock voice"):
        clone_kokoro(references, budget_seconds=10, voices=["zz_nobody"])
    with pytest.raises(CastvoiceError, match="supports"):
        clone_kokoro(references, budget_seconds=10, language="xx")
