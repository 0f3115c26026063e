"""Speaker figures on the shared evaluation recordings: diarization error rate, speed, verification EER.

DER is pyannote.metrics' DiarizationErrorRate with overlapped speech scored. Its `collar` argument
is the TOTAL width of the forgiveness zone centred on each reference boundary (pyannote/metrics/
utils.py removes [t - collar/2, t + collar/2]), so the customary +-0.25 s collar is `collar=0.5`;
DER without any collar is reported beside it. Per split and overall, DER is accumulated over files
(error seconds over reference seconds), not averaged. Speeds are real-time factors (processing
seconds / audio seconds) beside a bare PyAV decode of the same files measured in the same run.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np

from castvoice.bench import eval_root
from castvoice.console import log
from castvoice.media.decode import ANALYSIS_RATE, load_audio
from castvoice.spans import Segment as SpeechSegment

TARGET_DER = 0.25
TARGET_RTF = 0.1
TARGET_EER_CAMPPLUS = 0.01
COLLAR = 0.5  # pyannote.metrics' total collar width: +-0.25 s around each reference boundary
AMI_SPLITS = {"train": "trn", "development": "dev", "test": "tst"}
ENCODERS = ("campplus", "resemblyzer")


def _annotation(turns: list[SpeechSegment], uri: str):
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=uri)
    for index, turn in enumerate(turns):
        annotation[Segment(turn.start, turn.end), index] = turn.speaker
    return annotation


def _ami_files() -> list[tuple[str, Path, list[SpeechSegment], tuple[float, float]]]:
    """(split, wav, reference turns, scored span) for each AMI excerpt whose audio is present."""
    from castvoice.speech.formats import read_rttm

    folder = eval_root() / "pyannote_ami_debug"
    files = []
    for split in AMI_SPLITS:
        references = read_rttm(folder / f"debug.{split}.rttm")
        spans = {}
        for line in (folder / f"debug.{split}.uem").read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if len(fields) == 4:
                spans[fields[0]] = (float(fields[2]), float(fields[3]))
        for uri in sorted(references):
            if (folder / f"{uri}.wav").is_file():
                files.append((split, folder / f"{uri}.wav", references[uri], spans[uri]))
    return files


class _Scores:
    """DER with and without the collar, accumulated over the files scored into it."""

    def __init__(self) -> None:
        from pyannote.metrics.diarization import DiarizationErrorRate

        self.collared = DiarizationErrorRate(collar=COLLAR, skip_overlap=False)
        self.strict = DiarizationErrorRate(collar=0.0, skip_overlap=False)

    def add(self, reference, hypothesis, uem) -> dict:
        detail = self.collared(reference, hypothesis, uem=uem, detailed=True)
        self.strict(reference, hypothesis, uem=uem)
        return detail

    def row(self) -> dict:
        totals = self.collared.accumulated_
        scored = max(totals["total"], 1e-9)
        return {"der": round(abs(self.collared), 4), "der_no_collar": round(abs(self.strict), 4),
                "missed": round(totals["missed detection"] / scored, 4),
                "false_alarm": round(totals["false alarm"] / scored, 4),
                "confusion": round(totals["confusion"] / scored, 4), "scored_seconds": round(totals["total"], 1)}


def _warm_up() -> None:
    """Load every diarization model before anything is timed."""
    from castvoice.speech.diarize import diarize_file

    diarize_file(eval_root() / "fasterwhisper_tests" / "stereo_diarization.wav")


def der_rows() -> list[dict]:
    """DER and speed per AMI excerpt, then accumulated per split and overall."""
    from pyannote.core import Segment, Timeline

    from castvoice.bench.ingest import bare_decode_seconds
    from castvoice.speech.diarize import diarize

    files = _ami_files()
    _warm_up()
    rows, by_split, overall = [], {split: _Scores() for split in AMI_SPLITS}, _Scores()
    seconds = {split: [0.0, 0.0, 0.0] for split in AMI_SPLITS}  # audio, diarization, decode
    for split, wav, reference_turns, (start, end) in files:
        log.info("DER: %s", wav.name)
        audio = load_audio(wav)
        began = time.perf_counter()
        turns = diarize(audio)
        took = time.perf_counter() - began
        decode = bare_decode_seconds(wav)
        reference, hypothesis = _annotation(reference_turns, wav.stem), _annotation(turns, wav.stem)
        uem = Timeline([Segment(start, end)])
        single = _Scores()
        single.add(reference, hypothesis, uem)
        by_split[split].add(reference, hypothesis, uem)
        overall.add(reference, hypothesis, uem)
        duration = len(audio) / ANALYSIS_RATE
        seconds[split] = [a + b for a, b in zip(seconds[split], (duration, took, decode))]
        rows.append({"file": wav.stem, "split": split, "reference_speakers": len(reference.labels()),
                     "speakers_found": len(hypothesis.labels()), **single.row(), **_speed(duration, took, decode)})
    for split, scores in by_split.items():
        rows.append({"file": f"all {split}", "split": split, **scores.row(), **_speed(*seconds[split])})
    total = [sum(values) for values in zip(*seconds.values())]
    rows.append({"file": "overall", "split": "all", **overall.row(), **_speed(*total)})
    return rows


def _speed(audio_seconds: float, diarization_seconds: float, decode_seconds: float) -> dict:
    return {"audio_seconds": round(audio_seconds, 1), "seconds": round(diarization_seconds, 2),
            "rtf": round(diarization_seconds / audio_seconds, 4), "decode_rtf": round(decode_seconds / audio_seconds, 4),
            "x_decode": round(diarization_seconds / max(decode_seconds, 1e-9), 1)}


def stereo_row() -> dict:
    """The two-voice stereo file mixed to mono: how many speakers are found (expected 2)."""
    from castvoice.speech.diarize import diarize

    path = eval_root() / "fasterwhisper_tests" / "stereo_diarization.wav"
    turns = diarize(load_audio(path))  # load_audio averages the channels
    found = len({t.speaker for t in turns})
    return {"file": path.name, "expected_speakers": 2, "speakers_found": found, "passed": found == 2,
            "turns": " ".join(f"{t.speaker}:{t.start:.2f}-{t.end:.2f}" for t in turns)}


def movie_row() -> dict:
    """The demo film (three Kokoro voices over music, 166 s) through `diarize_file`, decoding included."""
    from pyannote.core import Segment, Timeline

    from castvoice.assets import cache_dir
    from castvoice.bench.ingest import bare_decode_seconds
    from castvoice.demo.film import build
    from castvoice.media.probe import probe
    from castvoice.speech.diarize import diarize_file

    movie = build(cache_dir() / "demo-film")
    truth = json.loads((movie.parent / "truth.json").read_text(encoding="utf-8"))["segments"]
    _warm_up()
    reference = _annotation([SpeechSegment(s["start"], s["end"], speaker=s["character"]) for s in truth], "demo")
    decode = bare_decode_seconds(movie)
    began = time.perf_counter()
    turns = diarize_file(movie)
    took = time.perf_counter() - began
    duration = probe(movie).duration
    scores = _Scores()
    scores.add(reference, _annotation(turns, "demo"), Timeline([Segment(0.0, duration)]))
    return {"file": movie.name, "reference_speakers": len(reference.labels()),
            "speakers_found": len({t.speaker for t in turns}), **scores.row(), **_speed(duration, took, decode)}


def _verification_set() -> tuple[list[str], list[np.ndarray]]:
    """Speaker labels and audio: LibriSpeech test-other (speaker = folder) and CMU ARCTIC (in the name)."""
    root = eval_root()
    items = [(p.parent.name, p) for p in sorted((root / "resemblyzer_librispeech_test_other").glob("*/*.flac"))]
    items += [(p.stem.split("_")[3], p) for p in sorted((root / "cmu_arctic_pra").glob("cmu_arctic_*.wav"))]
    return [speaker for speaker, _ in items], [load_audio(path) for _, path in items]


def equal_error_rate(same: np.ndarray, different: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): where the false-accept rate of `different` meets the false-reject rate of `same`."""
    candidates = np.unique(np.r_[same, different])
    false_accept = np.array([(different >= t).mean() for t in candidates])
    false_reject = np.array([(same < t).mean() for t in candidates])
    best = int(np.argmin(np.maximum(false_accept, false_reject)))
    return float(max(false_accept[best], false_reject[best])), float(candidates[best])


