"""Clone a voice within Kokoro's style space: the blend of stock voices (plus a small timbre offset) whose
speech sounds most like the references.

Kokoro speaks in the voice of a 510 x 1 x 256 style pack (one row per input length). Its decoder reads the
first 128 dimensions of a row (timbre), its prosody predictor the last 128 (durations, pitch, energy). Free
search in that space raises an encoder's score while the speech turns to babble, so a clone stays SAFE:

- convex weights over the stock voices nearest the references (by the selection encoder) and those the
  learned style encoder (castvoice.voice.style_encoder) places the references among,
- plus a residual on the timbre half only, along the stock voices' main directions of variation, each
  coefficient bounded by `RESIDUAL_BOUND` standard deviations,
- scored by speaker similarity under two encoders, minus penalties for a pitch unlike the references' and
  for Whisper's word error rate on the synthesised sentences,
- and accepted only if its selection score (the selection encoder's similarity less the pitch penalty) is
  no lower than the nearest stock voice's, it is no less intelligible, and it beats the stage before it by a
  margin: otherwise the clone is the best blend, or the nearest stock voice itself.

The search is CMA-ES with successive halving: each candidate of a generation speaks one probe sentence,
and only the better half speaks the other two and is transcribed. A first stage searches the blend weights
alone (the best convex blend), a second adds the timbre residual; both start from the style encoder's
placement when it scores better than the nearest voice. The speaking rate is matched first.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from castvoice.console import log
from castvoice.errors import CastvoiceError
from castvoice.media.decode import ANALYSIS_RATE

# Harvard-style sentences, varied in phonemes; synthesised by every stock voice once (cached) and by
# every candidate of the search.
PROBE_SENTENCES = (
    "The birch canoe slid on the smooth planks, and the boy waved from the shore.",
    "Glue the sheet to the dark blue background before the paint is dry.",
    "It is easy to tell the depth of a well when you drop a small stone.",
)
# The nearest stock voice is the one of highest selection score: the selection encoder's similarity less
# PITCH_PENALTY per octave between its median pitch and the references'. Resemblyzer's nearest had the
# target's sex far more often than CAM++'s, and the pitch term caught the rest.
SELECTION_ENCODER = "resemblyzer"
OBJECTIVE_WEIGHTS = {"resemblyzer": 0.75, "campplus": 0.25}
PITCH_PENALTY = 0.15  # score points per octave
ACCEPT_MARGIN = 0.01  # objective points a blend must gain over the nearest voice, and a residual over the blend
PITCH_RANGE = (60.0, 400.0)  # Hz
CANDIDATES = 5  # nearest stock voices by selection score
PLACED_CANDIDATES = 3  # and the style encoder placement's largest weights
TIMBRE_DIMS = 128
RESIDUAL_COMPONENTS = 8
RESIDUAL_BOUND = 1.0  # stock voices' standard deviations along each component
WER_TOLERANCE = 0.05
WER_PENALTY = 2.0  # objective points per unit of WER above the tolerance
SPEED_RANGE = (0.85, 1.15)  # faster than this, Kokoro starts to swallow words
DEFAULT_BUDGET_SECONDS = 600.0
BLEND_SHARE = 0.4  # of the search time, for the blend-only stage
POPULATION = 6
FULL_PER_GENERATION = 2  # candidates of a generation that go on to every probe sentence
INITIAL_LOGIT_SCALE = 50.0  # softmax temperature over the candidates' selection similarity
STEP_BLEND = 1.0  # CMA-ES initial step: logits
STEP_RESIDUAL = 0.5  # and residual coefficients before tanh
SEED = 20_261_122
STOCK_CACHE_VERSION = 2
# Stock voices offered per clone language: Kokoro's name prefix letter is the voice's language.
VOICE_LANGUAGES = {"en-us": "ab", "en-gb": "ab"}
ASR_LANGUAGE = {"en-us": "en", "en-gb": "en"}


@dataclass
class Trial:
    """One point of the search and what it scored."""

    weights: dict[str, float]
    residual: np.ndarray  # added to the timbre half of every style row
    similarity: dict[str, float]  # per objective encoder: probe speech against the references
    pitch: float  # median Hz of the probe speech
    wer: float
    selection: float
    objective: float

    def scores(self) -> dict[str, float]:
        """Similarity per objective encoder, WER and objective, rounded."""
        return {**{k: round(v, 4) for k, v in self.similarity.items()}, "wer": round(self.wer, 4),
                "objective": round(self.objective, 4)}


@dataclass
class KokoroClone:
    """A voice cloned within Kokoro's style space."""

    style: np.ndarray  # 510 x 1 x 256 float32, for KokoroTTS.synthesize
    speed: float
    nearest_voice: str  # of highest selection score
    blend: dict[str, float]  # stock voice -> convex weight
    residual: np.ndarray  # TIMBRE_DIMS values added to the blend's timbre half
    scores: dict[str, float]  # the clone's: similarity per objective encoder, wer, objective
    final: Trial  # what the clone scored
    nearest: Trial  # the nearest stock voice at `speed`
    placed: Trial  # where the style encoder put the voice
    best_blend: Trial  # the best convex blend without residual
    reference_pitch: float  # median Hz of the references
    trials: int  # candidates synthesised
    seconds: float
    language: str = "en-us"
    history: list[dict] = field(default_factory=list)  # every fully evaluated trial's scores, pitch and selection


