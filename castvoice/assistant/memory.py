"""Long-term memory of the conversations with a character, kept in the workspace database.

Every exchange is stored. Lasting facts about the user are drawn from each message, and the older part
of a long conversation is summarised; facts and summaries are found again by embedding similarity to
the message being answered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from castvoice.assistant.embedding import TextEmbedder, from_blobs, get_embedder, to_blob
from castvoice.assistant.llm import LLMBackend, Message, complete
from castvoice.errors import CastvoiceError
from castvoice.text.sentences import split_sentences
from castvoice.workspace import Workspace
from castvoice.workspace.db import now

# multilingual-e5 scores crowd together: a question and the fact that answers it score 0.80-0.90, unrelated
# pairs 0.70-0.80, once the question is put in the third person as the facts are ("where do I live" as "where
# do the user live"). Among 300 other facts, that rewriting put the answer first for 9 of 11 questions, against
# 7 of 11 as asked. Memories are taken by rank; one below MIN_SCORE is not worth its tokens, and one above
# DUPLICATE_SCORE to a stored memory says nothing new.
MIN_SCORE = 0.75
DUPLICATE_SCORE = 0.97
RECALL_LIMIT = 8
MEMORY_TOKENS = 2  # the bullet and line break around one memory in a prompt
MAX_FACT_WORDS = 30
EXTRACTION_METHODS = ("rules", "model", "off")
MEMORY_KINDS = ("fact", "summary")
SUMMARY_WORDS = (4, 120)  # a model's summary outside this many words is not used
SUMMARY_QUOTE_WORDS = 25  # words kept of each message when a summary is made without the model


@dataclass
class Exchange:
    id: int
    conversation: str
    at: str
    message: str
    reply: str


@dataclass
class Memory:
    id: int
    kind: str  # fact or summary
    text: str
    source: str  # rules or model (a fact), model or quotes (a summary), user (told by hand)
    at: str
    exchange_id: int | None = None  # the exchange it came from; for a summary, the last one it covers
    score: float | None = None  # similarity to the query that recalled it


class MemoryStore:
    """One character's memory of the user: exchanges, facts and summaries."""

    def __init__(self, ws: Workspace, character: str, embedder: TextEmbedder | None = None) -> None:
        self.ws, self.character = ws, character
        self.embedder = embedder or get_embedder()

    def record_exchange(self, conversation: str, message: str, reply: str) -> Exchange:
        """Store one exchange."""
        at = now()
        with self.ws.transaction() as conn:
            exchange_id = conn.execute(
                "INSERT INTO exchanges (character, conversation, at, message, reply) VALUES (?, ?, ?, ?, ?)",
                (self.character, conversation, at, message, reply),
            ).lastrowid
        return Exchange(exchange_id, conversation, at, message, reply)

    def exchanges(self, conversation: str | None = None, after: int = 0) -> list[Exchange]:
        """Exchanges in the order they happened: of one conversation, or all; only those with ids above `after`."""
        query = "SELECT id, conversation, at, message, reply FROM exchanges WHERE character = ? AND id > ?"
        args: tuple = (self.character, after)
        if conversation is not None:
            query += " AND conversation = ?"
            args += (conversation,)
        return [Exchange(*row) for row in self.ws.conn.execute(query + " ORDER BY id", args)]

    def latest_conversation(self) -> str | None:
        row = self.ws.conn.execute(
            "SELECT conversation FROM exchanges WHERE character = ? ORDER BY id DESC LIMIT 1", (self.character,)
        ).fetchone()
        return row[0] if row else None

    def conversation_summary(self, conversation: str) -> Memory | None:
        """The latest summary of a conversation's earlier exchanges, if one was made."""
        row = self.ws.conn.execute(
            "SELECT m.id, m.kind, m.text, m.source, m.at, m.exchange_id FROM memories m"
            " JOIN exchanges e ON e.id = m.exchange_id"
            " WHERE m.character = ? AND m.kind = 'summary' AND e.conversation = ? ORDER BY m.id DESC LIMIT 1",
            (self.character, conversation),
        ).fetchone()
        return Memory(*row) if row else None

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
        with self.ws.transaction() as conn:
            if kind == "fact" and (subject := _subject(text)):
                for old in known:
                    if _subject(old.text) == subject:
                        conn.execute("DELETE FROM memories WHERE id = ?", (old.id,))
            at = now()
            memory_id = conn.execute(
                "INSERT INTO memories (character, kind, text, source, exchange_id, at, encoder, vector)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (self.character, kind, text, source, exchange_id, at, self.embedder.name, to_blob(vector)),
            ).lastrowid
        return Memory(memory_id, kind, text, source, at, exchange_id)

    def memories(self, kind: str | None = None) -> list[Memory]:
        """Facts and summaries, oldest first (only one kind when `kind` is given)."""
        query = "SELECT id, kind, text, source, at, exchange_id FROM memories WHERE character = ?"
        args: tuple = (self.character,)
        if kind is not None:
            query += " AND kind = ?"
            args += (kind,)
        return [Memory(*row) for row in self.ws.conn.execute(query + " ORDER BY id", args)]

    def forget(self, memory_id: int) -> Memory:
        """Delete one memory; returns what it held."""
        found = [m for m in self.memories() if m.id == memory_id]
        if not found:
            raise CastvoiceError(f"{self.character} has no memory {memory_id}", self.ws.root)
        with self.ws.transaction() as conn:
            conn.execute("DELETE FROM memories WHERE id = ?", (memory_id,))
        return found[0]

    def clear(self) -> int:
        """Delete every memory and exchange of this character; returns how many memories went."""
        with self.ws.transaction() as conn:
            gone = conn.execute("DELETE FROM memories WHERE character = ?", (self.character,)).rowcount
            conn.execute("DELETE FROM exchanges WHERE character = ?", (self.character,))
        return gone

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
        rows = {
            row[0]: (row[1], row[2])
            for row in self.ws.conn.execute("SELECT id, encoder, vector FROM memories WHERE character = ?",
                                            (self.character,))
        }
        stale = [m for m in memories if rows[m.id][0] != self.embedder.name]
        if stale:
            fresh = self.embedder.passages([m.text for m in stale])
            with self.ws.transaction() as conn:
                for memory, vector in zip(stale, fresh):
                    conn.execute("UPDATE memories SET encoder = ?, vector = ? WHERE id = ?",
                                 (self.embedder.name, to_blob(vector), memory.id))
                    rows[memory.id] = (self.embedder.name, to_blob(vector))
        return from_blobs([rows[m.id][1] for m in memories], self.embedder.dim)


