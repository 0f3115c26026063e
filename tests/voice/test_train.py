"""A trained voice (`castvoice train-voice`): Kokoro fine-tuned on speech of a voice it does not have (the
embedded Piper voice), interrupted and resumed, then spoken, exported and imported like any voice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from castvoice.errors import CastvoiceError
from castvoice.voice.train.lora import adapter_arrays, add_adapters, load_adapter_arrays
from conftest import assert_heard, castvoice

TRAIN_SENTENCES = (
    "The old keeper climbed the stairs every night to light the lamp.",
    "Ships passed the rocks safely as long as the beam kept turning.",
    "One winter the oil ran out and the coast went dark for three days.",
    "Nobody in the village could say who had taken the spare barrels.",
    "The harbour master wrote a long letter to the council about it.",
    "A fisherman swore he had seen lights moving on the cliffs at midnight.",
    "By the end of the week a stranger arrived with a heavy wooden case.",
    "He paid for his room in silver coins and asked about the tides.",
    "The keeper's daughter followed him down to the beach one evening.",
    "What she found in the cave changed the story of the whole town.",
)
JUDGE_SENTENCES = (  # the target's own speech the judge compares with, not trained on
    "Rain drummed on the roof while the kettle began to sing.",
    "She counted the boats in the bay and found one missing.",
    "A gull landed on the railing and stared at the bread.",
)
NEW_TEXT = (  # what both voices say for the judge
    "A large size in stockings is hard to sell, even in the busy winter months.",
    "Four hours of steady work faced us, so we started early in the morning.",
)
MINUTES = 3.0


# -- adapters, on small real layers ------------------------------------------------------------------


def _layers() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(64, 64, 3, padding=1), nn.ConvTranspose1d(64, 64, 4, 2, padding=1),
                         nn.Conv1d(64, 1, 1), nn.Linear(32, 64))


def test_adapters_start_as_the_base_model_and_travel_as_arrays():
    model, x = _layers(), torch.randn(1, 64, 16)
    before = model[:3](x)
    names = add_adapters(model, "0") + add_adapters(model, "1") + add_adapters(model, "2")
    assert names == ["0", "1"]  # a 1-channel layer is too small for an adapter
    assert torch.allclose(model[:3](x), before)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        "0.parametrizations.weight.0.a", "0.parametrizations.weight.0.b",
        "1.parametrizations.weight.0.a", "1.parametrizations.weight.0.b"]
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn_like(p))
    adapted = model[:3](x)
    assert not torch.allclose(adapted, before)
    fresh = _layers()  # same base weights, no adapters yet
    load_adapter_arrays(fresh, adapter_arrays(model))
    assert torch.allclose(fresh[:3](x), adapted)
    load_adapter_arrays(fresh, {})  # a voice without adapters speaks as the base model
    assert torch.allclose(fresh[:3](x), before, atol=1e-6)
    wrong = {k: v[:, :3] for k, v in adapter_arrays(model).items()}
    with pytest.raises(ValueError, match="shapes"):
        load_adapter_arrays(fresh, wrong)


def test_a_budget_of_nothing_and_too_little_speech_are_refused_before_any_work(tmp_path):
    from castvoice.voice.train.data import Utterance
    from castvoice.voice.train.fit import train

    start = np.zeros((510, 1, 256), np.float32)
    with pytest.raises(CastvoiceError, match="0 minutes leaves no time"):
        train([Utterance(np.zeros(16_000 * 60, np.float32), 16_000, "words")], start, tmp_path, minutes=0)
    with pytest.raises(CastvoiceError, match=r"0\.1 minutes of clean speech found; training needs at least 0\.3"):
        train([Utterance(np.zeros(16_000 * 5, np.float32), 16_000, "words")], start, tmp_path, minutes=5)
    assert not any(tmp_path.iterdir())


# -- training on a voice Kokoro does not have --------------------------------------------------------


@pytest.fixture(scope="module")
def piper(tmp_path_factory) -> dict:
    """The Piper voice saying the training sentences (saved for the run in another process) and the judge's."""
    import soxr

    from castvoice.voice.backends import get_tts

    tts = get_tts("piper")
    said = {s: tts.synthesize(s, tts.voices()[0]) for s in TRAIN_SENTENCES + JUDGE_SENTENCES}
    folder = tmp_path_factory.mktemp("piper")
    np.savez(folder / "train.npz", *[said[s] for s in TRAIN_SENTENCES])
    return {"rate": tts.sample_rate, "train": [said[s] for s in TRAIN_SENTENCES], "file": folder / "train.npz",
            "judge": [soxr.resample(said[s], tts.sample_rate, 16_000).astype(np.float32) for s in JUDGE_SENTENCES]}


