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
placement when it scores better than the nearest voice. The speaking rate is matched first. A stage ends
early once `STALL_GENERATIONS` generations in a row found no acceptable voice `ACCEPT_MARGIN` above the best
so far, so the budget is the most the search takes: when the second stage stalls, the search stops.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from castvoice.console import log
from castvoice.errors import CastvoiceError
from castvoice.media.decode import ANALYSIS_RATE
from castvoice.progress import Task, track
from castvoice.voice.stock import (
    OBJECTIVE_WEIGHTS,
    PROBE_SENTENCES,
    RESIDUAL_BOUND,
    RESIDUAL_COMPONENTS,
    StockVoices,
    centroid,
    compose_style,
    embedder,
    speaking_rate,
    speech_pitch,
    stock_voices,
)

# The nearest stock voice is the one of highest selection score: the selection encoder's similarity less
# PITCH_PENALTY per octave between its median pitch and the references'. Resemblyzer's nearest had the
# target's sex far more often than CAM++'s, and the pitch term caught the rest.
SELECTION_ENCODER = "resemblyzer"
PITCH_PENALTY = 0.15  # score points per octave
ACCEPT_MARGIN = 0.01  # objective points a blend must gain over the nearest voice, and a residual over the blend
CANDIDATES = 5  # nearest stock voices by selection score
PLACED_CANDIDATES = 3  # and the style encoder placement's largest weights
WER_TOLERANCE = 0.05
WER_PENALTY = 2.0  # objective points per unit of WER above the tolerance
SPEED_RANGE = (0.85, 1.15)  # faster than this, Kokoro starts to swallow words
DEFAULT_BUDGET_SECONDS = 600.0
BLEND_SHARE = 0.4  # of the search time, for the blend-only stage
POPULATION = 6
FULL_PER_GENERATION = 2  # candidates of a generation that go on to every probe sentence
STALL_GENERATIONS = 3  # a stage ends after this many generations without a gain of ACCEPT_MARGIN
INITIAL_LOGIT_SCALE = 50.0  # softmax temperature over the candidates' selection similarity
STEP_BLEND = 1.0  # CMA-ES initial step: logits
STEP_RESIDUAL = 0.5  # and residual coefficients before tanh
SEED = 20_261_122
ASR_LANGUAGE = {"en-us": "en", "en-gb": "en"}


@dataclass
class Trial:
    """One point of the search and what it scored."""

    weights: dict[str, float]
    residual: np.ndarray  # added to the timbre half of every style row
    similarity: dict[str, float]  # per objective encoder: probe speech against the references
    pitch: float  # median Hz of the probe speech; NaN where nothing was voiced
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
    reference_pitch: float  # median Hz of the references; NaN where nothing was voiced
    trials: int  # candidates synthesised
    seconds: float
    stopped_early: bool  # the search stalled and ended before its budget
    language: str = "en-us"
    history: list[dict] = field(default_factory=list)  # every fully evaluated trial's scores, pitch and selection


def clone_kokoro(
    references: list[np.ndarray],
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    language: str = "en-us",
    voices: Sequence[str] | None = None,
) -> KokoroClone:
    """Find the Kokoro style (and speed) whose speech is closest to `references` (16 kHz mono speech of one
    person) within `budget_seconds`, a first-time stock voice table included; `voices` limits the stock
    voices considered. Progress is the seconds spent of the budget, with the candidates tried."""
    with track("voice search", total=budget_seconds) as task:
        return _clone(references, budget_seconds, language, voices, task)


