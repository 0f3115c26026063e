"""`castvoice bench align`: forced-alignment accuracy against hand or reference labels, and speed.

Accuracy: for every reference word, |start error| and |end error| of the aligned word. Speed:
alignment time per second of audio, beside a bare PyAV decode of the same files in the same run.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from castvoice.bench import eval_root
from castvoice.media.decode import ANALYSIS_RATE
from castvoice.spans import Word

TARGET_MEAN_MS = 30.0
TARGET_WITHIN_50MS = 0.90
TARGET_RTF = 0.05
BACKENDS = ("pocketsphinx", "whisper")
TIMIT_RATE = 16_000
JOINED = "mfa_alignment, all joined"


@dataclass
class Reference:
    name: str
    audio: Path
    words: list[Word]  # reference words with their hand or reference times

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


def references(root: Path | None = None) -> list[Reference]:
    """The TIMIT sample sentence (.wrd hand labels) and every MFA reference TextGrid with a words tier."""
    from castvoice.speech.textgrid import read_textgrid

    root = root or eval_root()
    found = []
    timit = root / "timit_ldc93s1" / "LDC93S1"
    if timit.with_suffix(".wrd").is_file():
        words = []
        for line in timit.with_suffix(".wrd").read_text().splitlines():
            if line.strip():
                first, last, text = line.split()
                words.append(Word(int(first) / TIMIT_RATE, int(last) / TIMIT_RATE, text))
        found.append(Reference("timit_ldc93s1/LDC93S1", timit.with_suffix(".wav"), words))
    for grid in sorted((root / "mfa_alignment").glob("*.TextGrid")):
        audio = next((p for s in (".wav", ".flac") if (p := grid.with_suffix(s)).is_file()), None)
        if audio is None or "words" not in _tier_names(grid):
            continue
        words = [w for w in read_textgrid(grid) if not _is_annotation(w.text)]
        found.append(Reference(f"mfa_alignment/{grid.stem}", audio, words))
    return found


def _tier_names(grid: Path) -> tuple[str, ...]:
    from praatio import textgrid

    return textgrid.openTextgrid(str(grid), includeEmptyIntervals=False).tierNames


def _is_annotation(label: str) -> bool:
    """Non-word marks in reference transcripts: [noise], <vocnoise>, and the like."""
    return label[:1] in "[<" and label[-1:] in "]>"


def boundary_errors(reference: list[Word], aligned: list[Word]) -> np.ndarray:
    """|start error| and |end error| in ms for each reference word matched (by text, in order) to an aligned word."""
    from castvoice.speech.align import alignment_words

    def key(text: str) -> str:
        return " ".join(alignment_words(text))

    matcher = difflib.SequenceMatcher(
        a=[key(w.text) for w in reference], b=[key(w.text) for w in aligned], autojunk=False
    )
    errors = []
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            ref, got = reference[block.a + offset], aligned[block.b + offset]
            errors += [abs(got.start - ref.start), abs(got.end - ref.end)]
    return np.array(errors) * 1000.0


def _summary(errors: np.ndarray) -> dict:
    return {
        "boundaries": int(errors.size),
        "mean_ms": round(float(errors.mean()), 1) if errors.size else None,
        "median_ms": round(float(np.median(errors)), 1) if errors.size else None,
        "within_50ms": round(float((errors <= 50).mean()), 3) if errors.size else None,
    }


def alignment_rows(root: Path | None = None, backends: tuple[str, ...] = BACKENDS) -> list[dict]:
    """One row per file and backend, then an overall row per backend (boundaries pooled)."""
    from castvoice.media.decode import load_audio
    from castvoice.speech.align import get_aligner

    refs = references(root)
    rows = []
    for backend in backends:
        aligner = get_aligner(backend, "en")
        pooled = []
        for ref in refs:
            errors = boundary_errors(ref.words, aligner.align(load_audio(ref.audio), ref.text))
            pooled.append(errors)
            rows.append({"backend": backend, "file": ref.name, "words": len(ref.words), **_summary(errors)})
        overall = np.concatenate(pooled) if pooled else np.zeros(0)
        total_words = sum(len(r.words) for r in refs)
        rows.append({"backend": backend, "file": "overall", "words": total_words, **_summary(overall)})
        joined_audio, joined_words = joined([r for r in refs if r.name.startswith("mfa_alignment/")])
        if joined_words:
            text = " ".join(w.text for w in joined_words)
            errors = boundary_errors(joined_words, aligner.align(joined_audio, text))
            rows.append({"backend": backend, "file": f"{JOINED} ({len(joined_audio) / ANALYSIS_RATE:.0f} s)",
                         "words": len(joined_words), **_summary(errors)})
    return rows


def joined(refs: list[Reference]) -> tuple[np.ndarray, list[Word]]:
    """The references' audio end to end, and their words shifted onto that timeline (tests long-audio windows)."""
    from castvoice.media.decode import load_audio

    parts, words, offset = [], [], 0.0
    for ref in refs:
        audio = load_audio(ref.audio)
        parts.append(audio)
        words += [Word(w.start + offset, w.end + offset, w.text) for w in ref.words]
        offset += len(audio) / ANALYSIS_RATE
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), words


def speed_row(root: Path | None = None, backend: str = "pocketsphinx") -> dict:
    """Alignment real-time factor (wall clock and CPU time) over all reference files, with a bare PyAV decode
    of the same files in the same run as baseline."""
    from castvoice.bench.ingest import bare_decode_seconds
    from castvoice.media.decode import load_audio
    from castvoice.speech.align import get_aligner

    refs = references(root)
    aligner = get_aligner(backend, "en")
    began = time.perf_counter()
    aligner.align(load_audio(refs[0].audio), refs[0].text)  # loads the model
    first_call_seconds = time.perf_counter() - began
    audio_seconds = align_seconds = cpu_seconds = 0.0
    for ref in refs:
        audio = load_audio(ref.audio)
        audio_seconds += len(audio) / ANALYSIS_RATE
        began, cpu_began = time.perf_counter(), time.process_time()
        aligner.align(audio, ref.text)
        align_seconds += time.perf_counter() - began
        cpu_seconds += time.process_time() - cpu_began
    decode_seconds = sum(bare_decode_seconds(ref.audio) for ref in refs)
    return {
        "backend": backend,
        "files": len(refs),
        "audio_seconds": round(audio_seconds, 2),
        "first_call_seconds": round(first_call_seconds, 2),
        "align_seconds": round(align_seconds, 2),
        "rtf": round(align_seconds / audio_seconds, 4),
        "cpu_rtf": round(cpu_seconds / audio_seconds, 4),  # CPU time: less sensitive to other processes
        "bare_decode_seconds": round(decode_seconds, 3),
        "ratio_to_bare_decode": round(align_seconds / decode_seconds, 1),
    }