@dataclass(frozen=True)
class StockVoices:
    """A language's stock voices with their probe speech embedded (at speed 1.0)."""

    names: list[str]
    styles: np.ndarray  # (voices, 510, 1, 256)
    embeddings: dict[str, np.ndarray]  # encoder -> (voices, dimension)
    rates: np.ndarray  # syllables per second of speech
    pitches: np.ndarray  # median Hz
    timbre_basis: np.ndarray  # (RESIDUAL_COMPONENTS, TIMBRE_DIMS), from all of the language's stock voices


def clone_kokoro(
    references: list[np.ndarray],
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    language: str = "en-us",
    on_progress: Callable[[float], None] | None = None,
    voices: Sequence[str] | None = None,
) -> KokoroClone:
    """Find the Kokoro style (and speed) whose speech is closest to `references` (16 kHz mono speech of one
    person) within `budget_seconds`, a first-time stock voice table included; `voices` limits the stock
    voices considered. `on_progress` receives the seconds spent after each step."""
    from castvoice.voice.style_encoder import StyleEncoder, place

    began = time.monotonic()
    if not references or not any(len(r) for r in references):
        raise CastvoiceError("cloning needs at least one reference recording")
    stock = stock_voices(language, voices)
    target = Target(
        embeddings={name: _centroid(_embedder(name).embed_many(references)) for name in OBJECTIVE_WEIGHTS},
        pitch=median_pitch(np.concatenate(references)),
    )
    selection = target.selection(stock.embeddings[SELECTION_ENCODER] @ target.embeddings[SELECTION_ENCODER],
                                 stock.pitches)
    nearest = int(np.argmax(selection))
    placed_weights, placed_coefficients = place(StyleEncoder.load().timbre(target.embeddings), stock)
    by_placement = [i for i in np.argsort(-placed_weights)[:PLACED_CANDIDATES] if placed_weights[i] > 0]
    candidates = np.array(list(dict.fromkeys([*np.argsort(-selection)[:CANDIDATES], *by_placement])))
    initial = _softmax(INITIAL_LOGIT_SCALE * (selection[candidates] - selection[nearest]))
    speed = float(np.clip(reference_rate(references, language) / float(initial @ stock.rates[candidates]),
                          *SPEED_RANGE))
    log.info("cloning: nearest stock voice %s, speed %.2f, candidates %s", stock.names[nearest], speed,
             ", ".join(stock.names[i] for i in candidates))
    search = _Search(stock, candidates, target, speed, language, began, on_progress)
    baseline = search.evaluate(np.eye(len(stock.names))[nearest], np.zeros(RESIDUAL_COMPONENTS))
    placed_weights[np.setdiff1d(np.arange(len(stock.names)), candidates)] = 0.0
    placed = search.evaluate(placed_weights / placed_weights.sum(), placed_coefficients)
    deadline, now = began + budget_seconds, time.monotonic()
    # Each stage starts from the style encoder's placement when that scored better than the nearest voice.
    start = placed_weights[candidates] if placed.objective > baseline.objective else initial
    # The blend stage gets its share of the time, but at least one generation when the budget holds two.
    blend_seconds = max(BLEND_SHARE * (deadline - now), min(search.generation_estimate(), (deadline - now) / 2))
    search.optimise(np.log(np.maximum(start, 1e-3)), now + blend_seconds, residual=False)
    best_blend = search.best(baseline, baseline, residual=False)
    blend_logits = np.log(np.maximum([best_blend.weights.get(stock.names[i], 0.0) for i in candidates], 1e-3))
    residual_start = placed_coefficients if placed.objective > baseline.objective else np.zeros(RESIDUAL_COMPONENTS)
    search.optimise(np.concatenate([blend_logits, residual_start]), deadline, residual=True)
    best = search.best(baseline, best_blend, residual=True)
    return KokoroClone(
        style=trial_style(best), speed=speed, nearest_voice=stock.names[nearest],
        blend={k: v for k, v in best.weights.items() if v > 0}, residual=best.residual, scores=best.scores(),
        final=best, nearest=baseline, placed=placed, best_blend=best_blend, reference_pitch=target.pitch, trials=search.synthesised,
        seconds=round(time.monotonic() - began, 1), language=language,
        history=[{**t.scores(), "pitch": round(t.pitch, 1), "selection": round(t.selection, 4)} for t in search.trials],
    )