RUN = """
import sys
from pathlib import Path
import numpy as np, soxr
from castvoice.voice.engines.kokoro_trained import trained_profile_state
from castvoice.voice.train import Utterance
rate, sentences = int(sys.argv[3]), {sentences!r}
with np.load(sys.argv[1]) as saved:
    audio = [saved[f"arr_{{i}}"] for i in range(len(sentences))]
utterances = [Utterance(a, rate, s) for a, s in zip(audio, sentences)]
references = [soxr.resample(a, rate, 16_000) for a in audio[:5]]
trained_profile_state(utterances, references, {minutes}, "cpu", "en-us", Path(sys.argv[2]))
"""


@pytest.fixture(scope="module")
def trained(piper, tmp_path_factory) -> dict:
    """A voice trained in two runs: the first killed once it has checkpointed, the second resuming it."""
    import soxr

    from castvoice.voice.engines.kokoro_trained import trained_profile_state
    from castvoice.voice.train import Utterance

    folder = tmp_path_factory.mktemp("training")
    checkpoint = folder / "checkpoint.pt"
    script = RUN.format(sentences=TRAIN_SENTENCES, minutes=MINUTES)
    first = subprocess.Popen([sys.executable, "-c", script, str(piper["file"]), str(folder), str(piper["rate"])])
    try:
        deadline = time.monotonic() + 600
        while not checkpoint.is_file() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
        assert checkpoint.is_file(), "the first run wrote no checkpoint"
        time.sleep(20)  # some training past the first checkpoint, which the next one may or may not hold
    finally:
        first.kill()
        first.wait()
    killed_at = torch.load(checkpoint, weights_only=False)["state"]
    utterances = [Utterance(a, piper["rate"], s) for a, s in zip(piper["train"], TRAIN_SENTENCES)]
    references = [soxr.resample(a, piper["rate"], 16_000) for a in piper["train"][:5]]
    state, arrays, similarity = trained_profile_state(utterances, references, MINUTES, "cpu", "en-us", folder)
    return {"killed_at": killed_at, "state": state, "arrays": arrays, "similarity": similarity,
            "references": references, "folder": folder}


@pytest.mark.slow
def test_a_killed_run_resumes_where_it_stopped(trained):
    state = trained["state"]
    assert state["runs"] == 2
    assert state["train_seconds"] >= trained["killed_at"]["spent"] > 0
    assert state["steps"] >= trained["killed_at"]["steps"]
    assert not trained["folder"].exists()  # checkpoints go once the voice is made


@pytest.mark.slow
def test_the_trained_voice_is_closer_to_the_target_than_where_it_started(piper, trained):
    """Judged by an encoder training never uses, on text neither voice was trained or judged on."""
    import soxr

    from castvoice.speech.asr import get_asr
    from castvoice.speech.embeddings import get_encoder
    from castvoice.text.metrics import count_word_errors
    from castvoice.voice.backends import get_tts
    from castvoice.voice.engines.kokoro_trained import AdaptedVoice
    from castvoice.voice.stock import centroid

    def said(tts, voice) -> list[np.ndarray]:
        return [soxr.resample(tts.synthesize(t, voice), tts.sample_rate, 16_000).astype(np.float32) for t in NEW_TEXT]

    start = said(get_tts("kokoro"), trained["state"]["nearest"])
    voice = said(get_tts("kokoro-trained"), AdaptedVoice.of(trained["arrays"]))
    judge = get_encoder("voicefilter")
    target = centroid(judge.embed_many(piper["judge"]))
    before, after = (float(centroid(judge.embed_many(clips)) @ target) for clips in (start, voice))
    assert after > before, f"similarity to the target {before:.3f} before training, {after:.3f} after"
    errors, words = count_word_errors(list(NEW_TEXT), [get_asr("base").transcribe(c, "en").text for c in voice])
    assert errors / words <= 0.1
    assert trained["state"]["held_out_similarity"] >= trained["state"]["held_out_similarity_start"]


