"""Keeping a reply in character.

Words a film character has no reason to say to a visitor (AI, assistant, model, the model's maker) are kept
out of a local model's sampling (`AVOIDED_WORDS`). What still slips out of character (talk as an assistant, a
claim to be a program or a "yes" to being one, code or markup, the user's message said back) is caught before it
is passed on: the reply is held back piece by piece (its first clause, then each sentence) and checked with
everything before it. A slip before anything was passed on makes the reply again, up to `TRIES` times (the last
try may say the user's message back, or an earlier answer again: that is better than silence; when that slips
too, a line of the character's own from the film is said instead); a later one ends the reply before the piece
that holds it. A reply also ends after `MAX_SENTENCES` sentences, to be spoken. The character's own name calling
the user ("Goodnight, Diane!" from Diane) is left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from castvoice.assistant.llm.base import Stream
from castvoice.text.normalize import words
from castvoice.text.sentences import SentenceCutter

AVOIDED_WORDS = ("AI", "assistant", "Assistant", "chatbot", "model", "OpenAI", "Alibaba", "Qwen", "ChatGPT",
                 "artificial", "Artificial", "programmed", "```")
MAX_SENTENCES = 3
TRIES = 3
# The first piece is checked and passed on after this many words (or a clause), and spoken at once: Kokoro
# takes about half a second for three words on 2 cores, and the reply's first audio waits for it.
FIRST_CHECKED_WORDS = 3
HOTTER = 0.2  # each new try samples this much hotter, to leave the path that slipped

SLIPS = {
    "talks as an assistant": re.compile(
        r"\b(?:as an? (?:ai|assistant|language model)|(?:an? |the )?(?:ai|virtual|digital) assistant|language[ _-]?(?:model|模型|agent|machine|program)|intelligent (?:agent|system|machine)"
        r"|artificial intelligence|chat ?bot|openai|alibaba|qwen|chatgpt|how (?:can|may) i (?:help|assist)"
        r"|(?:can't|cannot|can not|unable to) (?:assist|help) with|an assist\b"
        r"|(?:here|happy|glad) to (?:help|assist)"
        r"|i (?:don't|do not|cannot|can't) have (?:personal|feelings|emotions|a body|opinions)"
        r"|my (?:programming|training data|instructions)"
        r"|(?:i was|i've been|i have been|i am|i'm) (?:trained|programmed|designed|created|built) (?:to|by|on)"
        r"|designed to (?:assist|help)|anything else (?:i|we) can|(?:can|may) i (?:assist|help) you|assist you"
        r"|language processing|computer program|what (?:would you like|you would like) to (?:discuss|talk about)"
        r"|i(?: am|'m) (?:just |only )?(?:an? (?:[\w-]+ ){0,3})?(?:ai|program|model|machine|computer|bot|software)\b"
        r"|let's (?:start|begin|continue|have) (?:this|our|a|the) (?:conversation|chat|discussion)"
        r"|(?:the )?information (?:provided|given|you provided))",
        re.IGNORECASE),
    "steps out of the story": re.compile(
        r"\b(?:an? |the )?character (?:from|in)\b|\b(?:this|the|a) (?:film|movie|screenplay"
        r"|role-?play)\b|\bfictional\b|\bas an? (?:actor|actress)\b", re.IGNORECASE),
    "writes code or markup": re.compile(r"`|^\s*(?:[-*#>]|\d+\.)\s|\bdef \w+\(|\bimport \w+|</?\w+>",
                                        re.MULTILINE),
}
# A small model given film lines tends to tell them ("Marcus says that...", "Oliver forgot nothing.") instead of
# talking, and to name the character itself with a verb ("Diane explains...": itself in the third person).
OWN_VERBS = (r"(?:says|said|explains|explained|tells|told|asks|asked|answers|answered|replies|replied|is|was|has|had"
             r"|does|did|will|would|can|could|thinks|thought|feels|felt|knows|knew)")
PERSON_WORDS = re.compile(r"\b(?:i|i'\w+|me|my|mine|myself|we|us|our|you|you'\w+|your|yours)\b", re.IGNORECASE)
LABEL = re.compile(r"\s*([A-Z][\w.' -]{0,30}?)\s*:(?:\s|$)")  # a speaker's label opening a reply: "Marcus: "
ECHO_WORDS = 3  # a reply that opens with this many words of the prompt (all of a shorter one) says it back
# Asked whether it is a machine, a small model tends to grant it in a word ("Yes, I am.").
MACHINE_QUESTION = re.compile(r"\b(?:ai|a\.i\.|robot|bot|chat ?bot|machine|computer|program|model|artificial)\b",
                              re.IGNORECASE)
REPEATED_WORDS = 5  # a reply holding this many words in a row of a recent reply says it again ("Two nights. ...")
GRANTED = re.compile(r"\W*(?:yes|yeah|yep|yup|correct|indeed|that's right|that is right)\b", re.IGNORECASE)


def slip(reply: str, own_name: str, echoes: Sequence[str] = (), others: Sequence[str] = (),
         message: str = "", earlier: Sequence[str] = ()) -> str | None:
    """Why a reply (or its beginning) of the character `own_name` to the user's `message` is out of character;
    None when it is not. `echoes` are texts of the prompt (the user's message) that a reply must not say back;
    `others` are the names of the film's other characters, whose words a reply must not narrate; `earlier` are
    the character's recent replies, which it must not say again."""
    for reason, pattern in SLIPS.items():
        if pattern.search(reply):
            return reason
    if re.search(rf"\((?:{'|'.join(map(re.escape, (own_name, *others, 'someone')))})\)", reply, re.IGNORECASE):
        return "reads the material out"  # a film line as the prompt quotes it: "Then who gains? (Marcus)"
    if MACHINE_QUESTION.search(message) and GRANTED.match(reply):
        return "grants being a machine"
    if (label := LABEL.match(reply)) and label.group(1).casefold() != own_name.casefold():
        return "speaks as someone else"
    if re.search(rf"\b{re.escape(own_name)}\s+{OWN_VERBS}\b", reply, re.IGNORECASE):
        return "talks of itself in the third person"
    if others and _narrates(reply, others):
        return "narrates the film"
    heard = words(reply)
    if any(_runs(heard) & _runs(words(text)) for text in earlier):
        return "says an earlier reply again"
    for text in echoes:
        said = words(text)
        long_enough = len(heard) >= ECHO_WORDS if len(said) >= ECHO_WORDS else len(heard) == len(said)
        if said and long_enough and heard[:len(said)] == said[:len(heard)]:
            return "says the prompt back"
    return None


def _runs(said: list[str]) -> set[tuple[str, ...]]:
    """Every REPEATED_WORDS words in a row."""
    return {tuple(said[i:i + REPEATED_WORDS]) for i in range(len(said) - REPEATED_WORDS + 1)}


def _narrates(reply: str, others: Sequence[str]) -> bool:
    """Whether a sentence of the reply opens with another character doing something and holds no word of the
    speaker or the listener: told as a story ("Marcus says it was Tuesday.", not "Marcus told me so.")."""
    told = re.compile(rf"\s*(?:{'|'.join(map(re.escape, others))})\s+(?!and\b|or\b)\w", re.IGNORECASE)
    return any(told.match(sentence) and not PERSON_WORDS.search(sentence)
               for sentence in re.split(r"(?<=[.!?])\s+", reply))


def in_character(make_reply: Callable[[float], Stream], temperature: float, own_name: str, message: str, *,
                 never_said: Sequence[str] = (), said_before: Sequence[str] = (), others: Sequence[str] = (),
                 fallback: str | None = None) -> Stream:
    """The reply `make_reply(temperature)` streams, held back piece by piece and checked (see the module): it
    must not say back the user's `message`, nor open as one of the character's replies `said_before` or hold
    REPEATED_WORDS words in a row of one (a small model copies its last answer), nor say any of `never_said`
    (the prompt's own words), nor narrate what the film's `others` say. When every try slips before any piece
    is passed on, the reply is `fallback` (a line of the character's own), if given."""
    for attempt in range(TRIES):
        pieces = make_reply(temperature + attempt * HOTTER)
        # The user's words said back or an answer given again are better than silence: the last try may say
        # them, but nothing else.
        last = attempt == TRIES - 1
        echoes = tuple(never_said) if last else (message, *said_before, *never_said)
        passed = yield from _checked(pieces, own_name, echoes, others, message, () if last else said_before)
        if passed:
            return
    if fallback:
        yield fallback


def _cut(pieces: Stream, cutter: SentenceCutter) -> Stream:
    """The reply cut as `cutter` cuts it, the rest when it ends included."""
    for piece in pieces:
        yield from cutter.feed(piece)
    yield from cutter.flush()


def without_own_name_called(piece: str, own_name: str) -> str:
    """The piece without the character's own name calling the user, which a small model copies from a greeting
    ("Goodnight, Diane!" from Diane is "Goodnight!", a piece that is only "Diane." is empty; "It's me, Diane."
    stays)."""
    name = re.escape(own_name)
    piece = re.sub(rf"(?<!\bme),\s*{name}(?=\s*[,.!?]|$)", "", piece, flags=re.IGNORECASE)
    return re.sub(rf"^\s*{name}\s*[,.!?]+\s*", "", piece, flags=re.IGNORECASE)


def _checked(pieces: Stream, own_name: str, echoes: Sequence[str], others: Sequence[str], message: str,
             earlier: Sequence[str]) -> Stream:
    """The checked pieces of one reply; returns whether any was passed on."""
    cutter, said, sentences = SentenceCutter(FIRST_CHECKED_WORDS), "", 0
    try:
        for part in _cut(pieces, cutter):
            if not (part := without_own_name_called(part, own_name)):
                continue
            if slip(f"{said} {part}", own_name, echoes, others, message, earlier):
                return bool(said)
            said = f"{said} {part}".strip()
            yield part if said == part else " " + part
            sentences += part.rstrip()[-1:] in ".!?…"
            if sentences >= MAX_SENTENCES:
                return True
        return bool(said)  # an empty reply is made again
    finally:
        pieces.close()