def trial_style(trial: Trial) -> np.ndarray:
    """The style pack of a trial's blend and residual."""
    from castvoice.voice.tts import get_tts

    tts = get_tts("kokoro")
    names = list(trial.weights)
    return compose_style(np.stack([tts.style(n) for n in names]), np.array([trial.weights[n] for n in names]),
                         trial.residual)


def compose_style(styles: np.ndarray, weights: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """The convex blend of style packs (voices, 510, 1, 256) with `residual` added to every row's timbre half."""
    style = np.tensordot(np.asarray(weights, np.float32), styles, axes=1)
    style[..., :TIMBRE_DIMS] += residual
    return style.astype(np.float32)


def timbre_basis(styles: np.ndarray) -> np.ndarray:
    """The stock voices' main directions of timbre variation, each scaled to one standard deviation:
    (RESIDUAL_COMPONENTS, TIMBRE_DIMS)."""
    timbres = styles[:, :, 0, :TIMBRE_DIMS].mean(axis=1)
    _, singular, directions = np.linalg.svd(timbres - timbres.mean(axis=0), full_matrices=False)
    deviations = singular / np.sqrt(max(len(timbres) - 1, 1))
    return (deviations[:RESIDUAL_COMPONENTS, None] * directions[:RESIDUAL_COMPONENTS]).astype(np.float32)


@dataclass(frozen=True)
class Target:
    """What the clone should sound like: the references' centroid per objective encoder and median pitch."""

    embeddings: dict[str, np.ndarray]
    pitch: float

    def pitch_penalty(self, pitch: float | np.ndarray) -> float | np.ndarray:
        return PITCH_PENALTY * np.abs(np.log2(np.maximum(pitch, 1.0) / max(self.pitch, 1.0)))

    def selection(self, similarity: float | np.ndarray, pitch: float | np.ndarray) -> float | np.ndarray:
        """The selection encoder's similarity less the pitch penalty."""
        return similarity - self.pitch_penalty(pitch)

    def objective(self, similarity: dict[str, float], pitch: float, wer: float = 0.0) -> float:
        """Weighted similarity, less the pitch and word error penalties."""
        return (sum(OBJECTIVE_WEIGHTS[name] * value for name, value in similarity.items())
                - float(self.pitch_penalty(pitch)) - WER_PENALTY * max(0.0, wer - WER_TOLERANCE))


class _Search:
    """Evaluates candidates (blend logits over the candidate voices, residual coefficients) and runs CMA-ES."""

    def __init__(self, stock: StockVoices, candidates: np.ndarray, target: Target, speed: float, language: str,
                 began: float, on_progress: Callable[[float], None] | None):
        self.stock, self.candidates, self.target = stock, candidates, target
        self.speed, self.language = speed, language
        self.began, self.on_progress = began, on_progress
        self.trials: list[Trial] = []
        self.synthesised = 0
        self.sentence_seconds: list[float] = []  # one probe sentence: synthesis, embedding, pitch
        self.generation_seconds: list[float] = []

    def _speak(self, weights: np.ndarray, coefficients: np.ndarray, sentences: Sequence[str]) -> list[np.ndarray]:
        import soxr

        from castvoice.voice.tts import get_tts

        tts = get_tts("kokoro")
        style = compose_style(self.stock.styles, weights, self._residual(coefficients))
        return [soxr.resample(tts.synthesize(s, style, self.speed, self.language), tts.sample_rate, ANALYSIS_RATE)
                for s in sentences]

    def _residual(self, coefficients: np.ndarray) -> np.ndarray:
        return ((RESIDUAL_BOUND * np.tanh(coefficients)) @ self.stock.timbre_basis).astype(np.float32)

    def _similarity(self, embeddings: dict[str, np.ndarray]) -> dict[str, float]:
        return {name: float(_centroid(vectors) @ self.target.embeddings[name]) for name, vectors in embeddings.items()}

    def _screen(self, weights: np.ndarray, coefficients: np.ndarray) -> tuple[list[np.ndarray], dict, float]:
        """Speak the first probe sentence only: (clips, embeddings, objective without the WER term)."""
        began = time.monotonic()
        clips = self._speak(weights, coefficients, PROBE_SENTENCES[:1])
        embeddings = {name: _embedder(name).embed_many(clips) for name in OBJECTIVE_WEIGHTS}
        objective = self.target.objective(self._similarity(embeddings), median_pitch(clips[0]))
        self.sentence_seconds.append(time.monotonic() - began)
        self.synthesised += 1
        self._progress()
        return clips, embeddings, objective

    def evaluate(self, weights: np.ndarray, coefficients: np.ndarray,
                 screened: tuple[list[np.ndarray], dict] | None = None) -> Trial:
        """Speak every probe sentence (after those already `screened`), score, transcribe and keep the trial."""
        began = time.monotonic()
        clips, embeddings = screened or ([], {})
        more = self._speak(weights, coefficients, PROBE_SENTENCES[len(clips):])
        embeddings = {name: np.concatenate([embeddings.get(name, np.zeros((0, _embedder(name).dimension))),
                                            _embedder(name).embed_many(more)]) for name in OBJECTIVE_WEIGHTS}
        clips = clips + more
        pitch, wer = median_pitch(np.concatenate(clips)), _wer(clips, self.language)
        self.sentence_seconds.append((time.monotonic() - began) / len(more))
        similarity = self._similarity(embeddings)
        trial = Trial(
            weights={self.stock.names[i]: float(w) for i, w in enumerate(weights) if w > 0},
            residual=self._residual(coefficients), similarity=similarity, pitch=pitch, wer=wer,
            selection=float(self.target.selection(similarity[SELECTION_ENCODER], pitch)),
            objective=self.target.objective(similarity, pitch, wer),
        )
        self.trials.append(trial)
        self.synthesised += screened is None
        self._progress()
        return trial

    def best(self, baseline: Trial, incumbent: Trial, residual: bool) -> Trial:
        """The best trial (with a residual only if `residual`) of selection score no lower than `baseline`'s,
        no less intelligible, and ACCEPT_MARGIN above `incumbent` in objective; else `incumbent`."""
        eligible = [t for t in self.trials if (residual or not t.residual.any())
                    and t.selection >= baseline.selection and t.wer <= max(WER_TOLERANCE, baseline.wer)
                    and t.objective >= incumbent.objective + ACCEPT_MARGIN]
        return max(eligible, key=lambda t: t.objective, default=incumbent)

    def generation_estimate(self) -> float:
        """Seconds the next generation will probably take."""
        if self.generation_seconds:
            return max(self.generation_seconds[-3:])
        per_sentence = float(np.median(self.sentence_seconds))
        return per_sentence * (POPULATION + FULL_PER_GENERATION * (len(PROBE_SENTENCES) - 1))

    def optimise(self, start: np.ndarray, deadline: float, residual: bool) -> None:
        """CMA-ES from `start` over blend logits (and residual coefficients) for as many generations as fit
        before `deadline`: each candidate is screened on one sentence, the best go on to the full evaluation."""
        import cma

        steps = [STEP_BLEND] * len(self.candidates) + [STEP_RESIDUAL] * (RESIDUAL_COMPONENTS if residual else 0)
        strategy = cma.CMAEvolutionStrategy(
            start, 1.0, {"popsize": POPULATION, "seed": SEED, "verbose": -9, "CMA_stds": steps})
        while time.monotonic() + self.generation_estimate() <= deadline:
            began = time.monotonic()
            population = strategy.ask()
            unpacked = [self._unpack(np.asarray(x), residual) for x in population]
            screened = [self._screen(*params) for params in unpacked]
            ranked = list(np.argsort([-objective for _, _, objective in screened]))
            finalists = ranked[:FULL_PER_GENERATION]
            full = {i: self.evaluate(*unpacked[i], screened=screened[i][:2]) for i in finalists}
            # CMA-ES uses ranks alone: the finalists in order of their full score, then the rest as screened.
            order = sorted(finalists, key=lambda i: -full[i].objective) + ranked[FULL_PER_GENERATION:]
            fitness = np.empty(len(population))
            fitness[order] = np.arange(len(population))
            strategy.tell(population, list(fitness))
            self.generation_seconds.append(time.monotonic() - began)

    def _unpack(self, x: np.ndarray, residual: bool) -> tuple[np.ndarray, np.ndarray]:
        """Weights over all stock voices, and residual coefficients, from CMA-ES's parameters."""
        weights = np.zeros(len(self.stock.names))
        weights[self.candidates] = _softmax(x[:len(self.candidates)])
        coefficients = x[len(self.candidates):] if residual else np.zeros(RESIDUAL_COMPONENTS)
        return weights, coefficients

    def _progress(self) -> None:
        if self.on_progress:
            self.on_progress(time.monotonic() - self.began)


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - np.max(logits))
    return exp / exp.sum()