def _clone(references: list[np.ndarray], budget_seconds: float, language: str, voices: Sequence[str] | None,
           task: Task) -> KokoroClone:
    from castvoice.voice.style_encoder import StyleEncoder, place

    began = time.monotonic()
    if not references or not any(len(r) for r in references):
        raise CastvoiceError("cloning needs at least one reference recording")
    stock = stock_voices(language, voices)
    target = Target.of(references)
    selection = target.stock_selection(stock)
    nearest = int(np.argmax(selection))
    placed_weights, placed_coefficients = place(StyleEncoder.load().timbre(target.embeddings), stock)
    by_placement = [i for i in np.argsort(-placed_weights)[:PLACED_CANDIDATES] if placed_weights[i] > 0]
    candidates = np.array(list(dict.fromkeys([*np.argsort(-selection)[:CANDIDATES], *by_placement])))
    initial = _softmax(INITIAL_LOGIT_SCALE * (selection[candidates] - selection[nearest]))
    speed = float(np.clip(reference_rate(references, language) / float(initial @ stock.rates[candidates]),
                          *SPEED_RANGE))
    log.info("cloning: nearest stock voice %s, speed %.2f, candidates %s", stock.names[nearest], speed,
             ", ".join(stock.names[i] for i in candidates))
    search = _Search(stock, candidates, target, speed, language, began, task)
    baseline = search.evaluate(np.eye(len(stock.names))[nearest], np.zeros(RESIDUAL_COMPONENTS))
    placed_weights[np.setdiff1d(np.arange(len(stock.names)), candidates)] = 0.0
    placed = search.evaluate(placed_weights / placed_weights.sum(), placed_coefficients)
    deadline, now = began + budget_seconds, time.monotonic()
    # Each stage starts from the style encoder's placement when that scored better than the nearest voice.
    start = placed_weights[candidates] if placed.objective > baseline.objective else initial
    # The blend stage gets its share of the time, but at least one generation when the budget holds two.
    blend_seconds = max(BLEND_SHARE * (deadline - now), min(search.generation_estimate(), (deadline - now) / 2))
    search.optimise(np.log(np.maximum(start, 1e-3)), now + blend_seconds, baseline, residual=False)
    best_blend = search.best(baseline, baseline, residual=False)
    blend_logits = np.log(np.maximum([best_blend.weights.get(stock.names[i], 0.0) for i in candidates], 1e-3))
    residual_start = placed_coefficients if placed.objective > baseline.objective else np.zeros(RESIDUAL_COMPONENTS)
    stopped_early = search.optimise(np.concatenate([blend_logits, residual_start]), deadline, baseline, residual=True)
    best = search.best(baseline, best_blend, residual=True)
    if stopped_early:
        task.update(note=f"{search.synthesised} voices tried, stopped early")
        log.info("cloning: stopped early, after %d voices tried in %.0f s of its %.0f s budget",
                 search.synthesised, time.monotonic() - began, budget_seconds)
    return KokoroClone(
        style=trial_style(best), speed=speed, nearest_voice=stock.names[nearest],
        blend={k: v for k, v in best.weights.items() if v > 0}, residual=best.residual, scores=best.scores(),
        final=best, nearest=baseline, placed=placed, best_blend=best_blend, reference_pitch=target.pitch, trials=search.synthesised,
        seconds=round(time.monotonic() - began, 1), stopped_early=stopped_early, language=language,
        history=[{**t.scores(), "pitch": round(t.pitch, 1), "selection": round(t.selection, 4)} for t in search.trials],
    )


def profile_state(tts, name: str, references: list[np.ndarray], budget_seconds: float, language: str):
    """A Kokoro voice profile: the clone of `references` (`tts` is the process's Kokoro, which the search
    speaks with)."""
    clone = clone_kokoro(references, budget_seconds, language=language)
    similarity = {k: v for k, v in clone.scores.items() if k not in ("wer", "objective")}
    state = {"speed": clone.speed, "nearest": clone.nearest_voice, "blend": clone.blend, "language": language,
             "wer": clone.scores.get("wer"), "trials": clone.trials, "search_seconds": clone.seconds,
             "budget_seconds": budget_seconds, "stopped_early": clone.stopped_early}
    return state, {"style": clone.style}, similarity


