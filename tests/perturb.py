"""Screenplay perturbations: what real scripts look like next to the film that was shot."""

from __future__ import annotations

import random

from castvoice.text.types import DialogueBlock

REWORDINGS = {
    "do not": "don't", "is": "'s", "you are": "you're", "it is": "it's", "that is": "that's",
    "we need": "we've got to", "before": "by", "tonight": "this evening", "somebody": "someone",
    "look": "see", "very": "really", "simply": "just", "fine": "alright", "back": "returned",
    "never": "not ever", "about": "around", "heavy": "big", "help": "give me a hand",
}


def paraphrase(text: str, rng: random.Random) -> str:
    """Reword a line: common rewordings, one word dropped, and the two halves of a comma swapped."""
    out = text.lower()
    for old, new in REWORDINGS.items():
        out = out.replace(f" {old} ", f" {new} ")
    words = out.split()
    if len(words) > 4:
        del words[rng.randrange(1, len(words) - 1)]
    out = " ".join(words)
    if ", " in out:
        first, rest = out.split(", ", 1)
        out = f"{rest.rstrip('.?!')}, {first}."
    return out


def perturb(blocks: list[DialogueBlock], seed: int = 1) -> tuple[list[DialogueBlock], set[int]]:
    """Delete 10% of the blocks, paraphrase another 10%, swap two scenes.

    Returns the new blocks and the indices (into the original list) of the deleted ones."""
    rng = random.Random(seed)
    indices = list(range(len(blocks)))
    rng.shuffle(indices)
    tenth = max(1, len(blocks) // 10)
    deleted, reworded = set(indices[:tenth]), set(indices[tenth : 2 * tenth])
    kept = [
        DialogueBlock(b.character, paraphrase(b.text, rng) if i in reworded else b.text, b.scene, b.parenthetical)
        for i, b in enumerate(blocks)
        if i not in deleted
    ]
    scenes = sorted({b.scene for b in kept})
    a, b = scenes[1], scenes[3]
    order = {s: s for s in scenes} | {a: b, b: a}
    kept.sort(key=lambda block: order[block.scene])  # stable: keeps the order within a scene
    return kept, deleted
