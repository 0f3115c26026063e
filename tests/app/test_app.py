"""The application layer called directly, as the HTTP service and the GUI call it: progress through the
callback, the workspace's characters, lines and speakers, a character's dataset, voices and a chat."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from castvoice.app import chat, dataset, lines, open_workspace, speakers, voices
from castvoice.app.ingest import ingest
from castvoice.errors import CastvoiceError
from castvoice.progress import ProgressEvent, reporting
from castvoice.speech.emotion import EMOTIONS
from castvoice.workspace import copy_workspace
from conftest import EVAL, assert_heard

JFK = EVAL / "whisper_jfk" / "jfk.flac"
pytestmark = pytest.mark.slow  # the demo film and real models


def test_long_work_reports_to_the_callback_of_whoever_started_it(demo, tmp_path):
    events: list[ProgressEvent] = []
    with reporting(events.append):
        ingest(demo / "demo.mp4", demo / "demo.srt", demo / "demo.screenplay.txt", workspace=tmp_path / "ws",
               text_only=True)
    tasks = {e.task for e in events}
    assert {"ingest", "decoding audio"} <= tasks
    for task in tasks:
        mine = [e for e in events if e.task == task]
        assert mine[-1].finished and not any(e.finished for e in mine[:-1])
        assert all(a.done <= b.done for a, b in zip(mine, mine[1:]))  # never goes backwards
    stages = [e for e in events if e.task == "ingest"]
    assert stages[-1].done == stages[-1].total == 4  # media, lines, screenplay, attribution
    # Outside the block nothing is reported any more.
    ingest(demo / "demo.mp4", demo / "demo.srt", workspace=tmp_path / "ws2", text_only=True)
    assert len([e for e in events if e.task == "ingest"]) == len(stages)


def test_characters_lines_and_speakers_come_from_the_workspace(demo_workspace):
    ws = open_workspace(demo_workspace)
    named = {c.name: c for c in lines.characters(ws) if c.name}
    assert set(named) == {"Diane", "Marcus", "Oliver"}
    diane = lines.lines(ws, "DIANE")  # any case
    assert len(diane) == named["Diane"].lines and all(line.character == "Diane" for line in diane)
    assert [line.start for line in diane] == sorted(line.start for line in diane)
    with pytest.raises(CastvoiceError, match="no character named 'Nobody'.*Diane"):
        lines.lines(ws, "Nobody")
    found = speakers.speakers(ws)
    assert len(found) == 3 and all(ws.speaker_sample(s.label).is_file() for s in found)
    assert speakers.parse_span("61.5-64.5") == (61.5, 64.5)
    with pytest.raises(CastvoiceError, match="START-END"):
        speakers.parse_span("61.5")


def test_naming_a_speaker_and_enrolling_change_only_unnamed_lines(demo_workspace, truth, tmp_path):
    ws = open_workspace(copy_workspace(demo_workspace, tmp_path / "ws"))
    before = {line.id: line.character for line in lines.lines(ws, None)}
    label = speakers.speakers(ws)[0].label
    speakers.name_speaker(ws, label, "Someone")
    after = {line.id: line.character for line in lines.lines(ws, None)}
    # Every line was named by the screenplay, which a speaker's name never overrides.
    assert after == before
    diane = next(s for s in truth if s["character"] == "DIANE")
    matches = speakers.enroll(ws, "Diane", [(diane["start"], diane["end"])])
    assert matches and all(not m.named for m in matches)  # already named Diane by the screenplay
    with pytest.raises(CastvoiceError, match="no speaker"):
        speakers.name_speaker(ws, "SPEAKER_99", "Nobody")


def test_a_dataset_is_cleaned_summarised_exported_and_reported(demo_workspace, tmp_path):
    ws = open_workspace(copy_workspace(demo_workspace, tmp_path / "ws"))
    settings = dataset.CleanSettings(dataset.EnhanceSettings(denoise="none"), dataset.CheckSettings())
    clips = dataset.clean(ws, "Diane", settings)
    summary = dataset.summarise(clips)
    assert summary.kept == sum(c.kept for c in clips) and summary.clips == len(clips)
    assert sum(g.clips for g in summary.dropped) == summary.clips - summary.kept
    assert all(c.audio_file.parent == ws.clips_dir("Diane") for c in clips)
    picked = dataset.references(ws, "Diane", count=3)
    assert 1 <= len(picked) <= 3 and all(3.0 <= r.duration <= 10.0 for r in picked)
    exported = dataset.export(ws, "Diane", tmp_path / "lj", "ljspeech")
    assert exported.clips == summary.kept
    assert len((tmp_path / "lj" / "metadata.csv").read_text().splitlines()) == summary.kept
    page = dataset.report(ws, "Diane")
    assert page == ws.report_file("Diane") and page.read_text().count("<audio") == len(clips)
    # A clip excluded by hand stays excluded when the dataset is brought up to date.
    kept = next(c for c in clips if c.kept)
    assert not dataset.set_override(ws, kept.id, "exclude").kept
    assert not next(c for c in dataset.clean(ws, "Diane") if c.id == kept.id).kept


def test_voices_are_found_in_the_workspace_then_the_library(demo_workspace, tmp_path, monkeypatch):
    library = tmp_path / "library"
    monkeypatch.setenv("CASTVOICE_VOICES", str(library))
    ws_path = copy_workspace(demo_workspace, tmp_path / "ws")
    assert voices.voice_folders(ws_path) == [open_workspace(ws_path).voices_dir, library]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no workspace here
    assert voices.voice_folders(None) == [library]

    profile, path = voices.create_voice(None, "Joe", [JFK], backend="piper")
    assert path.parent == library and profile.backend == "piper"
    assert [p.name for _, p in voices.list_voices(None)] == ["Joe"]
    with pytest.raises(CastvoiceError, match="file exists"):
        voices.export_voice(None, "Joe", path)
    copy = voices.export_voice(None, "Joe", tmp_path / "joe.cvoice")
    assert voices.import_voice(ws_path, copy).parent == open_workspace(ws_path).voices_dir
    said = voices.speak(ws_path, "joe", "The lamp is lit again.", tmp_path / "said.wav")
    audio, rate = sf.read(tmp_path / "said.wav", dtype="float32")
    assert said.seconds == pytest.approx(len(audio) / rate) and np.abs(audio).max() > 0.05
    with pytest.raises(CastvoiceError, match="say where the speech goes"):
        voices.speak(ws_path, "joe", "Hello.", None)


def test_a_chat_session_writes_one_file_per_reply_in_the_workspace(demo_workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("CASTVOICE_VOICES", str(tmp_path / "library"))
    ws_path = copy_workspace(demo_workspace, tmp_path / "ws")
    voices.create_voice(ws_path, "Diane", [JFK], backend="piper")  # a voice under the character's name
    session = chat.ChatSession(ws_path, "diane", new=True, play=False)
    assert session.character == "Diane" and session.voice is not None
    pieces: list[str] = []
    first = session.answer("Good evening. My name is Sam.", pieces.append)
    second = session.answer("What is my name?")
    folder = open_workspace(ws_path).chat_dir(session.id)
    assert first.audio == str(folder / "001.wav") and second.audio == str(folder / "002.wav")
    assert "".join(pieces).strip() == first.reply and first.first_audio is not None
    assert any("Sam" in m.text for m in chat.memory(open_workspace(ws_path), "Diane").memories())
    message = chat.heard(JFK)
    assert_heard(message.text, "ask not what your country can do for you", max_errors=0.5)
    assert message.mood in EMOTIONS