def trial_style(trial: Trial) -> np.ndarray:
    """The style pack of a trial's blend and residual."""
    from castvoice.voice.engines.kokoro import kokoro_engine

    tts = kokoro_engine()
    names = list(trial.weights)
    return compose_style(np.stack([tts.style(n) for n in names]), np.array([trial.weights[n] for n in names]),
                         trial.residual)


@dataclass(frozen=True)
class Target:
    """What the clone should sound like: the references' centroid per objective encoder and median pitch."""

    embeddings: dict[str, np.ndarray]
    pitch: float  # NaN where nothing was voiced

    @classmethod
    def of(cls, references: list[np.ndarray]) -> Target:
        """The target that 16 kHz references of one person make."""
        return cls({name: centroid(embedder(name).embed_many(references)) for name in OBJECTIVE_WEIGHTS},
                   speech_pitch(np.concatenate(references)))

    def stock_selection(self, stock: StockVoices) -> np.ndarray:
        """Every stock voice's selection score."""
        return self.selection(stock.embeddings[SELECTION_ENCODER] @ self.embeddings[SELECTION_ENCODER], stock.pitches)

    def pitch_penalty(self, pitch: float | np.ndarray) -> float | np.ndarray:
        """PITCH_PENALTY per octave from the references' pitch; nothing where either pitch is unknown (NaN)."""
        octaves = np.abs(np.log2(np.maximum(pitch, 1.0) / max(self.pitch, 1.0)))
        return PITCH_PENALTY * np.nan_to_num(octaves)

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
                 began: float, task: Task):
        self.stock, self.candidates, self.target = stock, candidates, target
        self.speed, self.language = speed, language
        self.began, self.task = began, task
        self.trials: list[Trial] = []
        self.synthesised = 0
        self.sentence_seconds: list[float] = []  # one probe sentence: synthesis, embedding, pitch
        self.generation_seconds: list[float] = []

    def _speak(self, weights: np.ndarray, coefficients: np.ndarray, sentences: Sequence[str]) -> list[np.ndarray]:
        import soxr

        from castvoice.voice.engines.kokoro import kokoro_engine

        tts = kokoro_engine()
        style = compose_style(self.stock.styles, weights, self._residual(coefficients))
        return [soxr.resample(tts.synthesize(s, style, self.speed, self.language), tts.sample_rate, ANALYSIS_RATE)
                for s in sentences]

    def _residual(self, coefficients: np.ndarray) -> np.ndarray:
        return ((RESIDUAL_BOUND * np.tanh(coefficients)) @ self.stock.timbre_basis).astype(np.float32)

    def _similarity(self, embeddings: dict[str, np.ndarray]) -> dict[str, float]:
        return {name: float(centroid(vectors) @ self.target.embeddings[name]) for name, vectors in embeddings.items()}

    def _screen(self, weights: np.ndarray, coefficients: np.ndarray) -> tuple[list[np.ndarray], dict, float]:
        """Speak the first probe sentence only: (clips, embeddings, objective without the WER term)."""
        began = time.monotonic()
        clips = self._speak(weights, coefficients, PROBE_SENTENCES[:1])
        embeddings = {name: embedder(name).embed_many(clips) for name in OBJECTIVE_WEIGHTS}
        objective = self.target.objective(self._similarity(embeddings), speech_pitch(clips[0]))
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
        embeddings = {name: np.concatenate([embeddings.get(name, np.zeros((0, embedder(name).dimension))),
                                            embedder(name).embed_many(more)]) for name in OBJECTIVE_WEIGHTS}
        clips = clips + more
        pitch, wer = speech_pitch(np.concatenate(clips)), _wer(clips, self.language)
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
        eligible = [t for t in self.trials if _acceptable(t, baseline, residual)
                    and t.objective >= incumbent.objective + ACCEPT_MARGIN]
        return max(eligible, key=lambda t: t.objective, default=incumbent)

    def generation_estimate(self) -> float:
        """Seconds the next generation will probably take."""
        if self.generation_seconds:
            return max(self.generation_seconds[-3:])
        per_sentence = float(np.median(self.sentence_seconds))
        return per_sentence * (POPULATION + FULL_PER_GENERATION * (len(PROBE_SENTENCES) - 1))

    def optimise(self, start: np.ndarray, deadline: float, baseline: Trial, residual: bool) -> bool:
        """CMA-ES from `start` over blend logits (and residual coefficients) for as many generations as fit
        before `deadline`, or until STALL_GENERATIONS in a row bring no acceptable trial ACCEPT_MARGIN above
        the best so far (then True): each candidate is screened on one sentence, the best go on to the full
        evaluation."""
        import cma

        steps = [STEP_BLEND] * len(self.candidates) + [STEP_RESIDUAL] * (RESIDUAL_COMPONENTS if residual else 0)
        strategy = cma.CMAEvolutionStrategy(
            start, 1.0, {"popsize": POPULATION, "seed": SEED, "verbose": -9, "CMA_stds": steps})
        level = max(t.objective for t in self.trials if _acceptable(t, baseline, residual))
        stalled = generations = 0
        while time.monotonic() + self.generation_estimate() <= deadline:
            if stalled >= STALL_GENERATIONS:
                log.info("cloning: %s search stalled after %d generations: the last %d found nothing %.2f better",
                         "residual" if residual else "blend", generations, STALL_GENERATIONS, ACCEPT_MARGIN)
                return True
            generations += 1
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
            gained = max((t.objective for t in full.values() if _acceptable(t, baseline, residual)), default=-np.inf)
            if gained >= level + ACCEPT_MARGIN:  # small gains add up: they count once they make a margin
                level, stalled = gained, 0
            else:
                stalled += 1
        return False

    def _unpack(self, x: np.ndarray, residual: bool) -> tuple[np.ndarray, np.ndarray]:
        """Weights over all stock voices, and residual coefficients, from CMA-ES's parameters."""
        weights = np.zeros(len(self.stock.names))
        weights[self.candidates] = _softmax(x[:len(self.candidates)])
        coefficients = x[len(self.candidates):] if residual else np.zeros(RESIDUAL_COMPONENTS)
        return weights, coefficients

    def _progress(self) -> None:
        self.task.update(done=round(time.monotonic() - self.began, 1), note=f"{self.synthesised} voices tried")