def _centroid(vectors: np.ndarray) -> np.ndarray:
    from castvoice.speech.speakers import l2_normalise

    return l2_normalise(np.asarray(vectors, np.float32).mean(axis=0))


def _embedder(name: str):
    from castvoice.speech.speakers import get_encoder

    return get_encoder(name)


def _wer(clips: list[np.ndarray], language: str) -> float:
    """Whisper base's word error rate on probe sentences spoken in `clips`."""
    from castvoice.bench.asr import count_errors
    from castvoice.speech.asr import get_asr

    asr = get_asr("base")
    heard = [asr.transcribe(clip, ASR_LANGUAGE[language]).text for clip in clips]
    errors, words = count_errors(list(PROBE_SENTENCES[:len(clips)]), heard)
    return errors / max(words, 1)


def median_pitch(audio16k: np.ndarray) -> float:
    """Median fundamental frequency (Hz) of the louder half of the frames, by YIN."""
    import librosa

    audio = np.asarray(audio16k, np.float32)
    frame, hop = 1024, 256
    if len(audio) < frame:
        return 0.0
    pitch = librosa.yin(audio, fmin=PITCH_RANGE[0], fmax=PITCH_RANGE[1], sr=ANALYSIS_RATE, frame_length=frame,
                        hop_length=hop, center=False)
    loudness = librosa.feature.rms(y=audio, frame_length=frame, hop_length=hop, center=False)[0][:len(pitch)]
    return float(np.median(pitch[loudness >= np.median(loudness)]))


