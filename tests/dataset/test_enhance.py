"""The clip cleaning chain on real speech (../shared/eval) mixed with generated pink noise."""

from __future__ import annotations

import json

import numpy as np
import pyloudnorm
import pytest

from castvoice.bench.clean import mix_at_snr, pink_noise, si_sdr
from castvoice.dataset.enhance import EnhanceSettings, enhance
from castvoice.errors import CastvoiceError
from castvoice.media.decode import ANALYSIS_RATE, load_audio
from conftest import EVAL

LJ = EVAL / "ljspeech_coqui" / "LJ001-0001.flac"  # 9.7 s, speech from its first 20 ms
RATE = ANALYSIS_RATE
pytestmark = [
    pytest.mark.slow,  # runs DeepFilterNet3, RNNoise and Silero VAD
    pytest.mark.skipif(not LJ.is_file(), reason="../shared/eval is not present"),
]
ALL_OFF = EnhanceSettings(denoise="none", remove_dc=False, loudness=None, peak_db=None, sample_rate=None,
                        max_silence=None)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load_audio(LJ)


@pytest.fixture(scope="module")
def noisy(speech) -> np.ndarray:
    return mix_at_snr(speech, pink_noise(len(speech), np.random.default_rng(7)), 5.0)


@pytest.fixture(scope="module", params=["dfn3", "rnnoise"])
def denoised(request, noisy):
    """The default chain with one denoiser, trimming off so the output lines up with the input."""
    return request.param, enhance(noisy, RATE, EnhanceSettings(denoise=request.param, max_silence=None))


def test_denoising_raises_si_sdr(speech, noisy, denoised):
    name, cleaned = denoised
    assert len(cleaned.audio) == len(noisy) and cleaned.rate == RATE and cleaned.offset == 0.0
    before, after = si_sdr(speech, noisy), si_sdr(speech, cleaned.audio)
    # A delay left uncompensated (RNNoise lags 20 ms) would drive SI-SDR below the input's.
    assert after > before + 4.0, f"{name}: {before:.1f} -> {after:.1f} dB"
    # DFN3 mutes much of a clip's first second unless it is given a lead-in.
    first_before, first_after = si_sdr(speech[:RATE], noisy[:RATE]), si_sdr(speech[:RATE], cleaned.audio[:RATE])
    assert first_after > first_before + 2.0, f"{name}, first second: {first_before:.1f} -> {first_after:.1f} dB"


def test_default_chain_reaches_loudness_under_the_peak_ceiling(denoised):
    name, cleaned = denoised
    loudness = pyloudnorm.Meter(RATE).integrated_loudness(cleaned.audio)
    assert abs(loudness - (-23.0)) <= 0.5
    assert np.max(np.abs(cleaned.audio)) <= 10 ** (-1.0 / 20)
    assert [step["name"] for step in cleaned.steps] == ["dc_removal", "denoise", "loudness", "peak_ceiling"]
    assert cleaned.steps[1]["backend"] == name
    json.dumps(cleaned.steps, allow_nan=False)  # plain JSON for the workspace


def test_peak_ceiling_lowers_a_loud_clip_and_holds_after_resampling(speech):
    ceiling = 10 ** (-1.0 / 20)
    loud = enhance(speech, RATE, EnhanceSettings(denoise="none", loudness=-8.0, max_silence=None))
    step = loud.steps[-1]
    assert step["name"] == "peak_ceiling" and step["gain_db"] < 0
    assert np.max(np.abs(loud.audio)) <= ceiling
    resampled = enhance(speech, RATE, EnhanceSettings(denoise="none", loudness=-8.0, max_silence=None, sample_rate=44_100))
    assert np.max(np.abs(resampled.audio)) <= ceiling


def test_dc_offset_is_removed(speech):
    cleaned = enhance(speech + 0.1, RATE, EnhanceSettings(denoise="none", loudness=None, peak_db=None, max_silence=None))
    assert abs(float(np.mean(cleaned.audio))) < 1e-5
    np.testing.assert_allclose(cleaned.audio, speech - speech.mean(), atol=1e-5)
    assert cleaned.steps[0] == {"name": "dc_removal", "removed_offset": pytest.approx(0.1 + speech.mean(), abs=1e-6)}


