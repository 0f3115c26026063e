"""Voice profiles (portable .cvoice files) and `castvoice speak`, on real models."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from castvoice.errors import CastvoiceError
from castvoice.media.decode import load_audio
from castvoice.voice.profile import FORMAT_VERSION, VoiceProfile, load_profile, save_profile
from conftest import EVAL, assert_heard, castvoice

JFK = EVAL / "whisper_jfk" / "jfk.flac"
pytestmark = pytest.mark.skipif(not JFK.is_file(), reason="../shared/eval is not present")


@pytest.fixture
def library(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "library"
    monkeypatch.setenv("CASTVOICE_VOICES", str(folder))
    monkeypatch.chdir(tmp_path)  # no workspace here: profiles go to the library
    return folder


def _stock_profile(name: str = "Heart") -> VoiceProfile:
    from castvoice.voice.backends import get_tts

    style = get_tts("kokoro").style("af_heart")
    return VoiceProfile(name, "kokoro", {"speed": 1.1, "nearest": "af_heart", "language": "en-us"},
                        {"style": style}, [load_audio(JFK)[:48_000]], {"campplus": 0.42}, "test")


def test_a_profile_round_trips_through_its_file(tmp_path):
    profile = _stock_profile()
    path = save_profile(profile, tmp_path)
    again = load_profile(path)
    assert (again.name, again.backend, again.state, again.similarity) == (profile.name, "kokoro", profile.state, {"campplus": 0.42})
    np.testing.assert_array_equal(again.arrays["style"], profile.arrays["style"])
    assert len(again.references) == 1 and len(again.references[0]) == 48_000
    with pytest.raises(CastvoiceError, match="already exists"):
        save_profile(profile, tmp_path)
    assert load_profile(path).created == profile.created  # the refused save left it alone


def test_corrupted_and_newer_profiles_are_refused_clearly(tmp_path):
    path = save_profile(_stock_profile(), tmp_path)
    newer = tmp_path / "newer.cvoice"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(newer, "w") as target:
        for item in source.namelist():
            data = source.read(item)
            if item == "profile.json":
                data = json.dumps({**json.loads(data), "format": FORMAT_VERSION + 1}).encode()
            target.writestr(item, data)
    with pytest.raises(CastvoiceError, match="newer than this castvoice"):
        load_profile(newer)
    broken = tmp_path / "broken.cvoice"
    broken.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(CastvoiceError, match="not a readable castvoice voice profile"):
        load_profile(broken)


def test_speak_streams_a_kokoro_profile_into_a_wav(library, tmp_path):
    save_profile(_stock_profile(), library)
    out = tmp_path / "line.wav"
    done = castvoice("speak", "--voice", "heart", "The lamp is lit again. Ships can come home tonight.", "-o", out)
    info = sf.info(out)
    assert info.samplerate == 24_000 and info.channels == 1 and 2.0 < info.duration < 8.0
    assert "first audio after" in done.stdout
    from castvoice.speech.asr import get_asr

    assert_heard(get_asr("base").transcribe(load_audio(out)).text, "The lamp is lit again. Ships can come home tonight.")


def test_voice_cli_lists_exports_imports_and_refuses_bad_input(library, tmp_path):
    save_profile(_stock_profile(), library)
    listed = json.loads(castvoice("voice", "list", "--json").stdout)
    assert [(v["name"], v["backend"], v["references"]) for v in listed] == [("Heart", "kokoro", 1)]
    exported = tmp_path / "heart.cvoice"
    castvoice("voice", "export", "Heart", exported)
    again = castvoice("voice", "import", exported, check=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    castvoice("voice", "import", exported, "--replace")
    unknown = castvoice("speak", "--voice", "nobody", "hello", "-o", tmp_path / "x.wav", check=False)
    assert unknown.returncode == 2 and "no voice named 'nobody'" in unknown.stderr and not (tmp_path / "x.wav").exists()
    empty = castvoice("speak", "--voice", "Heart", "   ", "-o", tmp_path / "y.wav", check=False)
    assert empty.returncode == 2 and not (tmp_path / "y.wav").exists()
    junk = tmp_path / "junk.cvoice"
    junk.write_text("not a zip")
    bad = castvoice("voice", "import", junk, check=False)
    assert bad.returncode == 2 and "not a readable castvoice voice profile" in bad.stderr


def test_voice_import_takes_another_name(library, tmp_path):
    save_profile(_stock_profile(), library)
    exported = tmp_path / "heart.cvoice"
    castvoice("voice", "export", "Heart", exported)
    taken = castvoice("voice", "import", exported, check=False)
    assert taken.returncode == 2 and "--name" in taken.stderr
    castvoice("voice", "import", exported, "--name", "Heart Again")
    listed = {v["name"]: v for v in json.loads(castvoice("voice", "list", "--json").stdout)}
    assert set(listed) == {"Heart", "Heart Again"} and listed["Heart Again"]["file"].endswith("heart_again.cvoice")
    np.testing.assert_array_equal(load_profile(Path(listed["Heart Again"]["file"])).arrays["style"],
                                  load_profile(Path(listed["Heart"]["file"])).arrays["style"])
    nameless = castvoice("voice", "import", exported, "--name", "?!", check=False)
    assert nameless.returncode == 2 and "needs a letter or a digit" in nameless.stderr


def test_voice_create_reports_its_search_and_what_it_ran(library, tmp_path):
    """The search reports progress as JSON lines, and the profile records the trials and whether it stopped early."""
    reference = EVAL / "rtvc_samples" / "p240_00000.mp3"
    done = castvoice("--progress", "json", "voice", "create", "Visitor", "--from", reference, "--budget", "0.5")
    events = [json.loads(line)["progress"] for line in done.stderr.splitlines() if line.startswith('{"progress"')]
    search = [e for e in events if e["task"] == "voice search"]
    assert search[0]["total"] == 30.0 and search[-1]["finished"] and "voices tried" in search[-1]["note"]
    state = load_profile(library / "visitor.cvoice").state
    assert state["trials"] >= 2 and isinstance(state["stopped_early"], bool) and state["budget_seconds"] == 30.0
    assert state["search_seconds"] >= search[-1]["done"] > 0