_VOWEL_GROUPS = re.compile(r"[aeiouy]+")


def count_syllables(text: str) -> int:
    """Syllables of English text, estimated from its spelling (vowel groups, a silent final e)."""
    from castvoice.text.normalize import scoring_words

    total = 0
    for word in scoring_words(text):
        groups = len(_VOWEL_GROUPS.findall(word))
        if word.endswith("e") and not word.endswith(("le", "ee")) and groups > 1:
            groups -= 1
        total += max(groups, 1)
    return total


def speaking_rate(audio16k: np.ndarray, text: str) -> float:
    """Syllables per second of speech: `text`'s syllables over the time voice activity detection hears speech."""
    from castvoice.speech.asr import SPLIT_VAD
    from castvoice.speech.vad import get_vad

    speech = sum(r.end - r.start for r in get_vad().regions(np.asarray(audio16k, np.float32), SPLIT_VAD))
    return count_syllables(text) / speech if speech > 0 else 0.0


def reference_rate(references: list[np.ndarray], language: str) -> float:
    """Syllables per second of speech over all references, from Whisper base's transcripts."""
    from castvoice.speech.asr import get_asr

    asr = get_asr("base")
    audio = np.concatenate([np.asarray(r, np.float32) for r in references])
    return speaking_rate(audio, " ".join(asr.transcribe(r, ASR_LANGUAGE[language]).text for r in references))


