"""Speaker embeddings and diarization on real recordings: LibriSpeech, a two-voice stereo file, AMI."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import soundfile as sf

from castvoice.media.decode import ANALYSIS_RATE, load_audio
from castvoice.app import tools
from castvoice.speech.diarize import diarize, diarize_file, overlapped_seconds
from castvoice.speech.formats import read_rttm
from castvoice.speech.embeddings import cosine_similarity, embed, embed_many
from castvoice.spans import Segment
from conftest import EVAL

pytestmark = [
    pytest.mark.slow,  # loads CAM++ and pyannote segmentation-3.0
    pytest.mark.skipif(not (EVAL / "resemblyzer_librispeech_test_other").is_dir(), reason="../shared/eval is not present"),
]

LIBRISPEECH = EVAL / "resemblyzer_librispeech_test_other"
STEREO = EVAL / "fasterwhisper_tests" / "stereo_diarization.wav"
AMI_CLIP = EVAL / "lhotse_ami_clip" / "ES2011a.Headset-0-40s-46s.wav"
AMI_CLIP_SPEECH = [(1.46, 2.82), (3.36, 4.36)]  # the two supervisions in cuts.json


def librispeech(speakers: int, per_speaker: int) -> tuple[list[str], list[np.ndarray]]:
    folders = sorted(p for p in LIBRISPEECH.iterdir() if p.is_dir())[:speakers]
    items = [(folder.name, path) for folder in folders for path in sorted(folder.glob("*.flac"))[:per_speaker]]
    return [speaker for speaker, _ in items], [load_audio(path) for _, path in items]


@pytest.fixture(scope="module")
def stereo() -> np.ndarray:
    audio, rate = sf.read(STEREO, dtype="float32")
    assert rate == ANALYSIS_RATE and audio.shape[1] == 2
    return audio


def test_campplus_scores_same_speaker_pairs_above_different_speaker_pairs():
    speakers, clips = librispeech(speakers=6, per_speaker=4)
    vectors = embed_many(clips)
    assert vectors.shape == (24, 192)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    scores = cosine_similarity(vectors, vectors)
    same = [scores[i, j] for i, j in itertools.combinations(range(len(clips)), 2) if speakers[i] == speakers[j]]
    different = [scores[i, j] for i, j in itertools.combinations(range(len(clips)), 2) if speakers[i] != speakers[j]]
    assert np.mean(same) > 0.6 > np.mean(different)
    correct = sum(s >= 0.5 for s in same) + sum(d < 0.5 for d in different)
    assert correct / (len(same) + len(different)) >= 0.95
    # One clip alone gives the same vector as in a batch.
    np.testing.assert_allclose(embed(clips[3]), vectors[3], atol=1e-4)


def test_resemblyzer_is_the_second_encoder():
    speakers, clips = librispeech(speakers=2, per_speaker=2)
    vectors = embed_many(clips, encoder="resemblyzer")
    assert vectors.shape == (4, 256)
    scores = cosine_similarity(vectors, vectors)
    assert min(scores[0, 1], scores[2, 3]) > max(scores[0, 2], scores[0, 3], scores[1, 2], scores[1, 3])


def channel_activity(channel: np.ndarray, frame: float = 0.05) -> np.ndarray:
    """Per 50 ms frame: is this channel's energy within 30 dB of its loudest frame?"""
    size = round(frame * ANALYSIS_RATE)
    rms = np.sqrt(np.mean(channel[:len(channel) // size * size].reshape(-1, size) ** 2, axis=1))
    return rms > rms.max() * 10 ** (-30 / 20)


def speaker_activity(turns, speaker: str, frames: int, frame: float = 0.05) -> np.ndarray:
    active = np.zeros(frames, bool)
    for turn in turns:
        if turn.speaker == speaker:
            active[round(turn.start / frame):round(turn.end / frame)] = True
    return active


def test_stereo_voices_mixed_to_mono_are_two_speakers_matching_each_channel(stereo):
    turns = diarize(stereo.mean(axis=1))
    labels = sorted({t.speaker for t in turns})
    assert labels == ["SPEAKER_00", "SPEAKER_01"]
    channels = [channel_activity(stereo[:, c]) for c in (0, 1)]
    found = [speaker_activity(turns, label, len(channels[0])) for label in labels]

    def agreement(speaker: np.ndarray, channel: np.ndarray) -> float:
        return 2 * (speaker & channel).sum() / (speaker.sum() + channel.sum())

    # The two speakers pair off with the two channels, each pair agreeing frame by frame.
    pairing = max([(0, 1), (1, 0)], key=lambda p: sum(agreement(f, channels[c]) for f, c in zip(found, p)))
    for speaker, channel in zip(found, pairing):
        assert agreement(speaker, channels[channel]) >= 0.8
    # The right voice speaks over the left one, so their turns share time.
    assert all(t.overlap for t in turns)


def test_num_speakers_sets_the_count(stereo):
    ami_clip = load_audio(AMI_CLIP)
    assert len({t.speaker for t in diarize(ami_clip, num_speakers=2)}) == 2
    assert len({t.speaker for t in diarize(stereo.mean(axis=1), num_speakers=1)}) == 1


def test_ami_clip_turns_cover_the_spoken_lines():
    audio = load_audio(AMI_CLIP)
    turns = diarize(audio)
    assert turns and turns[0].speaker == "SPEAKER_00"
    assert all(0 <= t.start < t.end <= len(audio) / ANALYSIS_RATE and t.end - t.start >= 0.3 for t in turns)
    assert turns == sorted(turns, key=lambda t: (t.start, t.end))
    spoken = sum(end - start for start, end in AMI_CLIP_SPEECH)
    covered = sum(max(0.0, min(end, t.end) - max(start, t.start)) for start, end in AMI_CLIP_SPEECH for t in turns)
    assert covered / spoken >= 0.9
    turn_time = sum(t.end - t.start for t in turns)
    assert turn_time <= spoken + 1.0  # little beyond the lines themselves


def test_silence_has_no_turns():
    rng = np.random.default_rng(0)
    assert diarize(np.zeros(3 * ANALYSIS_RATE, np.float32)) == []
    assert diarize(rng.normal(0, 1e-4, 5 * ANALYSIS_RATE).astype(np.float32)) == []
    assert diarize(np.zeros(0, np.float32)) == []


def test_long_file_is_diarized_in_blocks(tmp_path):
    """Two LibriSpeech readers taking turns for over two minutes, so the file spans two blocks."""
    speakers, clips = librispeech(speakers=2, per_speaker=10)
    order = [i for pair in zip(range(10), range(10, 20)) for i in pair]
    gap = np.zeros(ANALYSIS_RATE // 2, np.float32)
    pieces, truth, at = [], [], 0.0
    for index in order:
        pieces += [clips[index], gap]
        truth.append((at, at + len(clips[index]) / ANALYSIS_RATE, speakers[index]))
        at += (len(clips[index]) + len(gap)) / ANALYSIS_RATE
    assert at > 125
    path = tmp_path / "two_readers.flac"
    sf.write(path, np.concatenate(pieces), ANALYSIS_RATE)
    turns = diarize_file(path)
    assert len({t.speaker for t in turns}) == 2
    # Each utterance is found, carries one label, and each reader keeps one label throughout.
    labels_of: dict[str, set[str]] = {}
    for start, end, reader in truth:
        inside: dict[str, float] = {}
        for t in turns:
            inside[t.speaker] = inside.get(t.speaker, 0.0) + max(0.0, min(end, t.end) - max(start, t.start))
        label = max(inside, key=inside.get)
        assert sum(inside.values()) >= 0.5 * (end - start)
        assert inside[label] >= 0.95 * sum(inside.values())
        labels_of.setdefault(reader, set()).add(label)
    assert all(len(labels) == 1 for labels in labels_of.values())
    assert labels_of[speakers[0]] != labels_of[speakers[10]]
    # A turn runs on across the boundary between the first two blocks (at 120 s).
    assert any(t.start < 120 < t.end for t in turns)


def without_noise_at_the_ends(audio: np.ndarray, frame: float = 0.05) -> np.ndarray:
    """The recording from its first to its last 50 ms frame 8 dB or more above its noise floor."""
    size = round(frame * ANALYSIS_RATE)
    level = 20 * np.log10(np.sqrt(np.mean(audio[:len(audio) // size * size].reshape(-1, size) ** 2, axis=1)) + 1e-9)
    voiced = np.flatnonzero(level > np.percentile(level, 10) + 8)
    return audio[voiced[0] * size:(voiced[-1] + 1) * size]


def test_speaker_changes_fall_in_the_short_pauses_between_two_readers():
    """Two male LibriSpeech readers take 2-4 s turns with 0.2-0.3 s pauses between them, as in quick dialogue."""
    readers = ["2609", "3005"]
    clips = {r: [without_noise_at_the_ends(load_audio(p)) for p in sorted((LIBRISPEECH / r).glob("*.flac"))[:6]]
             for r in readers}
    turn_seconds, pause_seconds = itertools.cycle([3.0, 2.2, 3.8, 2.6]), itertools.cycle([0.2, 0.3, 0.25])
    pieces, truth, at = [], [], 0.0
    for index in range(6):
        for reader in readers:
            clip = clips[reader][index][:round(next(turn_seconds) * ANALYSIS_RATE)]
            pause = np.zeros(round(next(pause_seconds) * ANALYSIS_RATE), np.float32)
            pieces += [clip, pause]
            truth.append((at, at + len(clip) / ANALYSIS_RATE, reader))
            at += (len(clip) + len(pause)) / ANALYSIS_RATE
    turns = diarize(np.concatenate(pieces))
    assert len({t.speaker for t in turns}) == 2
    # Each reader keeps one label.
    label_of = {}
    for reader in readers:
        heard: dict[str, float] = {}
        for start, end, _ in (line for line in truth if line[2] == reader):
            for t in turns:
                heard[t.speaker] = heard.get(t.speaker, 0.0) + max(0.0, min(end, t.end) - max(start, t.start))
        label_of[reader] = max(heard, key=heard.get)
        assert heard[label_of[reader]] >= 0.9 * sum(heard.values())
    assert label_of[readers[0]] != label_of[readers[1]]
    # Every change of reader is found close to the middle of its pause.
    changes = [(a.end + b.start) / 2 for a, b in zip(turns, turns[1:]) if a.speaker != b.speaker]
    errors = np.array([min(abs(c - (before[1] + after[0]) / 2) for c in changes)
                       for before, after in zip(truth, truth[1:])])
    assert np.median(errors) <= 0.1
    assert (errors <= 0.15).mean() >= 0.8
    # Nobody is heard over anybody else.
    assert overlapped_seconds(turns) <= 0.5


def test_overlapped_seconds_counts_only_time_shared_by_two_turns():
    turns = [Segment(0.0, 4.0, speaker="A"), Segment(3.5, 6.0, speaker="B"), Segment(5.0, 9.0, speaker="A"),
             Segment(10.0, 12.0, speaker="B")]
    assert overlapped_seconds(turns) == pytest.approx(0.5 + 1.0)
    assert overlapped_seconds([Segment(0.0, 3.0), Segment(1.0, 2.0), Segment(1.5, 2.5)]) == pytest.approx(1.5)
    assert overlapped_seconds([]) == 0.0


def test_diarize_writes_rttm_that_reads_back_equal(tmp_path):
    out = tmp_path / "out" / "stereo.rttm"
    turns = tools.diarize(STEREO, out, num_speakers=None)
    assert out.read_text().startswith("SPEAKER stereo_diarization 1 ")
    assert read_rttm(out) == {"stereo_diarization": turns}
    assert [p.name for p in out.parent.iterdir()] == ["stereo.rttm"]