@pytest.mark.slow
def test_a_trained_voice_speaks_travels_and_refuses_another_kokoro(trained, tmp_path, monkeypatch):
    from castvoice.speech.asr import get_asr
    from castvoice.media.decode import load_audio
    from castvoice.voice.profile import VoiceProfile, load_profile, save_profile

    library = tmp_path / "library"
    monkeypatch.setenv("CASTVOICE_VOICES", str(library))
    monkeypatch.chdir(tmp_path)
    profile = VoiceProfile("Joe", "kokoro-trained", trained["state"], trained["arrays"], trained["references"],
                           trained["similarity"], "test")
    path = save_profile(profile, library)
    assert path.stat().st_size < 30e6
    text = "The lamp is lit again. Ships can come home tonight."
    castvoice("speak", "--voice", "Joe", text, "-o", tmp_path / "line.wav")
    assert_heard(get_asr("base").transcribe(load_audio(tmp_path / "line.wav")).text, text)

    castvoice("voice", "export", "Joe", tmp_path / "joe.cvoice")
    castvoice("voice", "import", tmp_path / "joe.cvoice", "--name", "Joe Again")
    listed = {v["name"]: v for v in json.loads(castvoice("voice", "list", "--json").stdout)}
    assert listed["Joe Again"]["backend"] == "kokoro-trained"
    again = load_profile(Path(listed["Joe Again"]["file"]))
    assert sorted(again.arrays) == sorted(trained["arrays"])
    np.testing.assert_array_equal(again.arrays["style"], trained["arrays"]["style"])

    other = VoiceProfile("Old Joe", "kokoro-trained", {**trained["state"], "model": "000000000000"},
                         trained["arrays"], [], {}, "test")
    save_profile(other, library)
    refused = castvoice("speak", "--voice", "Old Joe", text, "-o", tmp_path / "old.wav", check=False)
    assert refused.returncode == 2 and "trained on Kokoro 000000000000" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "old.wav").exists()


@pytest.mark.slow
def test_durations_aligned_to_another_voice_land_near_its_own():
    from castvoice.assets import kokoro_voices
    from castvoice.voice.kokoro_torch.model import kokoro_torch, phonemize, style_row, tokens
    from castvoice.voice.train.data import FRAME, align

    model, packs = kokoro_torch(), np.load(kokoro_voices())
    ids = tokens(phonemize("Glue the sheet to the dark blue background before the paint is dry."))
    with torch.no_grad():
        target = model(ids, style_row(packs["am_michael"], ids), speed=0.9)
        spoken = model(ids, style_row(packs["af_heart"], ids))
    found = align(spoken.audio.numpy(), spoken.durations.numpy(), target.audio.numpy())
    assert found.min() >= 1 and found.sum() == len(target.audio) // FRAME
    assert np.abs(np.cumsum(found) - np.cumsum(target.durations.numpy())).mean() < 3


# -- the command, on the demo film's characters ------------------------------------------------------


@pytest.mark.slow
def test_train_voice_refuses_bad_input_and_falls_back_with_too_little_speech(demo_workspace, tmp_path):
    from castvoice.app import dataset, open_workspace
    from castvoice.app.voices import train_voice
    from castvoice.workspace import copy_workspace

    nothing = castvoice("train-voice", "Diane", "--minutes", "0", "-w", demo_workspace, check=False)
    assert nothing.returncode == 2 and "0 minutes leaves no time" in nothing.stderr
    nobody = castvoice("train-voice", "Nobody", "-w", demo_workspace, check=False)
    assert nobody.returncode == 2 and len(nobody.stderr.strip().splitlines()) == 1

    ws = open_workspace(copy_workspace(demo_workspace, tmp_path / "ws"))
    clips = sorted((c for c in dataset.clean(ws, "Diane") if c.kept), key=lambda c: -c.duration)
    kept = 0.0
    for clip in clips:  # keep a few seconds, enough for a clone, too little to train on
        if kept > 4.0:
            dataset.set_override(ws, clip.id, "exclude")
        kept += clip.duration
    profile, path, note = train_voice(ws.root, "Diane", minutes=0.3)
    assert profile.backend == "kokoro" and path.is_file()
    assert note is not None and "minutes of clean, matching speech and training needs 0.3" in note
