"""`castvoice bench clean`: the clip cleaning chain on real speech mixed with noise and with film music.

Speech (LJ Speech utterances and JFK, 16 kHz) is cleaned as it is, and five of the utterances are also mixed
at 0, 5 and 10 dB SNR with pink noise (fixed seed) and with the Tears of Steel battle clip (music and effects,
no speech). Every input runs through the default chain with each denoiser; all runs trim to the same span (the
speech Silero VAD finds in the clean recording, passed as the words), so each output lines up with the clean
reference at `Enhanced.offset`. SI-SDR (scale-invariant, so the chain's gains do not count) is the mean over
utterances. WER is Whisper base before and after the default chain, scored as `castvoice bench accuracy`
scores it. Speed is processing seconds per audio second for the whole chain on all cores (one clip per
core at a time, as `castvoice clean` runs it), beside the same chain with denoise "none" measured in the
same run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from castvoice.bench import eval_root, report
from castvoice.console import log
from castvoice.dataset.enhance import EnhanceSettings, enhance_many, speech_span
from castvoice.media.decode import ANALYSIS_RATE, load_audio

SNRS = (0, 5, 10)
LJSPEECH_UTTERANCES = 12  # with JFK: 90 s and 222 words of clean speech, so one word is 0.45 WER points
MIXED_UTTERANCES = 5  # mixed into 6 conditions: 37 s each
WER_CONDITIONS = ("clean", "pink noise 5 dB", "music 5 dB")  # Whisper is the slow part of the run
DENOISERS = ("dfn3", "rnnoise")
DEFAULT_DENOISER = EnhanceSettings.denoise
TARGET_RTF = 0.15
TARGET_CLEAN_WER_RISE = 0.01
NOISE_SEED = 20_261_121


@dataclass
class Utterance:
    name: str
    speech: np.ndarray  # 16 kHz, the clean reference
    text: str
    span: tuple[float, float]  # seconds of speech found in the clean recording


def clean_rows() -> tuple[dict[str, list[dict]], dict]:
    """Measure SI-SDR, WER and speed of the cleaning chain; return (sections of rows, targets)."""
    from castvoice.speech.asr import get_asr

    conditions = _conditions(_utterances())
    outputs: dict[str, dict[str, list[tuple[np.ndarray, slice]]]] = {}
    speed = {}
    for denoiser in ("none", *DENOISERS):
        log.info("cleaning with %s", denoiser)
        settings = EnhanceSettings(denoise=denoiser)
        jobs = [(condition, u, audio) for condition, pairs in conditions.items() for u, audio in pairs]
        began, cpu_began = time.perf_counter(), _cpu_seconds()
        cleaned = list(enhance_many(((audio, ANALYSIS_RATE, [u.span]) for _, u, audio in jobs), settings))
        speed[denoiser] = (time.perf_counter() - began, _cpu_seconds() - cpu_began)
        outputs[denoiser] = {condition: [] for condition in conditions}
        for (condition, _, _), result in zip(jobs, cleaned):
            outputs[denoiser][condition].append(_aligned(result))
    audio_seconds = sum(len(audio) for pairs in conditions.values() for _, audio in pairs) / ANALYSIS_RATE

    sdr_rows = [_sdr_row(condition, pairs, outputs) for condition, pairs in conditions.items()]
    log.info("transcribing %s before and after the chain", ", ".join(WER_CONDITIONS))
    asr = get_asr("base")
    wer_rows = []
    for condition in WER_CONDITIONS:
        references = [u.text for u, _ in conditions[condition]]
        before = _wer(asr, references, [audio for _, audio in conditions[condition]])
        after = _wer(asr, references, [audio for audio, _ in outputs[DEFAULT_DENOISER][condition]])
        wer_rows.append({"condition": condition, "utterances": len(references), "before": before,
                         f"after ({DEFAULT_DENOISER})": after, "change": round(after - before, 4)})
    baseline = speed["none"][0]
    speed_rows = [{"chain": f"denoise {name}" + (" (default)" if name == DEFAULT_DENOISER else ""),
                   "audio_seconds": round(audio_seconds, 1), "seconds": round(wall, 2),
                   "cpu_seconds": round(cpu, 2), "rtf": round(wall / audio_seconds, 3),
                   "x_no_denoise": round(wall / baseline, 1)} for name, (wall, cpu) in speed.items()]
    sections = {
        "SI-SDR (dB) against the clean speech, of the input and after the chain": sdr_rows,
        "WER (Whisper base) before and after the chain": wer_rows,
        "chain speed on 16 kHz clips (processing s / audio s)": speed_rows,
    }
    targets = {
        "SI-SDR gain": "> 0 dB in every noisy condition",
        "WER rise on clean input": f"<= {TARGET_CLEAN_WER_RISE:.0%} absolute",
        f"chain RTF ({DEFAULT_DENOISER})": f"<= {TARGET_RTF}",
    }
    return sections, targets


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished worker processes."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run(out: Path | None = None) -> None:
    """Measure the cleaning chain and print (and with `out`, write) the figures."""
    report(*clean_rows(), out)


def _utterances() -> list[Utterance]:
    """The first LJ Speech utterances and JFK with their transcripts and clean speech spans."""
    from castvoice.bench.asr import wer_datasets

    datasets = wer_datasets()
    utterances = []
    for path, text in datasets["ljspeech_coqui"][:LJSPEECH_UTTERANCES] + datasets["whisper_jfk"]:
        speech = load_audio(path)
        utterances.append(Utterance(path.name, speech, text, speech_span(speech, ANALYSIS_RATE)))
    return utterances


def _conditions(utterances: list[Utterance]) -> dict[str, list[tuple[Utterance, np.ndarray]]]:
    """Condition name -> (utterance, audio as heard in it): all clean, then the last few mixed at each SNR."""
    mixed = utterances[-MIXED_UTTERANCES:]  # JFK, with its long pauses, among them
    music = load_audio(next((eval_root() / "tos_battle_clip").glob("*.webm")))
    rng = np.random.default_rng(NOISE_SEED)
    pink = [pink_noise(len(u.speech), rng) for u in mixed]
    # Each utterance meets a different stretch of the clip, looped where the clip runs out.
    stretch = len(music) // len(mixed)
    scores = [np.resize(np.roll(music, -i * stretch), len(u.speech)) for i, u in enumerate(mixed)]
    conditions = {"clean": [(u, u.speech) for u in utterances]}
    for name, interference in (("pink noise", pink), ("music", scores)):
        for snr in SNRS:
            conditions[f"{name} {snr} dB"] = [(u, mix_at_snr(u.speech, noise, snr))
                                              for u, noise in zip(mixed, interference)]
    return conditions


def pink_noise(samples: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-power noise with a 1/f power spectrum."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    spectrum[1:] /= np.sqrt(np.fft.rfftfreq(samples)[1:])
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, samples)
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def mix_at_snr(speech: np.ndarray, interference: np.ndarray, snr_db: float) -> np.ndarray:
    """Speech plus interference scaled to `snr_db` below it (powers over the whole utterance)."""
    gain = np.sqrt(np.mean(speech**2) / np.mean(interference**2)) / 10 ** (snr_db / 20)
    return (speech + gain * interference).astype(np.float32)


def _aligned(cleaned) -> tuple[np.ndarray, slice]:
    """The chain's output and the span of the input it covers (the chain keeps the input's rate here)."""
    first = round(cleaned.offset * cleaned.rate)
    return cleaned.audio, slice(first, first + len(cleaned.audio))


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., 2019), both made zero-mean."""
    reference = reference - reference.mean()
    estimate = estimate - estimate.mean()
    target = np.dot(estimate, reference) / np.dot(reference, reference) * reference
    return float(10 * np.log10(np.sum(target**2) / np.sum((estimate - target) ** 2)))


def _sdr_row(condition: str, pairs: list[tuple[Utterance, np.ndarray]], outputs: dict) -> dict:
    """Mean SI-SDR over the utterances of the input and of each denoiser's output, on the span kept."""
    row: dict = {"condition": condition, "utterances": len(pairs)}
    spans = [span for _, span in outputs["none"][condition]]  # every run trims to the same span
    if condition != "clean":
        row["input"] = round(float(np.mean([si_sdr(u.speech[s], a[s]) for (u, a), s in zip(pairs, spans)])), 2)
    for denoiser in DENOISERS:
        value = float(np.mean([si_sdr(u.speech[span], audio)
                               for (u, _), (audio, span) in zip(pairs, outputs[denoiser][condition])]))
        row[denoiser] = round(value, 2)
        if condition != "clean":
            row[f"{denoiser} gain"] = round(value - row["input"], 2)
    return row


def _wer(asr, references: list[str], audio: list[np.ndarray]) -> float:
    from castvoice.text.metrics import count_word_errors

    errors, words = count_word_errors(references, [asr.transcribe(a).text for a in audio])
    return round(errors / max(words, 1), 4)
