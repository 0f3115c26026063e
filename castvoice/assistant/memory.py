"""Long-term memory of the conversations with a character, kept in the workspace database.

Every exchange is stored. Lasting facts about the user are drawn from each message (`facts`), and the older
part of a long conversation is summarised (`summary`); facts and summaries are found again by embedding
similarity to the message being answered.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np

from castvoice.assistant.embedding import TextEmbedder, from_blobs, get_embedder, to_blob
from castvoice.assistant.facts import about_the_user, fact_subject
from castvoice.errors import CastvoiceError
from castvoice.workspace import Workspace
from castvoice.workspace import conversations
from castvoice.workspace.conversations import Exchange, Memory

# multilingual-e5 scores crowd together: a question and the fact that answers it score 0.80-0.90, unrelated
# pairs 0.70-0.80, once the question is put in the third person as the facts are ("where do I live" as "where
# do the user live"). Among 300 other facts, that rewriting put the answer first for 9 of 11 questions, against
# 7 of 11 as asked. Memories are taken by rank; one below MIN_SCORE is not worth its tokens, and one above
# DUPLICATE_SCORE to a stored memory says nothing new.
MIN_SCORE = 0.75
DUPLICATE_SCORE = 0.97
RECALL_LIMIT = 8
MEMORY_TOKENS = 2  # the bullet and line break around one memory in a prompt
MEMORY_KINDS = ("fact", "summary")


class MemoryStore:
    """One character's memory of the user: exchanges, facts and summaries."""

    def __init__(self, ws: Workspace, character: str, embedder: TextEmbedder | None = None) -> None:
        self.ws, self.character = ws, character
        self.embedder = embedder or get_embedder()

    def record_exchange(self, conversation: str, message: str, reply: str) -> Exchange:
        """Store one exchange."""
        return conversations.record_exchange(self.ws, self.character, conversation, message, reply)

    def exchanges(self, conversation: str | None = None, after: int = 0) -> list[Exchange]:
        """Exchanges in the order they happened: of one conversation, or all; only those with ids above `after`."""
        return conversations.exchanges(self.ws, self.character, conversation, after)

    def latest_conversation(self) -> str | None:
        return conversations.latest_conversation(self.ws, self.character)

    def conversation_summary(self, conversation: str) -> Memory | None:
        """The latest summary of a conversation's earlier exchanges, if one was made."""
        return conversations.conversation_summary(self.ws, self.character, conversation)

    def remember(self, text: str, kind: str = "fact", source: str = "user",
                 exchange_id: int | None = None) -> Memory | None:
        """Store a fact or summary; None when an almost identical memory exists. A fact of the form
        "The user's X is Y" replaces an older one about the same X."""
        text = " ".join(text.split())
        if not text:
            raise CastvoiceError("a memory needs some text")
        if kind not in MEMORY_KINDS:
            raise CastvoiceError(f"unknown kind of memory {kind!r}; choose from {', '.join(MEMORY_KINDS)}")
        vector = self.embedder.passages([text])[0]
        known = self.memories(kind)
        if known and float(np.max(self._vectors(known) @ vector)) >= DUPLICATE_SCORE:
            return None
        subject = fact_subject(text) if kind == "fact" else None
        replaced = [old.id for old in known if subject and fact_subject(old.text) == subject]
        return conversations.add_memory(self.ws, self.character, kind, text, source, exchange_id,
                                        self.embedder.name, to_blob(vector), replaced)

    def memories(self, kind: str | None = None) -> list[Memory]:
        """Facts and summaries, oldest first (only one kind when `kind` is given)."""
        return conversations.memories(self.ws, self.character, kind)

    def forget(self, memory_id: int) -> Memory:
        """Delete one memory; returns what it held."""
        found = [m for m in self.memories() if m.id == memory_id]
        if not found:
            raise CastvoiceError(f"{self.character} has no memory {memory_id}", self.ws.root)
        conversations.delete_memory(self.ws, memory_id)
        return found[0]

    def clear(self) -> int:
        """Delete every memory and exchange of this character; returns how many memories went."""
        return conversations.clear_character(self.ws, self.character)

    def latest(self, budget: int, count_tokens: Callable[[str], int], skip: Collection[int] = ()) -> list[Memory]:
        """The newest memories (but those with ids in `skip`) that fit in `budget` tokens, oldest first."""
        chosen, used = [], 0
        for memory in reversed([m for m in self.memories() if m.id not in skip]):
            used += count_tokens(memory.text) + MEMORY_TOKENS
            if used > budget:
                break
            chosen.append(memory)
        return chosen[::-1]

    def recall(self, query: str, budget: int, count_tokens: Callable[[str], int],
               limit: int = RECALL_LIMIT, kinds: Sequence[str] = MEMORY_KINDS) -> list[Memory]:
        """The memories most similar to `query`, best first, as many as fit in `budget` tokens."""
        known = [m for m in self.memories() if m.kind in kinds]
        if not known or budget <= 0:
            return []
        scores = self._vectors(known) @ self.embedder.query(about_the_user(query))
        chosen, used = [], 0
        for index in np.argsort(-scores, kind="stable"):
            if scores[index] < MIN_SCORE or len(chosen) == limit:
                break
            cost = count_tokens(known[index].text) + MEMORY_TOKENS
            if used + cost <= budget:
                known[index].score = round(float(scores[index]), 4)
                chosen.append(known[index])
                used += cost
        return chosen

    def _vectors(self, memories: list[Memory]) -> np.ndarray:
        """The memories' vectors; any made by another embedder are made again with this one and stored."""
        rows = conversations.memory_vectors(self.ws, self.character)
        stale = [m for m in memories if rows[m.id][0] != self.embedder.name]
        if stale:
            fresh = [to_blob(vector) for vector in self.embedder.passages([m.text for m in stale])]
            conversations.set_memory_vectors(self.ws, [(m.id, self.embedder.name, blob)
                                                       for m, blob in zip(stale, fresh)])
            rows.update({m.id: (self.embedder.name, blob) for m, blob in zip(stale, fresh)})
        return from_blobs([rows[m.id][1] for m in memories], self.embedder.dim)
