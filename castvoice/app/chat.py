"""Talking with a character: a chat session (text and voice, remembered across sessions), the persona the
character is played with, and what the character remembers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from castvoice.assistant.audio import Heard
from castvoice.assistant.memory import MemoryStore
from castvoice.assistant.persona import Partner, Persona
from castvoice.assistant.turn import Turn
from castvoice.errors import CastvoiceError
from castvoice.workspace import Workspace
from castvoice.workspace.conversations import Memory

if TYPE_CHECKING:
    import numpy as np


class ChatSession:
    """A conversation with a character, spoken in its voice when it has one: played on the sound device
    when there is one and `play` allows, else written as one WAV file per reply in the workspace's chat
    folder (or into `out`, for a single message)."""

    def __init__(self, workspace: Path | None, name: str, llm: str | None = None, voice: str | None = None,
                 text_only: bool = False, new: bool = False, out: Path | None = None, play: bool = True) -> None:
        from castvoice.app import open_workspace
        from castvoice.app.voices import voice_folders
        from castvoice.assistant import Conversation, get_llm
        from castvoice.assistant.audio import character_voice, sound_device, warm_voice

        self.ws = open_workspace(workspace)
        self.conversation = Conversation(self.ws, name, get_llm(llm), resume=not new)
        self.voice = None if text_only else character_voice(self.character, voice_folders(workspace), voice)
        self.out = out
        self.play = self.voice is not None and out is None and play and sound_device()
        self.conversation.warm()
        if self.voice is not None:
            warm_voice(self.voice)

    @property
    def character(self) -> str:
        return self.conversation.persona.name

    @property
    def id(self) -> str:
        return self.conversation.id

    def answer(self, message: str, echo: Callable[[str], None] | None = None, mood: str | None = None,
               listen: Callable[[np.ndarray, int], None] | None = None) -> Turn:
        """Reply to `message` (spoken with `mood`, if it was spoken): its pieces go to `echo` as they come, and
        its sentences are spoken as they end, each piece of speech also going to `listen` (samples, sample
        rate) as it is made."""
        from castvoice.assistant.turn import take_turn

        file = self.out
        if file is None and not self.play and self.voice is not None:
            file = self.ws.chat_dir(self.id) / f"{self.conversation.next_exchange_number():03d}.wav"
        turn = take_turn(self.conversation, message, self.voice, file, self.play, echo, mood, listen)
        self.conversation.warm()  # the exchange just made is read now, while the user reads the reply
        return turn


def heard(path: Path) -> Heard:
    """The words of a spoken message (any audio file) and how it sounds."""
    from castvoice.assistant.audio import heard as transcribe

    return transcribe(path)


@dataclass
class PersonaView:
    persona: Persona
    partners: list[Partner]  # the characters they talk with in the film
    characteristic_lines: list[str]


def persona(ws: Workspace, name: str, description: str | None = None, reset: bool = False) -> PersonaView:
    """Who the character is in the chat; with `description` (or `reset`) the description is changed first."""
    from castvoice.assistant.persona import LineIndex, load_persona, partners, set_description

    if description is not None and reset:
        raise CastvoiceError("choose one of a new description and --reset")
    found = load_persona(ws, name)
    if description is not None:
        found = set_description(ws, found.name, description)
    elif reset:
        found = set_description(ws, found.name, None)
    return PersonaView(found, partners(ws, found.name), LineIndex(ws, found.name).characteristic(5))


def memory(ws: Workspace, name: str) -> MemoryStore:
    """What a character remembers of the conversations: `memories()`, `forget(id)`, `clear()`."""
    from castvoice.assistant.persona import load_persona

    return MemoryStore(ws, load_persona(ws, name).name)


__all__ = ["ChatSession", "Heard", "Memory", "PersonaView", "heard", "memory", "persona"]