def _acceptable(trial: Trial, baseline: Trial, residual: bool) -> bool:
    """Whether a trial may be the clone: with a residual only if `residual`, a selection score no lower than
    `baseline`'s (the nearest stock voice), and no less intelligible."""
    return ((residual or not trial.residual.any()) and trial.selection >= baseline.selection
            and trial.wer <= max(WER_TOLERANCE, baseline.wer))


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - np.max(logits))
    return exp / exp.sum()


def _wer(clips: list[np.ndarray], language: str) -> float:
    """Whisper base's word error rate on probe sentences spoken in `clips`."""
    from castvoice.speech.asr import get_asr
    from castvoice.text.metrics import count_word_errors

    asr = get_asr("base")
    heard = [asr.transcribe(clip, ASR_LANGUAGE[language]).text for clip in clips]
    errors, words = count_word_errors(list(PROBE_SENTENCES[:len(clips)]), heard, ASR_LANGUAGE[language])
    return errors / max(words, 1)


def reference_rate(references: list[np.ndarray], language: str) -> float:
    """Syllables per second of speech over all references, from Whisper base's transcripts."""
    from castvoice.speech.asr import get_asr

    asr = get_asr("base")
    audio = np.concatenate([np.asarray(r, np.float32) for r in references])
    return speaking_rate(audio, " ".join(asr.transcribe(r, ASR_LANGUAGE[language]).text for r in references))
