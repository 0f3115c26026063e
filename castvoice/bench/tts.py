"""`castvoice bench tts`: speed and intelligibility of each TTS backend and onnxruntime setting.

Every backend and setting streams the same English sentences (the first has exactly 20 words), one
sentence at a time, ROUNDS times; the settings take turns sentence by sentence, so a change in the
machine's load falls on all of them alike. RTF is wall seconds per second of speech, summed over the
sentences; time to first audio (TTFA) runs from the call to `stream` until the first piece arrives, on
the 20-word sentence. CPU seconds per audio second tell how many cores a setting really kept busy. Both
are shown beside Kokoro with onnxruntime's defaults, measured in the same run. WER is Whisper base on each
sentence's speech (first round) against its text, scored as `castvoice bench accuracy` scores it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from castvoice.bench import report
from castvoice.console import log
from castvoice.voice.engines.base import TUNED, OnnxSettings, split_text
from castvoice.voice.engines.kokoro import KokoroTTS
from castvoice.voice.engines.piper import PiperTTS

SENTENCES = (
    "The old lighthouse keeper climbed the narrow stairs every evening to light the lamp before the fishing ships "
    "came home.",
    "Nobody told me the train would leave at seven, so I missed it and walked the whole way.",
    "Are you coming with us tonight, or do you still have work to finish?",
    "She opened the letter slowly. Her hands were shaking, and she read it twice before she said a word.",
)
TWENTY_WORDS = SENTENCES[0]
ROUNDS = 2
BACKENDS = {"kokoro": (KokoroTTS, "af_heart"), "piper": (PiperTTS, PiperTTS.voice_name)}
BASELINE = ("kokoro", "int8, onnxruntime defaults")
SETTINGS: dict[tuple[str, str], dict] = {  # the backend's constructor arguments
    BASELINE: {"onnx": OnnxSettings()},
    ("kokoro", "int8, no spinning (kept)"): {"onnx": TUNED},
    ("kokoro", "fp32 (dequantised), no spinning"): {"onnx": TUNED, "precision": "fp32"},
    ("kokoro", "int8, 1 thread, no spinning"): {"onnx": OnnxSettings(threads=1, spinning=False)},
    ("kokoro", "int8, no spinning, basic graph optimisation"): {"onnx": OnnxSettings(spinning=False, optimization="basic")},
    ("kokoro", "int8, no spinning, parallel execution"): {"onnx": OnnxSettings(spinning=False, parallel=True)},
    ("piper", "onnxruntime defaults"): {"onnx": OnnxSettings()},
    ("piper", "no spinning (kept)"): {"onnx": TUNED},
}
TARGET_RTF = 0.5
TARGET_TTFA = 0.5
TARGET_WER = 0.05


@dataclass
class Measured:
    wall: float = 0.0
    cpu: float = 0.0
    audio: float = 0.0
    first_audio: list[float] = field(default_factory=list)  # on the 20-word sentence, one per round
    speech: dict[str, np.ndarray] = field(default_factory=dict)  # sentence -> audio, first round


def tts_rows() -> tuple[dict[str, list[dict]], dict]:
    """Measure every backend and setting; return (sections of rows, targets)."""
    engines = {}
    for (backend, setting), arguments in SETTINGS.items():
        log.info("loading %s (%s)", backend, setting)
        engine = BACKENDS[backend][0](**arguments)
        engine.synthesize("Warm up.", BACKENDS[backend][1])
        engines[backend, setting] = engine
    measured = {key: Measured() for key in SETTINGS}
    for round_number in range(ROUNDS):
        for sentence in SENTENCES:
            log.info("round %d: %s", round_number + 1, sentence[:40])
            for key, engine in engines.items():
                _stream(engine, BACKENDS[key[0]][1], sentence, measured[key])
    baseline = measured[BASELINE]
    rows = []
    for (backend, setting), m in measured.items():
        log.info("transcribing %s (%s)", backend, setting)
        rtf, ttfa = m.wall / m.audio, float(np.mean(m.first_audio))
        rows.append({
            "backend": backend, "setting": setting, "audio_s": round(m.audio, 1), "rtf": round(rtf, 3),
            "cpu_s_per_audio_s": round(m.cpu / m.audio, 3),
            "x_baseline_rtf": round(rtf / (baseline.wall / baseline.audio), 2),
            "ttfa_s": round(ttfa, 3), "x_baseline_ttfa": round(ttfa / float(np.mean(baseline.first_audio)), 2),
            "wer": _wer(m.speech, engines[backend, setting].sample_rate),
        })
    pieces = [{"piece": n, "words": len(p.split()), "text": p} for n, p in enumerate(split_text(TWENTY_WORDS), 1)]
    sections = {
        "TTS speed (stream, processing s / audio s) and WER (Whisper base)": rows,
        "how stream cuts the 20-word sentence": pieces,
    }
    targets = {
        "kokoro RTF": f"<= {TARGET_RTF}",
        "TTFA, 20-word sentence": f"<= {TARGET_TTFA} s",
        "WER": f"<= {TARGET_WER:.0%}, and no worse than the baseline",
    }
    return sections, targets


def _stream(engine, voice: str, sentence: str, into: Measured) -> None:
    """Stream one sentence, adding its times and audio to `into`."""
    began, cpu_began = time.perf_counter(), time.process_time()
    chunks = []
    for chunk in engine.stream(sentence, voice):
        if not chunks and sentence == TWENTY_WORDS:
            into.first_audio.append(time.perf_counter() - began)
        chunks.append(chunk)
    into.wall += time.perf_counter() - began
    into.cpu += time.process_time() - cpu_began
    audio = np.concatenate(chunks)
    into.audio += len(audio) / engine.sample_rate
    into.speech.setdefault(sentence, audio)


def _wer(speech: dict[str, np.ndarray], rate: int) -> float:
    import soxr

    from castvoice.media.decode import ANALYSIS_RATE
    from castvoice.speech.asr import get_asr
    from castvoice.text.metrics import count_word_errors

    asr = get_asr("base")
    heard = [asr.transcribe(soxr.resample(audio, rate, ANALYSIS_RATE).astype(np.float32)).text
             for audio in speech.values()]
    errors, words = count_word_errors(list(speech), heard)
    return round(errors / max(words, 1), 4)


def run(out: Path | None = None) -> None:
    """Measure the TTS backends and print (and with `out`, write) the figures."""
    report(*tts_rows(), out)
