"""Speech recognition figures on the shared evaluation recordings: WER, hallucination, speed, language ID.

WER counts errors after `scoring_words` on both sides (lowercase, no punctuation, numbers spelled out,
fillers dropped); per dataset and overall it is the sum of errors over the sum of reference words.
Speeds are real-time factors (processing seconds / audio seconds), shown beside a bare PyAV decode
of the same files measured in the same run.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from castvoice.bench import eval_root
from castvoice.console import log
from castvoice.media.decode import ANALYSIS_RATE, load_audio

TARGET_WER_BASE = 0.065
TARGET_RTF_VAD = 0.02
TARGET_RTF_ASR_BASE = 0.15
# The reference given in the evaluation README (whisper_jfk row).
JFK_REFERENCE = ("And so my fellow Americans, ask not what your country can do for you, "
                 "ask what you can do for your country.")
WER_MODELS = ("base", "tiny.en")


def _textgrid_text(path: Path) -> str:
    """The labels of every tier of a TextGrid, in time order."""
    from praatio import textgrid

    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    return " ".join(entry.label for entry in sorted(e for name in grid.tierNames for e in grid.getTier(name).entries))


def wer_datasets() -> dict[str, list[tuple[Path, str]]]:
    """Dataset name -> (audio file, reference text) pairs."""
    root = eval_root()
    lj = root / "ljspeech_coqui"
    ljspeech = []
    for line in (lj / "transcripts.psv").read_text(encoding="utf-8").splitlines():
        if "|" in line:
            name, text = line.split("|", 1)
            ljspeech.append((lj / f"{name}.flac", text))
    mfa = []
    for audio in sorted(p for p in (root / "mfa_alignment").iterdir() if p.suffix in (".wav", ".flac")):
        lab, grid = audio.with_suffix(".lab"), audio.with_suffix(".TextGrid")
        mfa.append((audio, lab.read_text(encoding="utf-8") if lab.is_file() else _textgrid_text(grid)))
    return {
        "ljspeech_coqui": ljspeech,
        "whisper_jfk": [(root / "whisper_jfk" / "jfk.flac", JFK_REFERENCE)],
        "mfa_alignment": mfa,
    }


def wer_rows(models: tuple[str, ...] = WER_MODELS) -> list[dict]:
    """WER per model and dataset, plus an overall row per model."""
    from castvoice.speech.asr import get_asr
    from castvoice.text.metrics import count_word_errors

    datasets = {name: [(load_audio(path), ref) for path, ref in pairs] for name, pairs in wer_datasets().items()}
    rows = []
    for model in models:
        asr = get_asr(model)
        total_errors = total_words = 0
        total_audio = total_seconds = 0.0
        for name, pairs in datasets.items():
            log.info("WER: %s on %s", model, name)
            began = time.perf_counter()
            hypotheses = [asr.transcribe(audio).text for audio, _ in pairs]
            seconds = time.perf_counter() - began
            errors, words = count_word_errors([ref for _, ref in pairs], hypotheses)
            audio_seconds = sum(len(audio) for audio, _ in pairs) / ANALYSIS_RATE
            rows.append(_wer_row(model, name, len(pairs), audio_seconds, errors, words, seconds))
            total_errors, total_words = total_errors + errors, total_words + words
            total_audio, total_seconds = total_audio + audio_seconds, total_seconds + seconds
        files = sum(len(p) for p in datasets.values())
        rows.append(_wer_row(model, "overall", files, total_audio, total_errors, total_words, total_seconds))
    return rows


def _wer_row(model: str, dataset: str, files: int, audio: float, errors: int, words: int, seconds: float) -> dict:
    return {"model": model, "dataset": dataset, "files": files, "audio_seconds": round(audio, 1),
            "reference_words": words, "errors": errors, "wer": round(errors / max(words, 1), 4),
            "seconds": round(seconds, 2)}


def hallucination_row(model: str = "base") -> dict:
    """Transcribe the music-and-effects battle clip: any text there is invented."""
    from castvoice.speech.asr import transcribe_file

    clip = next((eval_root() / "tos_battle_clip").glob("*.webm"))
    transcript = transcribe_file(clip, model)
    return {"model": model, "file": clip.name, "audio_seconds": round(transcript.duration, 1),
            "text": transcript.text, "words": len(transcript.text.split()), "passed": not transcript.text}


def _speed_sets() -> dict[str, list[Path]]:
    root = eval_root()
    return {
        "ljspeech_coqui (32 joined)": sorted((root / "ljspeech_coqui").glob("*.flac")),
        "whisper_jfk": [root / "whisper_jfk" / "jfk.flac"],
    }


def speed_rows(model: str = "base") -> list[dict]:
    """Real-time factors of VAD and ASR on in-memory 16 kHz audio; the decode baseline is a bare PyAV decode.

    ASR CPU seconds (all threads) beside the wall time show how much other processes slowed the run.
    """
    from castvoice.bench.ingest import bare_decode_seconds
    from castvoice.speech.asr import get_asr
    from castvoice.speech.vad import speech_regions

    asr = get_asr(model)
    asr.transcribe(load_audio(eval_root() / "whisper_jfk" / "jfk.flac"))  # warm-up outside the timings
    rows = []
    for name, files in _speed_sets().items():
        decode = sum(bare_decode_seconds(f) for f in files)
        gap = np.zeros(ANALYSIS_RATE // 2, np.float32)
        audio = np.concatenate([part for f in files for part in (load_audio(f), gap)])
        seconds = len(audio) / ANALYSIS_RATE
        began = time.perf_counter()
        speech_regions(audio)
        vad = time.perf_counter() - began
        began, cpu_began = time.perf_counter(), time.process_time()
        asr.transcribe(audio)
        recognition, recognition_cpu = time.perf_counter() - began, time.process_time() - cpu_began
        rows.append({
            "audio": name, "audio_seconds": round(seconds, 1), "model": model,
            "decode_seconds": round(decode, 3), "decode_rtf": round(decode / seconds, 4),
            "vad_seconds": round(vad, 3), "vad_rtf": round(vad / seconds, 4),
            "asr_seconds": round(recognition, 2), "asr_rtf": round(recognition / seconds, 3),
            "asr_cpu_seconds": round(recognition_cpu, 1),
            "vad_x_decode": round(vad / decode, 2), "asr_x_decode": round(recognition / decode, 1),
        })
    return rows


def language_rows() -> list[dict]:
    """Language identification on the English then German halves of multilingual.mp3."""
    from castvoice.speech.asr import detect_language

    audio = load_audio(eval_root() / "fasterwhisper_tests" / "multilingual.mp3")
    half = 30 * ANALYSIS_RATE
    rows = []
    for part, expected, piece in (("0-30 s", "en", audio[:half]), ("30-60 s", "de", audio[half:])):
        language, probability = detect_language(piece)
        rows.append({"file": "multilingual.mp3", "part": part, "expected": expected, "detected": language,
                     "probability": round(probability, 3), "passed": language == expected})
    return rows
