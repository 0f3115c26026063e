"""Attribution of subtitle lines to screenplay characters."""

from __future__ import annotations

import pytest

from castvoice.text.attribution import attribute
from castvoice.text.screenplay import read_screenplay
from castvoice.text.subtitles import read_subtitles
from castvoice.spans import Segment
from castvoice.text.types import DialogueBlock
from perturb import perturb


def _cues(*texts: str) -> list[Segment]:
    return [Segment(2.0 * i, 2.0 * i + 1.5, text) for i, text in enumerate(texts)]


def _names(results) -> list[str | None]:
    return [r.character for r in results]


SCRIPT = [
    DialogueBlock("ANNA", "Where were you last night? I waited until the candles burned out.", 1),
    DialogueBlock("BEN", "At the docks. The cargo came in late again.", 1),
    DialogueBlock("ANNA", "Yes.", 1),
    DialogueBlock("BEN", "You never believe a word I say about the harbour.", 1),
    DialogueBlock("CORA", "The train to the capital leaves at seven sharp.", 2),
    DialogueBlock("BEN", "Yes.", 2),
    DialogueBlock("CORA", "Then pack only what you can carry yourself.", 2),
]


def test_lines_split_over_cues_and_short_replies_follow_their_context():
    cues = _cues(
        "Where were you last night?", "I waited until the candles burned out.",
        "At the docks. The cargo came in late again.", "Yes.",
        "You never believe a word I say about the harbour.",
        "The train to the capital leaves at seven sharp.", "Yes.", "Then pack only what you can carry yourself.",
    )
    assert _names(attribute(cues, SCRIPT)) == ["ANNA", "ANNA", "BEN", "ANNA", "BEN", "CORA", "BEN", "CORA"]


def test_reordered_scenes_cut_lines_and_added_lines():
    cues = _cues(
        "The train to the capital leaves at seven sharp.",
        "Then pack only what you can carry yourself.",
        "Completely improvised words nobody wrote down here.",
        "Where were you last night? I waited until the candles burned out.",
        "You never believe a word I say about the harbour.",
    )
    results = attribute(cues, SCRIPT)
    assert _names(results) == ["CORA", "CORA", None, "ANNA", "BEN"]
    assert all(r.confidence > 0.9 for r in results if r.character)


def test_paraphrase_still_matches():
    cues = _cues("Where have you been last night? I waited till the candles went out.",
                 "At the docks, the cargo was late again.")
    assert _names(attribute(cues, SCRIPT)) == ["ANNA", "BEN"]


def test_without_a_screenplay_nothing_is_named():
    assert _names(attribute(_cues("Hello."), [])) == [None]
    assert attribute([], SCRIPT) == []


@pytest.fixture(scope="module")
def demo_text(demo):
    return read_subtitles(demo / "demo.srt").cues, read_screenplay(demo / "demo.screenplay.txt").blocks


def test_demo_screenplay_names_every_line(demo_text, truth):
    cues, blocks = demo_text
    assert len(cues) == len(truth)
    names = _names(attribute(cues, blocks))
    correct = sum(n == g["character"] for n, g in zip(names, truth))
    assert correct / len(truth) >= 0.95


def test_perturbed_screenplay(demo_text, truth):
    """10% of dialogue deleted, 10% paraphrased, two scenes swapped, over 20 random draws.

    Lines whose dialogue was deleted cannot be named from text and stay unnamed (voice names them
    later), so the all-lines figure is bounded by what was deleted; every other line must be right."""
    cues, blocks = demo_text
    all_lines, kept_lines, wrong = [], [], []
    for seed in range(1, 21):
        perturbed, deleted = perturb(blocks, seed)
        deleted_texts = {blocks[i].text for i in deleted}
        names = _names(attribute(cues, perturbed))
        right = [n == g["character"] for n, g in zip(names, truth)]
        still_there = [not any(g["text"] in t for t in deleted_texts) for g in truth]
        all_lines.append(sum(right) / len(truth))
        kept_lines.append(sum(r for r, s in zip(right, still_there) if s) / sum(still_there))
        wrong.append(sum(n is not None and not r for n, r in zip(names, right)))
    mean_all = sum(all_lines) / len(all_lines)
    print(f"perturbed screenplay: all lines {mean_all:.1%} (min {min(all_lines):.1%}), "
          f"lines still in the screenplay {sum(kept_lines) / len(kept_lines):.1%}, wrongly named {sum(wrong)}")
    assert mean_all >= 0.90
    assert min(kept_lines) >= 0.97
    assert max(wrong) <= 1
