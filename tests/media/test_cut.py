"""Clip boundaries move outward to quiet points, on synthetic speech-like bursts over noise."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from castvoice.media.cut import frame_db, plan_cuts, write_clip
from castvoice.spans import Span

RATE = 16_000


def _utterance(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Syllable-like bursts (modulated harmonics) with 40 ms closures between them."""
    out, t = [], 0.0
    while t < seconds:
        n = int(min(0.22, seconds - t) * RATE)
        phase = np.arange(n) / RATE
        syllable = sum(np.sin(2 * np.pi * f * phase) for f in rng.uniform(120, 900, 4))
        out.append(0.2 * syllable * np.hanning(n) ** 0.3)
        out.append(np.zeros(int(0.04 * RATE)))
        t += 0.26
    return np.concatenate(out)[: int(seconds * RATE)]


@pytest.fixture
def scene(tmp_path):
    """Three utterances over a noise floor 40 dB down; returns (analysis path, true spans)."""
    rng = np.random.default_rng(3)
    audio = rng.normal(0, 0.002, 12 * RATE).astype(np.float32)
    truth = [Span(1.0, 3.0), Span(3.7, 5.5), Span(6.2, 8.0)]
    for span in truth:
        speech = _utterance(span.end - span.start, rng)
        audio[int(span.start * RATE) : int(span.start * RATE) + len(speech)] += speech
    path = tmp_path / "analysis.wav"
    sf.write(path, audio, RATE, subtype="FLOAT")
    return path, truth


def test_late_starts_and_early_ends_move_out_to_the_pause(scene):
    path, truth = scene
    cues = [Span(1.15, 2.9), Span(3.85, 5.4), Span(6.3, 7.9)]  # each cue 100-150 ms inside the speech
    cuts = plan_cuts(cues, path, 12.0)
    for cut, spoken in zip(cuts.values(), truth):
        assert cut.start <= spoken.start and cut.end >= spoken.end
        assert spoken.start - cut.start <= 0.25 and cut.end - spoken.end <= 0.25


def test_cues_already_in_silence_stay_close_and_never_cross_a_neighbour(scene):
    path, truth = scene
    cues = [Span(0.8, 3.2), Span(3.4, 5.7), Span(5.9, 8.3)]  # generous cues, 0.2 s apart
    cuts = plan_cuts(cues, path, 12.0)
    for i, (cut, cue) in enumerate(zip(cuts.values(), cues)):
        assert cue.start - 0.25 <= cut.start <= cue.start
        assert cue.end <= cut.end <= cue.end + 0.25
        if i:
            assert cut.start >= cues[i - 1].end
        if i + 1 < len(cues):
            assert cut.end <= cues[i + 1].start


def test_shared_boundary_moves_into_the_gap_for_both_lines(scene):
    path, truth = scene
    boundary = truth[1].start + 0.12  # a dialogue-dash split that landed inside the second utterance
    cues = [Span(truth[0].start, boundary), Span(boundary, truth[1].end)]
    cuts = plan_cuts(cues + [Span(6.2, 8.0)], path, 12.0)
    assert cuts[0].end == cuts[1].start
    assert truth[0].end <= cuts[0].end <= truth[1].start


def test_wanted_lines_only(scene):
    path, _ = scene
    cues = [Span(1.15, 2.9), Span(3.85, 5.4), Span(6.3, 7.9)]
    assert set(plan_cuts(cues, path, 12.0, wanted=[1])) == {1}


def test_write_clip_is_sample_exact(tmp_path):
    rate = 44_100
    source = tmp_path / "source.flac"
    ramp = np.linspace(-0.5, 0.5, 3 * rate, dtype=np.float32)
    sf.write(source, ramp, rate, subtype="PCM_24")
    write_clip(source, Span(1.0, 1.5), tmp_path / "clip.wav")
    clip, clip_rate = sf.read(tmp_path / "clip.wav", dtype="float32")
    assert clip_rate == rate and len(clip) == rate // 2
    np.testing.assert_allclose(clip, ramp[rate : rate + rate // 2], atol=1 / 2**15)


def test_frame_db_levels():
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)
    levels = frame_db(tone.astype(np.float32))
    assert len(levels) == 100
    assert levels.mean() == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.2)
