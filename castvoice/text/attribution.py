"""Name subtitle lines by aligning them with a screenplay's dialogue.

Each subtitle cue is scored against every dialogue block by how much of the cue's wording the block
contains (IDF-weighted words and word pairs, so paraphrase earns partial credit and short cues can
match part of a long speech). A hidden Markov model over screenplay positions then reads the cues in
film order: staying on a block or moving to the next one is free, skipping a few blocks (lines cut
from the film) costs a little, and any other jump (reordered scenes) costs more; a "no match" state
absorbs lines the screenplay lacks. Forward-backward gives each cue a posterior over characters,
whose maximum is the name and its confidence.

Other evidence of who speaks a cue (how much its voice sounds like each character) enters the same
model: as a log-likelihood ratio per cue and character, added to the emission of every block of that
character. Where the wording is ambiguous (the same "Hello?" in several blocks), the voice decides;
where the voice is unsure, the wording and the order of the screenplay do.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from castvoice.text.normalize import words
from castvoice.spans import Segment
from castvoice.text.types import DialogueBlock

CANDIDATES = 12  # blocks considered per cue
NO_MATCH_SCORE = 0.3  # a cue must match a block better than this to be worth naming
SHARPNESS = 12.0  # converts scores to log-potentials; higher trusts the best path more
MIN_CONFIDENCE = 0.6
JUMP = -0.6  # moving anywhere but the same or next block (reordered scenes)
SKIP = -0.05  # per block skipped (lines cut from the film), up to four


@dataclass
class Attribution:
    character: str | None
    confidence: float
    block: int | None  # index of the matched dialogue block


@dataclass
class Evidence:
    """Log-likelihood ratios that each cue (row) is spoken by each character (column), from outside the text."""

    characters: list[str]
    log_ratios: np.ndarray  # cues x characters; 0 where there is no evidence


def _features(text: str) -> list[str]:
    tokens = words(text)
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]


def _containment(cues: list[Segment], blocks: list[DialogueBlock]) -> sparse.csr_matrix:
    """score[i, j]: IDF-weighted share of cue i's words and word pairs found in block j."""
    cue_feats = [_features(c.text) for c in cues]
    block_feats = [set(_features(b.text)) for b in blocks]
    vocab: dict[str, int] = {}
    for feats in block_feats:
        for f in feats:
            vocab.setdefault(f, len(vocab))
    doc_freq = Counter(f for feats in block_feats for f in feats)
    idf = {f: np.log((1 + len(blocks)) / (1 + n)) + 1.0 for f, n in doc_freq.items()}
    unseen_idf = np.log(1 + len(blocks)) + 1.0

    rows, cols, vals, totals = [], [], [], []
    for i, feats in enumerate(cue_feats):
        weights = Counter()
        for f in feats:
            weights[f] = idf.get(f, unseen_idf)
        totals.append(sum(weights.values()) or 1.0)
        for f, w in weights.items():
            if f in vocab:
                rows.append(i)
                cols.append(vocab[f])
                vals.append(w)
    cue_matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(len(cues), len(vocab)))
    b_rows = [j for j, feats in enumerate(block_feats) for _ in feats]
    b_cols = [vocab[f] for feats in block_feats for f in feats]
    block_matrix = sparse.csr_matrix(
        (np.ones(len(b_cols)), (b_rows, b_cols)), shape=(len(blocks), len(vocab))
    )
    return sparse.diags(1.0 / np.asarray(totals)) @ (cue_matrix @ block_matrix.T).tocsr()


@dataclass
class _Step:
    """The hidden states for one cue: each matches a block, or nothing (block -1) while keeping the
    screenplay position reached so far, so an unmatched line does not make a jump free."""

    block: np.ndarray
    position: np.ndarray  # -1: nothing matched yet
    emission: np.ndarray


def _transition(prev: _Step, nxt: _Step) -> np.ndarray:
    """Score of every move from a state of `prev` to a state of `nxt`."""
    delta = nxt.block[None, :] - prev.position[:, None]
    score = np.where((delta == 0) | (delta == 1), 0.0, JUMP)
    score = np.where((delta >= 2) & (delta <= 5), SKIP * (delta - 1), score)
    score = np.where(prev.position[:, None] < 0, 0.0, score)  # the film may open anywhere in the script
    keeps_position = prev.position[:, None] == nxt.position[None, :]
    return np.where(nxt.block[None, :] < 0, np.where(keeps_position, 0.0, -np.inf), score)