def _subject(fact: str) -> str | None:
    """What a fact of the form "The user's X is Y" is about ("the user's x"); None for other facts."""
    found = re.match(r"(the user's .+?) (?:is|are|was|were)\b", fact, re.IGNORECASE)
    return found.group(1).lower() if found else None


# ---- facts from the user's own words ----

_ABOUT_THE_USER = {"i": "the user", "me": "the user", "my": "the user's", "mine": "the user's", "myself": "the user",
                   "i'm": "the user is", "i've": "the user has", "am": "is"}


def about_the_user(text: str) -> str:
    """The user's words with "I" and "my" as "the user" and "the user's", as memories are written."""
    return re.sub(r"[A-Za-z']+", lambda w: _ABOUT_THE_USER.get(w.group().lower(), w.group()), text.replace("’", "'"))


# A new clause about the user inside a sentence: "..., and I live in Lisbon", "... but my dog ..."
_CLAUSE_START = re.compile(r"\s*(?:[,;:]|\s-\s|\b(?:and|but|so|because|although)\b)\s*(?=(?:i|i'm|i've|my)\b)",
                           re.IGNORECASE)
_SWAPS = {"my": "their", "me": "them", "mine": "theirs", "myself": "themselves", "i": "they", "i'm": "they're",
          "i've": "they've", "i'd": "they'd", "i'll": "they'll", "am": "are"}
