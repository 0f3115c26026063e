"""A character as the assistant plays them: the name, a description the user can edit, the characters they
talk to in the film, and lines of theirs from the film as examples of their manner (`LineIndex`). The prompt
built around them is in `prompt`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from castvoice.assistant.embedding import TextEmbedder, from_blobs, get_embedder, to_blob
from castvoice.assistant.guard import PERSON_WORDS
from castvoice.errors import CastvoiceError
from castvoice.workspace import Workspace
from castvoice.workspace.catalog import screenplay_title, character_name, characters, lines_of, movie_path
from castvoice.workspace.conversations import (line_text_vectors, persona_description, set_persona_description,
                                               store_line_text_vectors)

PARTNER_GAP = 5.0  # seconds between two lines for the second to count as an answer to the first
MIN_EXAMPLE_WORDS = 4  # shorter lines ("Read it.") say little about a manner of speaking
SAME_LINE_SCORE = 0.92  # two examples this similar say the same thing; the second is skipped
MAX_DESCRIPTION_CHARS = 2000


@dataclass
class Persona:
    name: str  # as the workspace spells it
    description: str
    film: str | None  # a title made from the movie's file name
    edited: bool  # the description was written by the user


@dataclass
class Partner:
    name: str
    lines: int  # lines of this character that answer, or are answered by, the persona's, or that name them


def load_persona(ws: Workspace, name: str) -> Persona:
    """The persona of a character of the workspace (the name matches in any case)."""
    spelled = character_name(ws, name)
    film = film_title(ws)
    description = persona_description(ws, spelled)
    if description is not None:
        return Persona(spelled, description, film, True)
    return Persona(spelled, default_description(spelled, film), film, False)


def set_description(ws: Workspace, name: str, description: str | None) -> Persona:
    """Store the user's description of a character; None or blank goes back to the default."""
    spelled = character_name(ws, name)
    text = " ".join((description or "").split())
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise CastvoiceError(f"the description is {len(text)} characters long; keep it under {MAX_DESCRIPTION_CHARS}")
    set_persona_description(ws, spelled, text or None)
    return load_persona(ws, spelled)


def default_description(name: str, film: str | None) -> str:
    return f"{name} is a character from the film {film}." if film else f"{name} is a character from a film."


def film_title(ws: Workspace) -> str | None:
    """The title the screenplay gives, else one from the movie's file name: "The.Lamp_2024" gives "The Lamp 2024"."""
    if title := screenplay_title(ws):
        return title
    movie = movie_path(ws)
    if movie is None:
        return None
    return " ".join(re.sub(r"[._]+", " ", movie.stem).split()) or None


def partners(ws: Workspace, name: str, gap: float = PARTNER_GAP) -> list[Partner]:
    """Who the character talks to in the film, most first: characters whose line comes right before or after
    one of theirs (within `gap` seconds), or whom one of their lines names."""
    every = lines_of(ws, None)
    others = {c.name for c in characters(ws) if c.name and c.name.lower() != name.lower()}
    counts = dict.fromkeys(others, 0)
    for i, line in enumerate(every):
        if line.character is None or line.character.lower() != name.lower():
            continue
        met = set()
        for neighbour in (every[i - 1] if i else None, every[i + 1] if i + 1 < len(every) else None):
            if neighbour is not None and neighbour.character in others and (
                    max(neighbour.start - line.end, line.start - neighbour.end) <= gap):
                met.add(neighbour.character)
        met |= {other for other in others if re.search(rf"\b{re.escape(other)}\b", line.text, re.IGNORECASE)}
        for other in met:
            counts[other] += 1
    return sorted((Partner(n, c) for n, c in counts.items() if c), key=lambda p: (-p.lines, p.name))


class LineIndex:
    """The film's lines with their sentence embeddings (kept in the workspace): a character's own, to pick
    style examples, and everyone's, to recall what happens in the film."""

    def __init__(self, ws: Workspace, name: str, embedder: TextEmbedder | None = None) -> None:
        self.embedder = embedder or get_embedder()
        self.name = character_name(ws, name)
        every = [line for line in lines_of(ws, None) if line.text.strip()]  # in film order
        self._film = [(line.character, " ".join(line.text.split())) for line in every]
        self._film_vectors = _line_vectors(ws, [(line.id, line.text) for line in every], self.embedder)
        own = np.array([(line.character or "").lower() == self.name.lower() for line in every], bool)
        self.lines = [text for (_, text), mine in zip(self._film, own) if mine]
        self._vectors = self._film_vectors[own]
        self._personal = np.array([bool(PERSON_WORDS.search(line)) for line in self.lines], bool)  # with an I or a you
        self._distinct = self._distinctiveness(self._film_vectors[~own])

    def scene(self, message: str, count: int) -> list[tuple[str | None, str]]:
        """The film's lines (speaker, text) closest in meaning to a message, in film order."""
        if not self._film:
            return []
        return [self._film[i] for i in sorted(np.argsort(-(self._film_vectors @ self.embedder.query(message)))[:count])]

    def own_answer(self, message: str) -> str | None:
        """The character's own film line closest in meaning to a message, among those that speak to someone
        (with an I or a you) when there are any; None when it has no lines."""
        if not self.lines:
            return None
        scores = self._vectors @ self.embedder.query(message)
        if self._personal.any():
            scores = np.where(self._personal, scores, -np.inf)
        return self.lines[int(np.argmax(scores))]

    def _distinctiveness(self, others: np.ndarray) -> np.ndarray:
        """How much more each line is like the character's lines than like other characters' lines."""
        if not self.lines:
            return np.zeros(0)
        score = self._vectors @ _unit(self._vectors.mean(axis=0))
        if len(others):
            score = score - self._vectors @ _unit(others.mean(axis=0))
        return score

    def characteristic(self, count: int) -> list[str]:
        """The lines most like the character's own manner and least like the others', longer lines first."""
        return self._picked(self._distinct, count)

    def _picked(self, scores: np.ndarray, count: int) -> list[str]:
        long_enough = np.array([len(line.split()) >= MIN_EXAMPLE_WORDS for line in self.lines])
        order = np.lexsort((-scores, ~long_enough)) if long_enough.any() else np.argsort(-scores)
        picked: list[int] = []
        for index in order:
            if len(picked) == count:
                break
            if all(float(self._vectors[index] @ self._vectors[p]) < SAME_LINE_SCORE for p in picked):
                picked.append(int(index))
        return [self.lines[i] for i in picked]


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def _line_vectors(ws: Workspace, lines: list[tuple[int, str]], embedder: TextEmbedder) -> np.ndarray:
    """Embeddings of lines (id, text), made for those not yet stored (or stored for other text or another
    embedder) and kept in the workspace."""
    stored = line_text_vectors(ws, [line_id for line_id, _ in lines])
    missing = [(i, text) for i, text in lines if stored.get(i, ("", "", b""))[:2] != (embedder.name, text)]
    if missing:
        made = [to_blob(vector) for vector in embedder.passages([text for _, text in missing])]
        if not ws.read_only:  # a read-only workspace is read as it is; the vectors are made again next time
            store_line_text_vectors(ws, [(line_id, embedder.name, text, blob)
                                         for (line_id, text), blob in zip(missing, made)])
        stored.update({line_id: (embedder.name, text, blob) for (line_id, text), blob in zip(missing, made)})
    return from_blobs([stored[i][2] for i, _ in lines], embedder.dim)
