"""The one chat interface every language model backend offers: messages in, the reply streamed out."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Message:
    role: str  # system, user or assistant
    content: str


Stream = Generator[str, None, None]


class LLMBackend(Protocol):
    name: str
    context_window: int  # tokens of prompt and reply together

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes with this model's tokenizer (an upper estimate for remote servers)."""

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens the messages take as a prompt, chat template included."""

    def stream(self, messages: Sequence[Message], max_tokens: int = 256, temperature: float = 0.7,
               stop: Sequence[str] = (), avoid: Sequence[str] = ()) -> Stream:
        """The reply to `messages`, piece by piece as it is made; ends before the first `stop` string.
        Words in `avoid` are kept out of the reply where the backend can (a local model's sampling).
        Closing the stream before its end stops the model."""

    def prefill(self, messages: Sequence[Message]) -> None:
        """Read `messages` ahead of time, so that a prompt starting with them is answered sooner (a local
        model keeps them in its cache; a remote server is left alone)."""


def complete(llm: LLMBackend, messages: Sequence[Message], max_tokens: int = 256, temperature: float = 0.0,
             stop: Sequence[str] = ()) -> str:
    """The whole reply as one string."""
    return "".join(llm.stream(messages, max_tokens, temperature, stop))


def until_stop(pieces: Stream, stop: Sequence[str]) -> Stream:
    """`pieces` up to the first stop string; text that may begin one is held back until it is known not to.
    The pieces are closed when this ends, so that the model is free at once."""
    stop = [s for s in stop if s]
    held = ""
    try:
        for piece in pieces:
            held += piece
            found = [i for i in (held.find(s) for s in stop) if i >= 0]
            if found:
                if held[:min(found)]:
                    yield held[:min(found)]
                return
            safe = len(held) - max((_partial_stop(held, s) for s in stop), default=0)
            if safe > 0:
                yield held[:safe]
                held = held[safe:]
        if held:
            yield held
    finally:
        pieces.close()


def _partial_stop(text: str, stop: str) -> int:
    """How many characters at the end of `text` are the start of `stop`."""
    return max((n for n in range(1, len(stop)) if text.endswith(stop[:n])), default=0)