def eer_rows(encoders: tuple[str, ...] = ENCODERS) -> list[dict]:
    """Verification EER over every same-speaker and different-speaker pair, per encoder."""
    from castvoice.speech.embeddings import get_encoder

    speakers, audio = _verification_set()
    pairs = list(itertools.combinations(range(len(audio)), 2))
    is_same = np.array([speakers[i] == speakers[j] for i, j in pairs])
    first, second = np.array(pairs).T
    rows = []
    for name in encoders:
        log.info("EER: %s", name)
        encoder = get_encoder(name)
        encoder.embed(audio[0])  # load and warm up outside the timing
        began = time.perf_counter()
        vectors = encoder.embed_many(audio)
        took = time.perf_counter() - began
        scores = np.sum(vectors[first] * vectors[second], axis=1)
        eer, threshold = equal_error_rate(scores[is_same], scores[~is_same])
        rows.append({"encoder": name, "utterances": len(audio), "speakers": len(set(speakers)),
                     "same_pairs": int(is_same.sum()), "different_pairs": int((~is_same).sum()),
                     "eer": round(eer, 4), "threshold": round(threshold, 3),
                     "mean_same": round(float(scores[is_same].mean()), 3),
                     "mean_different": round(float(scores[~is_same].mean()), 3),
                     "lowest_same": round(float(scores[is_same].min()), 3),
                     "highest_different": round(float(scores[~is_same].max()), 3),
                     "audio_seconds": round(sum(len(a) for a in audio) / ANALYSIS_RATE, 1),
                     "embed_rtf": round(took / (sum(len(a) for a in audio) / ANALYSIS_RATE), 4)})
    return rows