@pytest.mark.parametrize("words", [[(1.0, 1.6), (2.1, 3.0)], [(0.05, 0.5), (9.2, 9.6)]])
def test_trimming_keeps_the_words_and_at_most_max_silence(speech, words):
    settings = EnhanceSettings(denoise="none", remove_dc=False, loudness=None, peak_db=None, max_silence=0.2)
    cleaned = enhance(speech, RATE, settings, words)
    start, end = cleaned.offset, cleaned.offset + len(cleaned.audio) / RATE
    first_word, last_word = words[0][0], words[-1][1]
    assert start <= first_word and end >= min(last_word, len(speech) / RATE)  # no word cut
    assert first_word - start <= 0.2 + 1 / RATE and end - last_word <= 0.2 + 1 / RATE
    first = round(start * RATE)
    np.testing.assert_array_equal(cleaned.audio, speech[first : first + len(cleaned.audio)])


def test_trimming_without_words_keeps_the_speech_and_cuts_the_hiss_around_it(speech):
    # Where LJ Speech is audible: 10 ms frames within 35 dB of the loudest.
    frames = 10 * np.log10(np.mean(speech[: len(speech) // 160 * 160].reshape(-1, 160) ** 2, axis=1) + 1e-12)
    audible = np.flatnonzero(frames > frames.max() - 35)
    onset, offset = 1.0 + audible[0] / 100, 1.0 + (audible[-1] + 1) / 100
    hiss = 0.001 * pink_noise(RATE, np.random.default_rng(3))
    padded = np.concatenate([hiss, speech, hiss])  # 1 s of hiss each side
    cleaned = enhance(padded, RATE, EnhanceSettings(denoise="none", loudness=None, peak_db=None, max_silence=0.2))
    start, end = cleaned.offset, cleaned.offset + len(cleaned.audio) / RATE
    assert start <= onset and end >= offset
    # At most max_silence, the 0.1 s VAD pad and a 32 ms VAD frame of hiss before the speech; after it,
    # also the ~0.15 s Silero holds on for once speech ends.
    assert onset - start <= 0.2 + 0.1 + 0.032 and end - offset <= 0.2 + 0.1 + 0.032 + 0.2


def test_no_speech_no_trim():
    hiss = 0.01 * pink_noise(2 * RATE, np.random.default_rng(4))
    cleaned = enhance(hiss, RATE, EnhanceSettings(denoise="none"))
    assert cleaned.offset == 0.0 and len(cleaned.audio) == len(hiss)
    assert cleaned.steps[2] == {"name": "trim", "speech_from": "vad", "max_silence": 0.2,
                                "note": "no speech found: not trimmed"}


def test_resampling_gives_the_rate_and_length_asked(speech):
    for rate in (22_050, 48_000):
        cleaned = enhance(speech, RATE, EnhanceSettings(denoise="none", max_silence=None, sample_rate=rate))
        assert cleaned.rate == rate and cleaned.audio.dtype == np.float32
        assert abs(len(cleaned.audio) - len(speech) * rate / RATE) <= 1


@pytest.mark.parametrize("denoise", ["dfn3", "rnnoise"])
def test_silence_and_very_short_clips_do_not_crash(denoise):
    for audio in (np.zeros(2 * RATE, np.float32), 0.05 * pink_noise(RATE // 5, np.random.default_rng(5))):
        cleaned = enhance(audio, RATE, EnhanceSettings(denoise=denoise))
        assert len(cleaned.audio) == len(audio) and cleaned.offset == 0.0
        assert np.all(np.isfinite(cleaned.audio)) and np.max(np.abs(cleaned.audio)) <= 1.0
        loudness = next(step for step in cleaned.steps if step["name"] == "loudness")
        assert "gain_db" not in loudness and loudness["note"]
        json.dumps(cleaned.steps, allow_nan=False)


def test_every_step_off_returns_the_input_unchanged(noisy):
    cleaned = enhance(noisy, RATE, ALL_OFF)
    np.testing.assert_array_equal(cleaned.audio, noisy)
    assert cleaned.rate == RATE and cleaned.offset == 0.0


def test_unknown_denoiser_is_a_user_error(speech):
    with pytest.raises(CastvoiceError, match="unknown denoiser"):
        enhance(speech, RATE, EnhanceSettings(denoise="demucs"))


def test_clean_many_matches_clean_in_order_on_worker_processes(speech, noisy):
    from castvoice.dataset.enhance import enhance_many

    settings = EnhanceSettings(denoise="rnnoise")
    clips = [(noisy[: RATE * seconds], RATE, None) for seconds in (2, 5, 3)]
    alone = [enhance(audio, rate, settings, words) for audio, rate, words in clips]
    together = list(enhance_many(iter(clips), settings, workers=2))
    assert [len(c.audio) for c in together] == [len(c.audio) for c in alone]
    for a, b in zip(alone, together):
        np.testing.assert_allclose(a.audio, b.audio, atol=1e-6)
        assert a.steps == b.steps
