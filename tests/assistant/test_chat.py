"""Talking with the demo character through the real CLI: chat, spoken replies, persona and memory commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from castvoice.assistant.guard import FIRST_CHECKED_WORDS
from castvoice.text.sentences import SentenceCutter
from castvoice.workspace import copy_workspace
from conftest import EVAL, assert_heard, castvoice


def _cut(text: str, piece_chars: int = 3) -> list[str]:
    """What the cutter makes of `text` fed a few characters at a time, as a model streams it."""
    cutter, done = SentenceCutter(FIRST_CHECKED_WORDS), []
    for at in range(0, len(text), piece_chars):
        done += cutter.feed(text[at:at + piece_chars])
    return done + cutter.flush()


def test_sentences_are_cut_as_they_end_and_the_first_piece_early():
    text = "The lamp has been dark for three nights and nobody knows why. Did you see it? Yes! It was late."
    pieces = _cut(text)
    assert " ".join(pieces) == text
    first = " ".join(text.split()[:FIRST_CHECKED_WORDS])  # no clause end: cut after the first words
    assert pieces[0] == first and pieces[1] == text.split(". ")[0][len(first) + 1:] + "."
    assert pieces[2:] == ["Did you see it?", "Yes!", "It was late."]
    assert _cut("Well, I never did. Fine")[:2] == ["Well,", "I never did."]  # a clause end comes first
    assert _cut("  ") == [] and _cut("No end") == ["No end"]


@pytest.fixture(scope="module")
def chat_workspace(demo_workspace, tmp_path_factory):
    """The demo workspace with a fast voice (Piper) for Diane."""
    ws = copy_workspace(demo_workspace, tmp_path_factory.mktemp("chat") / "ws")
    recording = sorted((EVAL / "cmu_arctic_pra").glob("*.wav"))[0]
    castvoice("voice", "create", "Diane", "--backend", "piper", "--from", recording, "-w", ws)
    return ws


def _once(ws, *args, check=True):
    return castvoice("chat", "Diane", *args, "-w", ws, check=check)


@pytest.mark.slow
def test_a_reply_is_written_as_text_and_speech_and_the_facts_are_remembered(chat_workspace, tmp_path):
    ws = copy_workspace(chat_workspace, tmp_path / "ws")
    out = tmp_path / "reply.wav"
    turn = json.loads(_once(ws, "--once", "Hello Diane, my name is Sam and I live in Oslo.", "-o", out, "--json").stdout)
    assert turn["character"] == "Diane" and turn["reply"] and turn["speech_error"] is None
    assert turn["audio"] == str(out) and turn["first_text"] <= turn["first_audio"] <= turn["done"] + 1
    audio, rate = sf.read(out)
    assert rate == 22_050 and len(audio) / rate == pytest.approx(turn["speech_seconds"], abs=0.05)
    assert np.abs(audio).max() > 0.05  # speech, not silence
    memories = json.loads(castvoice("memory", "Diane", "list", "--json", "-w", ws).stdout)
    assert {"The user's name is Sam.", "The user lives in Oslo."} <= {m["text"] for m in memories}
    # A later process, a new conversation: the memory is still there and goes into the prompt.
    later = json.loads(_once(ws, "--new", "--text-only", "--once", "Where do I live?", "--json").stdout)
    assert later["conversation"] != turn["conversation"] and later["audio"] is None
    oslo = next(m for m in memories if "Oslo" in m["text"])
    castvoice("memory", "Diane", "forget", str(oslo["id"]), "-w", ws)
    left = json.loads(castvoice("memory", "Diane", "list", "--json", "-w", ws).stdout)
    assert oslo["id"] not in {m["id"] for m in left} and "Sam" in " ".join(m["text"] for m in left)
    cleared = castvoice("memory", "Diane", "clear", "-w", ws)
    assert "memories cleared" in cleared.stdout
    assert json.loads(castvoice("memory", "Diane", "list", "--json", "-w", ws).stdout) == []


@pytest.mark.slow
def test_a_conversation_reads_messages_line_by_line_and_writes_a_file_per_reply(chat_workspace, tmp_path):
    ws = copy_workspace(chat_workspace, tmp_path / "ws")
    done = castvoice("chat", "Diane", "--new", "--json", "-w", ws, stdin="Good evening.\nIs the lamp lit?\n\nignored\n")
    turns = [json.loads(part) for part in done.stdout.replace("}\n{", "}\x00{").split("\x00")]
    assert [t["message"] for t in turns] == ["Good evening.", "Is the lamp lit?"]
    assert len({t["conversation"] for t in turns}) == 1
    files = sorted((ws / "chats").rglob("*.wav"))
    assert [f.name for f in files] == ["001.wav", "002.wav"] and [t["audio"] for t in turns] == list(map(str, files))


@pytest.mark.slow
def test_a_spoken_message_is_heard_through_asr(chat_workspace, tmp_path):
    from castvoice.voice.backends import get_tts

    piper = get_tts("piper")
    message = tmp_path / "message.wav"
    said = "Where is the lighthouse keeper tonight?"
    sf.write(message, piper.synthesize(said, piper.voices()[0]), piper.sample_rate)
    turn = json.loads(_once(copy_workspace(chat_workspace, tmp_path / "ws"), "--listen", message, "--text-only",
                            "--json").stdout)
    assert_heard(turn["message"], said)
    assert turn["reply"]


@pytest.mark.slow
def test_speech_that_fails_leaves_the_reply_as_text(chat_workspace, tmp_path):
    from castvoice.voice.profile import VoiceProfile, save_profile

    ws = copy_workspace(chat_workspace, tmp_path / "ws")
    broken = VoiceProfile("Broken", "kokoro", {"speed": 1.0, "language": "en-us"}, {"style": np.zeros((3, 256), np.float32)})
    save_profile(broken, ws / "voices")
    done = _once(ws, "--voice", "Broken", "--once", "Good evening, Diane.", "-o", tmp_path / "reply.wav", "--json")
    turn = json.loads(done.stdout)
    assert turn["reply"] and turn["audio"] is None and "510 x 1 x 256" in turn["speech_error"]
    assert "speech stopped" in done.stderr and not (tmp_path / "reply.wav").exists()


@pytest.mark.slow
def test_persona_shows_the_film_and_keeps_an_edited_description(chat_workspace, tmp_path):
    ws = copy_workspace(chat_workspace, tmp_path / "ws")
    shown = json.loads(castvoice("persona", "diane", "--json", "-w", ws).stdout)
    assert shown["name"] == "Diane" and not shown["edited"] and len(shown["characteristic_lines"]) == 5
    assert {p["name"] for p in shown["partners"]} & {"Marcus", "Oliver"}
    castvoice("persona", "Diane", "--set", "A lighthouse inspector who trusts no one.", "-w", ws)
    edited = json.loads(castvoice("persona", "Diane", "--json", "-w", ws).stdout)
    assert edited["edited"] and edited["description"] == "A lighthouse inspector who trusts no one."
    castvoice("persona", "Diane", "--reset", "-w", ws)
    assert json.loads(castvoice("persona", "Diane", "--json", "-w", ws).stdout)["description"] == shown["description"]


@pytest.mark.slow
@pytest.mark.parametrize("args, words", [
    (["chat", "Nobody", "--once", "Hi"], "nobody"),
    (["chat", "Diane", "--llm", "ollama@http://127.0.0.1:9", "--once", "Hi"], "cannot reach Ollama at http://127.0.0.1:9"),
    (["chat", "Diane", "--out", "x.wav"], "--out is for one message"),
    (["memory", "Diane", "forget", "999999"], "no memory 999999"),
    (["memory", "Diane", "forget"], "forget takes the id"),
    (["persona", "Diane", "--set", "x", "--reset"], "choose one of"),
])
def test_bad_chat_input_gets_one_clear_line(chat_workspace, args, words):
    done = castvoice(*args, "-w", chat_workspace, check=False)
    assert done.returncode == 2 and words.lower() in done.stderr.lower() and done.stderr.strip().count("\n") == 0, done.stderr
