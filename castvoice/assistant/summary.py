"""Summaries of the older part of a long conversation, which stand in for its exchanges in the prompt."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from castvoice.assistant.llm.base import LLMBackend, Message, complete
from castvoice.errors import CastvoiceError
from castvoice.workspace.conversations import Exchange

SUMMARY_WORDS = (4, 120)  # a model's summary outside this many words is not used
SUMMARY_QUOTE_WORDS = 25  # words kept of each message when a summary is made without the model
SUMMARY_PROMPT = (
    "Summarise the conversation between the user and {name} in two or three sentences, in the third person. "
    "Keep every name, place, date and fact the user told."
)
SUMMARY_METHODS = ("quotes", "model")
# A line that opens with a speaker's label ("Diane: ...", "User: ..."): the model went on with the script.
_SPEAKER_LABEL = re.compile(r"(?:^|\n)\s*[\w .'-]{1,30}:", re.UNICODE)


def summarise(exchanges: Sequence[Exchange], character: str, llm: LLMBackend, budget: int,
              previous: str | None = None, method: str = "quotes") -> tuple[str, str]:
    """A summary of `exchanges` (following the `previous` summary) in at most `budget` tokens, as (text, how).

    `quotes` keeps the user's own words, each message cut to its first words. `model` asks the LLM, and uses
    the quotes when its answer is unusable: SmolLM2-135M went on with the dialogue instead of summarising it
    in all 6 conversations tried (3 prompts), so `quotes` is the default."""
    if method not in SUMMARY_METHODS:
        raise CastvoiceError(f"unknown summary method {method!r}; choose from {', '.join(SUMMARY_METHODS)}")
    if method == "model":
        transcript = [f"Earlier: {previous}"] if previous else []
        for exchange in exchanges:
            transcript += [f"User: {exchange.message}", f"{character}: {exchange.reply}"]
        prompt = [Message("system", SUMMARY_PROMPT.format(name=character)), Message("user", "\n".join(transcript))]
        if llm.prompt_tokens(prompt) + budget <= llm.context_window:
            found = complete(llm, prompt, max_tokens=budget, temperature=0.0).strip()
            if _usable_summary(found):
                return " ".join(found.split()), "model"
    return _quoted_summary(exchanges, llm.count_tokens, budget, previous), "quotes"


def _usable_summary(text: str) -> bool:
    """A summary, not more dialogue: of a sensible length, about the user, with no speaker's label."""
    words = text.split()
    return (SUMMARY_WORDS[0] <= len(words) <= SUMMARY_WORDS[1] and "user" in text.lower()
            and not _SPEAKER_LABEL.search(text))


def _quoted_summary(exchanges: Sequence[Exchange], count_tokens: Callable[[str], int], budget: int,
                    previous: str | None) -> str:
    """The previous summary and what the user said, each message cut to its first words; the oldest parts
    go first when they do not fit in `budget` tokens."""
    said = []
    for exchange in exchanges:
        words = exchange.message.split()
        said.append(" ".join(words[:SUMMARY_QUOTE_WORDS]) + (" ..." if len(words) > SUMMARY_QUOTE_WORDS else ""))
    parts = ([previous] if previous else []) + [f"The user said: {quote}" for quote in said]
    while len(parts) > 1 and count_tokens(" ".join(parts)) > budget:
        parts.pop(0)
    words = " ".join(parts).split()
    while words and count_tokens(" ".join(words)) > budget:
        words = words[: len(words) * 7 // 8]
    return " ".join(words)
