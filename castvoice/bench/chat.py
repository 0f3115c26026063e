"""`castvoice bench chat`: how soon a character answers aloud, and what it remembers across sessions.

On the demo film (ingested from its subtitles and screenplay), Diane speaks in a Kokoro voice:

- latency: a conversation of short messages, the model and the voice warmed first as `castvoice chat`
  does while the user types. Per turn: seconds to the first text and to the first audio, text pieces
  (about one token each) per second, and the voice's real-time factor. The baseline, measured in the same
  run, is the bare model answering a one-line prompt with no persona, film lines or memories.
- recall: ten facts told in a first session, small talk in a second, and a question about each fact in a
  third, each session a separate `castvoice chat` process. A fact counts as recalled when the answer
  holds its key word; beside it, how often the fact was among the memories put into the prompt.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from castvoice.bench import report
from castvoice.console import log
from castvoice.processes import tied_to_this_process

CHARACTER = "Diane"
VOICE = "af_bella"
MESSAGES = (
    "Hello Diane, how are you tonight?",
    "What happened at the lighthouse?",
    "Do you trust Marcus?",
    "Is the storm getting worse?",
    "What will you do tomorrow?",
    "Thank you, good night.",
)
# (what the user tells, the question asked two sessions later, the word the answer must hold)
FACTS = (
    ("My name is Sam.", "What is my name?", "sam"),
    ("I live in Bergen.", "Where do I live?", "bergen"),
    ("My sister is called Ingrid.", "What is my sister called?", "ingrid"),
    ("My favourite colour is green.", "What is my favourite colour?", "green"),
    ("I work as a carpenter.", "What do I work as?", "carpenter"),
    ("My dog is named Pepper.", "What is my dog named?", "pepper"),
    ("I was born in 1987.", "When was I born?", "1987"),
    ("My favourite food is herring.", "What is my favourite food?", "herring"),
    ("I play the cello.", "What instrument do I play?", "cello"),
    ("My boat is called Sea Lark.", "What is my boat called?", "lark"),
)
SMALL_TALK = ("The weather is grey again.", "Have you seen the harbour today?", "I should go soon.")
TARGET_FIRST_AUDIO = 1.5


def run(out: Path | None = None, llm: str | None = None, larger: str | None = None) -> None:
    """Measure with `llm` (default: the embedded model), and recall also with `larger` when given."""
    report(*chat_rows(llm, larger), out)


def chat_rows(llm: str | None, larger: str | None) -> tuple[dict[str, list[dict]], dict]:
    with tempfile.TemporaryDirectory(prefix="castvoice-bench-chat-") as tmp:
        ws = _workspace(Path(tmp) / "ws")
        latency = _latency_rows(ws, llm)
        recall = [_recall_row(ws, llm, Path(tmp) / "embedded")]
        if larger:
            recall.append(_recall_row(ws, larger, Path(tmp) / "larger"))
    sections = {"time to the first audio of a reply (s), and speed": latency,
                "memory: ten facts told in session 1, asked in session 3": recall}
    targets = {"first audio": f"<= {TARGET_FIRST_AUDIO} s after the message"}
    return sections, targets


def _workspace(root: Path) -> Path:
    """The demo film ingested from its subtitles and screenplay, with a Kokoro voice for Diane."""
    from castvoice.assets import cache_dir
    from castvoice.demo.film import build
    from castvoice.voice.profile import VoiceProfile, save_profile
    from castvoice.voice.backends import get_tts

    film = build(cache_dir() / "demo-film")
    _castvoice("ingest", "--text-only", film, "--subs", film.with_suffix(".srt"),
               "--script", film.with_name("demo.screenplay.txt"), "-w", root)
    style = get_tts("kokoro").style(VOICE)
    save_profile(VoiceProfile(CHARACTER, "kokoro", {"speed": 1.0, "language": "en-us"}, {"style": style}),
                 root / "voices")
    return root


def _latency_rows(root: Path, llm: str | None) -> list[dict]:
    from castvoice.assistant import Conversation, Message, get_llm
    from castvoice.assistant.audio import character_voice, warm_voice
    from castvoice.assistant.turn import take_turn
    from castvoice.workspace import Workspace

    model = get_llm(llm)
    ws = Workspace(root)
    conversation = Conversation(ws, CHARACTER, model)
    voice = character_voice(CHARACTER, [root / "voices"])
    warm_voice(voice)
    bare = []
    for message in MESSAGES:  # the baseline: the same messages, no persona, film lines or memories
        began = time.perf_counter()
        pieces = model.stream([Message("user", message)], 64, 0.7)
        next(pieces, None)
        bare.append(time.perf_counter() - began)
        pieces.close()
    turns = []
    for number, message in enumerate(MESSAGES, 1):
        conversation.warm()
        turn = take_turn(conversation, message, voice, root / f"reply-{number}.wav")
        log.info("turn %d: first audio %.2f s: %s", number, turn.first_audio or -1, turn.reply[:60])
        turns.append(turn)
    rows = [{"turn": n, "message": t.message, "first text s": _round(t.first_text),
             "first audio s": _round(t.first_audio), "pieces/s": round(t.pieces_per_second, 1),
             "speech s": round(t.speech_seconds, 1), "voice RTF": _round(t.synthesis_seconds / t.speech_seconds
                                                                         if t.speech_seconds else None),
             "bare model first text s": round(b, 3)} for n, (t, b) in enumerate(zip(turns, bare), 1)]
    first_audio = [t.first_audio for t in turns if t.first_audio is not None]
    rows.append({"turn": "median", "first text s": _round(np.median([t.first_text for t in turns])),
                 "first audio s": _round(np.median(first_audio) if first_audio else None),
                 "pieces/s": round(float(np.median([t.pieces_per_second for t in turns])), 1),
                 "voice RTF": _round(sum(t.synthesis_seconds for t in turns) / max(sum(t.speech_seconds for t in turns), 1e-9)),
                 "bare model first text s": round(float(np.median(bare)), 3),
                 "x bare first text": round(float(np.median([t.first_text for t in turns]) / np.median(bare)), 2)})
    return rows


def _recall_row(root: Path, llm: str | None, copy: Path) -> dict:
    """Three sessions in three processes on a copy of the workspace; the facts asked about in the third."""
    from castvoice.assistant import MemoryStore
    from castvoice.workspace import Workspace, copy_workspace

    copy_workspace(root, copy, "reply-*.wav")
    sessions = [[told for told, _, _ in FACTS], list(SMALL_TALK), [asked for _, asked, _ in FACTS]]
    answers = [_session(copy, llm, messages) for messages in sessions][-1]
    store = MemoryStore(Workspace(copy), CHARACTER)
    model_name = llm or "embedded"
    retrieved = 0
    for (_, asked, word), answer in zip(FACTS, answers):
        recalled = store.recall(asked, 600, lambda text: len(text.split()))  # about the chat's memory share
        retrieved += any(word in m.text.lower() for m in recalled)
        log.info("%s: %s -> %s", model_name, asked, answer["reply"][:80])
    right = sum(word in answer["reply"].lower() for (_, _, word), answer in zip(FACTS, answers))
    return {"model": model_name, "facts stored": len(store.memories("fact")),
            "recalled into the prompt": f"{retrieved}/{len(FACTS)}", "answered right": f"{right}/{len(FACTS)}"}


def _session(root: Path, llm: str | None, messages: list[str]) -> list[dict]:
    """One `castvoice chat --new --text-only --json` process; its replies."""
    args = ["chat", CHARACTER, "--new", "--text-only", "--json", "-w", root] + (["--llm", llm] if llm else [])
    done = _castvoice(*args, stdin="\n".join(messages) + "\n")
    return _json_objects(done.stdout)


def _json_objects(text: str) -> list[dict]:
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := _skip_space(text, at)) < len(text):
        value, at = decoder.raw_decode(text, at)
        found.append(value)
    return found


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def _castvoice(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "castvoice", *map(str, args)], input=stdin, capture_output=True,
                          text=True, check=False, preexec_fn=tied_to_this_process())
    if done.returncode != 0:
        raise RuntimeError(f"castvoice {args[0]} failed: {done.stderr.strip()[-500:]}")
    return done


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)