_WORD = re.compile(r"[A-Za-z']+")
# Verbs after "I" that say what the user thinks, wants or asks right now, not what lasts.
_PASSING = frozenset(
    "think thought guess wonder wondered mean meant suppose feel felt see saw know knew hope wish want wanted need "
    "would should could might must just agree understand heard said asked told bet doubt forgot remember promise "
    "am was 'm 'd 'll will shall can't cannot can".split()
)
# "I am ..." is lasting when what follows is one of these (a role, an origin, an age, a lasting condition).
_LASTING_STATES = re.compile(
    r"^(?:a|an|from|originally|\d+|married|single|divorced|widowed|retired|engaged|allergic|vegetarian|vegan|"
    r"left-handed|right-handed|called|named|born|based|living|working|studying|learning|training)\b",
    re.IGNORECASE)
_A_LITTLE = re.compile(r"(?:a|an)\s+(?:bit|little)\b", re.IGNORECASE)  # "I'm a bit tired": passing
_ADVERBS = frozenset("also really still often usually always never sometimes actually totally absolutely".split())
_IRREGULAR_PAST = frozenset(
    "went grew met had was were made got took gave found lost broke wrote read ran swam sang drove rode built bought "
    "sold taught caught fought left began became came spent won fell flew knew saw said".split()
)
_UNCHANGED = frozenset(
    "used don't do doesn't didn't won't can't cannot can could will would should must may might".split())
_META_WORDS = frozenset("message sentence fact facts provided information example none".split())
_STOP_WORDS = frozenset(
    "the a an and or but of in on at to for with from by as is are was were be been being has have had do does did "
    "user user's their they them theirs themselves it its this that these those who which very not no".split()
)


def facts_by_rules(message: str) -> list[str]:
    """Lasting facts in the user's first-person statements, told in the third person: "My dog is called
    Rex" gives "The user's dog is called Rex", "I live in Porto" gives "The user lives in Porto".
    Questions, and statements of what the user thinks, wants or feels right now, give none."""
    facts = []
    for sentence in split_sentences(message.replace("’", "'")):
        if sentence.rstrip().endswith("?"):
            continue
        for clause in _CLAUSE_START.split(sentence):
            fact = _fact_in(clause.strip(" .!,;:-\"'").strip())
            if fact and len(fact.split()) <= MAX_FACT_WORDS + 2:
                facts.append(fact)
    return facts


def _fact_in(clause: str) -> str | None:
    words = clause.split()
    if len(words) < 3:
        return None
    first = words[0].lower()
    if first == "my":
        if len(words) < 4:
            return None  # "my sister does": too little to hold a fact
        return _sentence(["The", "user's", *_swapped(words[1:])])
    if first in ("i'm", "i've") or (first == "i" and words[1].lower() in ("am", "have")):
        rest = words[1:] if first != "i" else words[2:]
        if first == "i've" or (first == "i" and words[1].lower() == "have"):
            if rest and rest[0].lower() in ("to", "got"):
                return None  # "I have to go": an errand, not a fact
            return _sentence(["The", "user", "has", *_swapped(rest)])
        if rest and _LASTING_STATES.match(rest[0]) and not _A_LITTLE.match(" ".join(rest)):
            return _sentence(["The", "user", "is", *_swapped(rest)])
        return None
    if called := re.match(r"^(?:people\s+|everyone\s+|friends\s+)?call\s+me\s+(.+)", clause, re.IGNORECASE):
        return _sentence(["The", "user", "is", "called", *called.group(1).split()])
    if first != "i":
        return None
    verb_at = 1
    while verb_at < len(words) - 1 and words[verb_at].lower() in _ADVERBS:
        verb_at += 1
    verb = words[verb_at].lower()
    if verb in _PASSING or verb.startswith("i'"):
        if verb == "was" and re.match(r"^(?:born|raised|married|a|an)\b", " ".join(words[verb_at + 1:]), re.I):
            return _sentence(["The", "user", *words[1:verb_at], "was", *_swapped(words[verb_at + 1:])])
        return None
    return _sentence(["The", "user", *words[1:verb_at], _third_person(verb), *_swapped(words[verb_at + 1:])])