def _step(scores: sparse.csr_matrix, i: int, no_match_positions: np.ndarray, voice: np.ndarray) -> _Step:
    """The states for cue `i`; `voice` holds the outside evidence for each block's character."""
    row = scores.getrow(i)
    order = np.argsort(-row.data)[:CANDIDATES]
    blocks = row.indices[order]
    return _Step(
        block=np.concatenate([blocks, np.full(len(no_match_positions), -1)]),
        position=np.concatenate([blocks, no_match_positions]),
        emission=np.concatenate([SHARPNESS * row.data[order] + voice[blocks],
                                 np.full(len(no_match_positions), SHARPNESS * NO_MATCH_SCORE)]),
    )


def _likeliest_positions(step: _Step, log_alpha: np.ndarray) -> np.ndarray:
    best: dict[int, float] = {}
    for position, score in zip(step.position.tolist(), log_alpha.tolist()):
        best[position] = max(best.get(position, -np.inf), score)
    return np.array(sorted(best, key=best.get, reverse=True)[:CANDIDATES])


def _block_evidence(blocks: list[DialogueBlock], evidence: Evidence | None, cues: int) -> np.ndarray:
    """cues x blocks: the outside evidence for each block's character."""
    if evidence is None:
        return np.zeros((cues, len(blocks)))
    column = {name: i for i, name in enumerate(evidence.characters)}
    per_block = np.zeros((cues, len(blocks)))
    for j, block in enumerate(blocks):
        if block.character in column:
            per_block[:, j] = evidence.log_ratios[:, column[block.character]]
    return per_block


def attribute(cues: list[Segment], blocks: list[DialogueBlock], evidence: Evidence | None = None) -> list[Attribution]:
    """Give each cue the screenplay character whose dialogue it matches, with a confidence; `evidence`
    (e.g. voice) weighs in where given."""
    if not cues:
        return []
    if not blocks:
        return [Attribution(None, 0.0, None) for _ in cues]
    scores = _containment(cues, blocks)
    voice = _block_evidence(blocks, evidence, len(cues))

    steps = [_step(scores, 0, np.array([-1]), voice[0])]
    log_alpha = [steps[0].emission]
    for i in range(1, len(cues)):
        step = _step(scores, i, _likeliest_positions(steps[-1], log_alpha[-1]), voice[i])
        trans = SHARPNESS * _transition(steps[-1], step)
        log_alpha.append(_logsumexp(log_alpha[-1][:, None] + trans, axis=0) + step.emission)
        steps.append(step)
    log_beta = [np.zeros(len(steps[-1].block))]
    for i in range(len(cues) - 1, 0, -1):
        trans = SHARPNESS * _transition(steps[i - 1], steps[i])
        following = log_beta[0] + steps[i].emission
        log_beta.insert(0, _logsumexp(trans + following[None, :], axis=1))

    results = []
    for i in range(len(cues)):
        post = log_alpha[i] + log_beta[i]
        post = np.exp(post - post.max())
        post /= post.sum()
        by_name: dict[str | None, float] = {}
        best_block: dict[str | None, tuple[float, int | None]] = {}
        for state, p in zip(steps[i].block.tolist(), post):
            name = blocks[state].character if state >= 0 else None
            by_name[name] = by_name.get(name, 0.0) + p
            if p > best_block.get(name, (-1.0, None))[0]:
                best_block[name] = (p, int(state) if state >= 0 else None)
        name = max(by_name, key=by_name.get)
        confidence = float(by_name[name])
        if name is None or confidence < MIN_CONFIDENCE:
            results.append(Attribution(None, confidence if name is not None else 0.0, None))
        else:
            results.append(Attribution(name, confidence, best_block[name][1]))
    return results


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    peak = a.max(axis=axis, keepdims=True)
    return (peak + np.log(np.exp(a - peak).sum(axis=axis, keepdims=True))).squeeze(axis)
