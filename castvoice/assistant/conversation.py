"""A chat with a character: streamed replies, every exchange remembered, the prompt kept within the window."""

from __future__ import annotations


from castvoice.assistant.embedding import TextEmbedder
from castvoice.assistant.facts import EXTRACTION_METHODS, extract_facts
from castvoice.assistant.guard import AVOIDED_WORDS, in_character
from castvoice.assistant.llm import get_llm
from castvoice.assistant.llm.base import LLMBackend, Message, Stream
from castvoice.assistant.memory import MemoryStore
from castvoice.assistant.persona import LineIndex, load_persona, partners
from castvoice.assistant.prompt import MATERIAL_READ, Material, assemble
from castvoice.assistant.summary import SUMMARY_METHODS, summarise
from castvoice.errors import CastvoiceError
from castvoice.speech.emotion import mood_of_words
from castvoice.workspace import Workspace
from castvoice.workspace.conversations import Exchange, Memory
from castvoice.workspace.db import now

REPLY_TOKENS = 100  # a spoken reply of three short sentences fits
# Shares of the model's window: at most this much for the latest memories (read before the message comes),
# for older ones recalled for the message, and for the summary of the conversation's earlier part. The
# reply's tokens are kept free; the exchanges so far fill the rest.
NOTES_SHARE = 0.1
MEMORY_SHARE = 0.05
SUMMARY_SHARE = 0.1
CHARACTERISTIC_LINES = 4  # the character's most typical film lines, for its manner
SCENE_LINES = 2  # lines of anyone in the film on the message's subject, for what happens in it
RECENT_REPLIES = 3  # a reply may not open as one of the character's last this many replies (but on a last try)
STOP = ("\nUser:", "\nThe user says:")