def _third_person(verb: str) -> str:
    """The verb after "the user": "live" becomes "lives"; past forms and modals stay as they are."""
    if verb in _UNCHANGED or verb in _IRREGULAR_PAST or verb.endswith("ed"):
        return {"do": "does", "don't": "doesn't"}.get(verb, verb)
    if verb == "have":
        return "has"
    if re.search(r"(?:s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def _swapped(words: Sequence[str]) -> list[str]:
    """Words with the user's first person turned into the third ("my" into "their")."""
    result: list[str] = []
    for word in words:
        core = word.strip(".,;:!\"'()")
        swap = _SWAPS.get(core.lower()) if core else None
        if core.lower() == "was" and result and result[-1].lower() == "they":
            swap = "were"
        result.append(word.replace(core, swap, 1) if swap else word)
    return result


def _sentence(words: Sequence[str]) -> str:
    text = " ".join(words).rstrip(" ,;:-")
    return text if text.endswith((".", "!")) else text + "."


# Measured with SmolLM2-135M on 20 messages holding a fact and 10 holding none: this prompt with its examples
# rewrote 15 of the facts (a zero-shot "extract the facts" prompt 7), but also invented facts, often copied
# from the examples; 10 survive the grounding check, with 2 false facts. The rules found all 20, none false.
EXTRACTION_PROMPT = [
    Message("system", "Rewrite what the user says about themselves in the third person, starting with 'The user'. "
                      "If the user says nothing about themselves, answer NONE."),
    Message("user", "I have a brother called Tom."),
    Message("assistant", "The user has a brother called Tom."),
    Message("user", "How are you today?"),
    Message("assistant", "NONE"),
    Message("user", "My car is red and I live in Oslo."),
    Message("assistant", "The user's car is red.\nThe user lives in Oslo."),
]


def facts_by_model(message: str, llm: LLMBackend) -> list[str]:
    """Facts about the user the model finds in a message; a fact is kept only when its words come from the
    message (a small model otherwise invents some)."""
    prompt = [*EXTRACTION_PROMPT, Message("user", message)]
    answer = complete(llm, prompt, max_tokens=64, temperature=0.0)
    return [line for line in (" ".join(raw.split()) for raw in answer.splitlines()) if _grounded(line, message)]


def _grounded(fact: str, message: str) -> bool:
    """A usable fact: starts with "The user", holds no talk about the message itself, and each of its content
    words (or the first five letters of one) appears in the message."""
    if not re.match(r"the user\b", fact, re.IGNORECASE) or len(fact.split()) > MAX_FACT_WORDS:
        return False
    words = {w.lower() for w in _WORD.findall(fact)} - _STOP_WORDS
    if not words or words & _META_WORDS:
        return False
    heard = {w.lower()[:5] for w in _WORD.findall(message)}
    content = [w for w in words if len(w) > 2]
    return bool(content) and all(w[:5] in heard for w in content)


def extract_facts(message: str, method: str = "rules", llm: LLMBackend | None = None) -> list[tuple[str, str]]:
    """Lasting facts in a user's message as (text, method) pairs. `rules` reads first-person statements;
    `model` asks the LLM and keeps its grounded facts, and falls back to the rules when it finds none."""
    if method not in EXTRACTION_METHODS:
        raise CastvoiceError(f"unknown fact extraction {method!r}; choose from {', '.join(EXTRACTION_METHODS)}")
    if method == "off":
        return []
    if method == "model":
        if llm is None:
            raise CastvoiceError("fact extraction by model needs an LLM")
        found = facts_by_model(message, llm)
        if found:
            return [(fact, "model") for fact in found]
    return [(fact, "rules") for fact in facts_by_rules(message)]


# ---- summaries ----

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
