"""The learned style encoder: its training data, the shipped weights, and placing a timbre in the style space."""

from __future__ import annotations

import numpy as np
import pytest

from castvoice.voice.stock import RESIDUAL_BOUND, stock_voices
from castvoice.voice.style_encoder import StyleEncoder, generate, load_samples, place, voice_timbre

pytestmark = pytest.mark.slow  # Kokoro, Resemblyzer and CAM++


@pytest.fixture(scope="module")
def stock():
    return stock_voices()


def test_a_stock_voice_is_placed_on_itself(stock):
    timbres = voice_timbre(stock.styles)
    for index in (0, len(stock.names) // 2, len(stock.names) - 1):
        weights, coefficients = place(timbres[index], stock)
        assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0)
        assert weights[index] > 0.9, dict(zip(stock.names, weights.round(2)))
        assert np.abs(RESIDUAL_BOUND * np.tanh(coefficients)).max() < 0.1


def test_a_timbre_beyond_the_stock_voices_gets_a_bounded_residual(stock):
    timbres = voice_timbre(stock.styles)
    far = timbres.mean(axis=0) + 10 * (timbres[0] - timbres.mean(axis=0))
    weights, coefficients = place(far, stock)
    assert weights.sum() == pytest.approx(1.0) and np.isfinite(coefficients).all()
    assert np.abs(RESIDUAL_BOUND * np.tanh(coefficients)).max() <= RESIDUAL_BOUND


def test_the_shipped_encoder_puts_each_stock_voice_nearer_its_own_timbre_than_the_average(stock):
    encoder = StyleEncoder.load()
    timbres = voice_timbre(stock.styles)
    predicted = np.stack([encoder.timbre({name: stock.embeddings[name][i] for name in stock.embeddings})
                          for i in range(len(stock.names))])
    own = np.linalg.norm(predicted - timbres, axis=1)
    average = np.linalg.norm(timbres.mean(axis=0) - timbres, axis=1)
    assert np.mean(own < average) >= 0.8, (own.round(2), average.round(2))


def test_training_data_is_written_in_shards_and_a_rerun_keeps_them(tmp_path):
    generate(tmp_path, count=3, seed=5, shard=2)
    shards = sorted(tmp_path.glob("samples-*.npz"))
    assert len(shards) == 2
    features, timbres = load_samples(tmp_path)
    assert features.shape[0] == timbres.shape[0] == 3 and np.isfinite(features).all()
    kept = shards[0].stat().st_mtime_ns
    shards[1].unlink()  # as if the run had been killed before its last shard
    generate(tmp_path, count=3, seed=5, shard=2)
    assert shards[0].stat().st_mtime_ns == kept
    again_features, again_timbres = load_samples(tmp_path)
    np.testing.assert_allclose(again_timbres, timbres, atol=1e-6)
    np.testing.assert_allclose(again_features, features, atol=1e-4)