class Conversation:
    """One conversation with a character of the workspace.

    `reply` streams the character's answer; once it is complete (or the caller stops reading) the exchange
    is stored and the lasting facts in the user's message are remembered (`extraction`: rules, model or off).
    When the prompt would overflow the model's window, the older half of the exchanges is summarised
    (`summaries`: quotes or model) and dropped from it. With `resume`, the character's latest conversation
    goes on where it stopped.
    """

    def __init__(self, ws: Workspace, character: str, llm: LLMBackend | None = None, *,
                 embedder: TextEmbedder | None = None, max_tokens: int = REPLY_TOKENS, temperature: float = 0.7,
                 extraction: str = "rules", summaries: str = "quotes", resume: bool = False) -> None:
        if extraction not in EXTRACTION_METHODS:
            raise CastvoiceError(f"unknown fact extraction {extraction!r}; choose from {', '.join(EXTRACTION_METHODS)}")
        if summaries not in SUMMARY_METHODS:
            raise CastvoiceError(f"unknown summary method {summaries!r}; choose from {', '.join(SUMMARY_METHODS)}")
        self.llm = llm or get_llm()
        if not 0 < max_tokens <= self.llm.context_window // 2:
            raise CastvoiceError(f"a reply of {max_tokens} tokens does not leave room for the prompt in "
                                 f"{self.llm.name}'s window of {self.llm.context_window}")
        self.max_tokens, self.temperature = max_tokens, temperature
        self.extraction, self.summaries = extraction, summaries
        self.persona = load_persona(ws, character)
        self.memory = MemoryStore(ws, self.persona.name, embedder)
        self.lines = LineIndex(ws, self.persona.name, self.memory.embedder)
        self._characteristic = self.lines.characteristic(CHARACTERISTIC_LINES)
        self.partners = partners(ws, self.persona.name)
        # A small model may go on writing the film's script: it stops where another character would speak.
        self.stop = STOP + tuple(f"\n{p.name}:" for p in self.partners)
        self.id = (resume and self.memory.latest_conversation()) or now()
        self._summary: Memory | None = self.memory.conversation_summary(self.id) if resume else None
        self.summary = self._summary.text if self._summary else None
        self.history: list[Exchange] = (
            self.memory.exchanges(self.id, after=(self._summary.exchange_id or 0) if self._summary else 0)
            if resume else [])
        self.last_prompt: list[Message] = []

    def reply(self, message: str, mood: str | None = None) -> Stream:
        """The character's answer, piece by piece; `mood` is how a spoken message sounded (an emotion label).
        The prompt is built (and any summary made) at the call."""
        message = message.strip()
        if not message:
            raise CastvoiceError("the message is empty")
        prompt = self.prompt_for(message, mood)
        label = f"{self.persona.name}:"

        def attempt(temperature: float) -> Stream:
            return _without_label(self.llm.stream(prompt, self.max_tokens, temperature, self.stop, AVOIDED_WORDS), label)

        said_before = [e.reply for e in self.history[-RECENT_REPLIES:] if e.reply]
        return self._stored(message, in_character(
            attempt, self.temperature, self.persona.name, message, never_said=(MATERIAL_READ,),
            said_before=said_before, others=[p.name for p in self.partners], fallback=self.lines.own_answer(message)))

    def warm(self) -> None:
        """Have the model read the persona, the standing material, the exchanges so far and the material for a
        guessed message now, while the user is still typing. The guess is that the talk stays on the subject of
        the last exchange: whatever of that material the real message shares (at least its headings) is read
        already when it comes."""
        last = self.history[-1] if self.history else None
        material = self._material(f"{last.message} {last.reply}" if last else "")
        turns = [(e.message, e.reply) for e in self.history]
        self.llm.prefill(assemble(self.persona, turns, "", material)[:-1])

    def _standing(self) -> Material:
        """The material known before the message comes: the character's lines and partners, this conversation's
        summary, and the latest memories (but that summary)."""
        skip = {self._summary.id} if self._summary else set()
        notes = self.memory.latest(int(self.llm.context_window * NOTES_SHARE), self.llm.count_tokens, skip)
        return Material(characteristic=list(self._characteristic), partners=self.partners, summary=self.summary,
                        notes=[m.text for m in notes])

    def _material(self, message: str, mood: str | None = None) -> Material:
        """The standing material with what is chosen for `message`: film lines and older memories on its
        subject, its mood and the character's own."""
        window, count = self.llm.context_window, self.llm.count_tokens
        material = self._standing()
        material.scene = self.lines.scene(message, SCENE_LINES)
        material.memories = [m.text for m in self.memory.recall(message, int(window * MEMORY_SHARE), count)
                             if m.text != self.summary and m.text not in material.notes]
        material.user_mood = mood
        material.own_mood = mood_of_words(self.history[-1].reply).label if self.history else None
        return material

    def ask(self, message: str) -> str:
        """The whole answer as one string."""
        return "".join(self.reply(message))

    def next_exchange_number(self) -> int:
        """The number the next exchange of this conversation will have, counting from 1 (across processes:
        the exchanges already stored count)."""
        return len(self.memory.exchanges(self.id)) + 1

    def prompt_for(self, message: str, mood: str | None = None) -> list[Message]:
        """The messages for answering `message` (spoken with `mood`), within the window less the reply's tokens:
        the oldest exchanges are summarised away first, then the material (memories, film lines) shrinks."""
        window = self.llm.context_window
        room = window - self.max_tokens
        material = self._material(message, mood)
        while True:
            turns = [(e.message, e.reply) for e in self.history]
            messages = assemble(self.persona, turns, message, material)
            used = self.llm.prompt_tokens(messages)
            if used <= room:
                self.last_prompt = messages
                return messages
            if self.history:
                self._fold((len(self.history) + 1) // 2)
                material.summary = self.summary
            elif material.notes or material.memories or material.scene or material.characteristic:
                longer = max((material.notes, material.memories, material.scene, material.characteristic), key=len)
                longer.pop(0 if longer is material.notes else -1)  # the oldest note goes first
            elif material.partners or material.summary:
                material.partners, material.summary = [], None
            else:
                raise CastvoiceError(f"the message is too long: with the persona it takes {used} tokens, and "
                                     f"{self.llm.name}'s window of {window} leaves {room} beside the reply")

    def _fold(self, count: int) -> None:
        """Summarise the oldest `count` exchanges (with the summary so far) and drop them from the prompt."""
        dropped, self.history = self.history[:count], self.history[count:]
        budget = max(16, int(self.llm.context_window * SUMMARY_SHARE))
        self.summary, how = summarise(dropped, self.persona.name, self.llm, budget, self.summary, self.summaries)
        if self._summary and any(m.id == self._summary.id for m in self.memory.memories("summary")):
            self.memory.forget(self._summary.id)  # the new summary covers it
        self._summary = self.memory.remember(self.summary, "summary", how, dropped[-1].id)

    def _stored(self, message: str, pieces: Stream) -> Stream:
        said = []
        try:
            for piece in pieces:
                said.append(piece)
                yield piece
        except GeneratorExit:  # the caller stopped reading: what was said so far is kept
            pieces.close()  # frees the model before facts are extracted with it
            self._store(message, "".join(said).strip())
            raise
        self._store(message, "".join(said).strip())

    def _store(self, message: str, reply: str) -> None:
        exchange = self.memory.record_exchange(self.id, message, reply)
        self.history.append(exchange)
        for fact, how in extract_facts(message, self.extraction, self.llm):
            self.memory.remember(fact, "fact", how, exchange.id)


def _without_label(pieces: Stream, label: str) -> Stream:
    """The pieces of a reply without a leading speaker's label ("Diane: "), which a small model often writes."""
    head = ""
    try:
        for piece in pieces:
            if head is None:
                yield piece
                continue
            head += piece
            if len(head.lstrip()) < len(label) and label.startswith(head.lstrip()):
                continue  # could still be the label
            if head.lstrip().startswith(label):
                head = head.lstrip()[len(label):].lstrip()
            if head:
                yield head
            head = None
        if head:
            yield head
    finally:
        pieces.close()


def reply(ws: Workspace, character: str, message: str, llm: LLMBackend | None = None, **options) -> Stream:
    """One answer in the character's latest conversation (a new one if there is none), streamed; the exchange
    is stored. `options` are those of `Conversation`."""
    return Conversation(ws, character, llm, resume=True, **options).reply(message)