def stock_voices(language: str = "en-us", names: Sequence[str] | None = None) -> StockVoices:
    """The stock voices offered for `language` (or just `names`), each voice's probe speech embedded by every
    objective encoder and its speaking rate measured; cached per voice under castvoice's cache."""
    from castvoice.voice.tts import get_tts

    if language not in VOICE_LANGUAGES:
        raise CastvoiceError(f"cloning supports {', '.join(VOICE_LANGUAGES)}, not {language!r}")
    tts = get_tts("kokoro")
    pool = [v for v in tts.voices() if v[0] in VOICE_LANGUAGES[language]]
    offered = pool if names is None else [v for v in pool if v in names]
    unknown = sorted(set(names or ()) - set(pool))
    if unknown:
        raise CastvoiceError(f"not a {language} stock voice: {', '.join(unknown)}")
    if not offered:
        raise CastvoiceError("no stock voices to clone from")
    rows = [_stock_voice(tts, name, language) for name in offered]
    return StockVoices(
        names=offered,
        styles=np.stack([tts.style(name) for name in offered]),
        embeddings={enc: np.stack([row[enc] for row in rows]) for enc in OBJECTIVE_WEIGHTS},
        rates=np.array([float(row["rate"]) for row in rows]),
        pitches=np.array([float(row["pitch"]) for row in rows]),
        timbre_basis=timbre_basis(np.stack([tts.style(name) for name in pool])),
    )


def _stock_voice(tts, name: str, language: str) -> dict[str, np.ndarray]:
    """One stock voice's probe speech: centroid embedding per objective encoder, speaking rate and pitch."""
    import soxr

    from castvoice.assets import cache_dir
    from castvoice.atomic import atomic_path

    style = tts.style(name)
    key = hashlib.sha256(json.dumps([STOCK_CACHE_VERSION, PROBE_SENTENCES, sorted(OBJECTIVE_WEIGHTS), language,
                                     hashlib.sha256(style.tobytes()).hexdigest()]).encode()).hexdigest()[:16]
    path = cache_dir() / "kokoro-clone" / f"{name}-{key}.npz"
    if path.is_file():
        with np.load(path) as cached:
            return dict(cached)
    log.info("cloning: embedding the stock voice %s", name)
    clips = [soxr.resample(tts.synthesize(s, name, 1.0, language), tts.sample_rate, ANALYSIS_RATE)
             for s in PROBE_SENTENCES]
    row = {enc: _centroid(_embedder(enc).embed_many(clips)) for enc in OBJECTIVE_WEIGHTS}
    row["rate"] = np.array(speaking_rate(np.concatenate(clips), " ".join(PROBE_SENTENCES)))
    row["pitch"] = np.array(median_pitch(np.concatenate(clips)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **row)
    return row
