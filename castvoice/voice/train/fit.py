"""Fine-tuning Kokoro on one speaker's utterances, within a budget of minutes, resumable.

1. Preparation (castvoice.voice.train.data): each utterance aligned against the starting voice, its pitch and
   energy measured. Kept in the checkpoint folder, so a resumed run does not do it again.
2. Prosody: the prosody half of a style offset (added to every row of the starting voice's pack) fitted so
   that Kokoro's predictor gives the speaker's durations, pitch and energy (StyleTTS 2's losses). Cheap: no
   decoder.
3. Timbre: the timbre half of the offset fitted so that the decoder, given the recording's own durations,
   pitch and energy, says it as recorded (log-mel L1 plus a multi-resolution STFT loss, on random crops).
4. Adaptation: low-rank adapters on every layer of the decoder (castvoice.voice.train.lora) trained with the
   timbre offset on the same loss.

A few utterances are held out. Every VALIDATE_SECONDS of training (and at the end of each stage) the voice
says the probe sentences; a state whose speech is more like the held-out utterances (by the speaker encoders
that cloning optimises, never the one benchmarks judge with) is kept as the best only if Whisper still
understands it (WER at most WER_TOLERANCE, or no worse than the starting voice's), and a stage stops after
PATIENCE validations without a gain. The held-out reconstruction loss is measured and reported beside it:
alone it does not follow the likeness (on LibriSpeech speakers it fell by 2-3 dB while a held-out encoder
found the voice no closer). Everything (offset, adapters, optimiser, the best so far, the time spent) is
checkpointed atomically every CHECKPOINT_SECONDS, so a killed run resumes where it stopped; the budget counts
the time of every run.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from castvoice.console import log
from castvoice.errors import CastvoiceError
from castvoice.voice.train.data import FRAME, Example, Utterance

DEFAULT_MINUTES = 20.0  # 5 minutes of speech: about 5 to prepare, 15 to train on 2 cores
MIN_SPEECH_SECONDS = 20.0  # less than this is too little to train on
MAX_SPEECH_SECONDS = 300.0  # more is not used: a budget of minutes could not go through it
HELD_OUT_SHARE = 0.15
MAX_HELD_OUT_SECONDS = 30.0
CROP_FRAMES = 80  # 2 s: what one decoder step trains on
STAGE_SHARES = {"prosody": 0.1, "timbre": 0.2, "adapt": 0.7}  # of the training time after preparation
LEARNING_RATES = {"style": 0.02, "adapters": 1e-3}
MEL_WEIGHT = 10.0  # log10 mel L1 against the multi-resolution STFT loss: both weigh about alike
DURATION_WEIGHT = 0.1  # frames of duration error against octaves of pitch error
VALIDATE_SECONDS = 90.0
PATIENCE = 4
CHECKPOINT_SECONDS = 60.0
WER_TOLERANCE = 0.05
SEED = 20_261_205
CHECKPOINT_VERSION = 1


@dataclass
class TrainedVoice:
    """What training made: the voice's style pack and its decoder adapters, and how it went."""

    style: np.ndarray  # 510 x 1 x 256 float32
    adapters: dict[str, np.ndarray]  # castvoice.voice.train.lora.adapter_arrays
    scores: dict[str, float] = field(default_factory=dict)


def resolve_device(device: str) -> str:
    """"auto" is CUDA where PyTorch sees a GPU, else the CPU; "cuda" without one is an error."""
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise CastvoiceError(f"unknown device {device!r}; choose auto, cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise CastvoiceError("--device cuda, but PyTorch sees no CUDA GPU here; use --device cpu or auto")
    return "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)


def check_budget(minutes: float) -> None:
    if not minutes > 0:
        raise CastvoiceError(f"a training budget of {minutes:g} minutes leaves no time to train; give --minutes > 0")


def speech_seconds(utterances: list[Utterance]) -> float:
    return sum(u.seconds for u in utterances)


def train(utterances: list[Utterance], start: np.ndarray, folder: Path, minutes: float = DEFAULT_MINUTES,
          device: str = "auto", language: str = "en-us") -> TrainedVoice:
    """Fine-tune Kokoro on `utterances` of one speaker from the style pack `start` (510 x 1 x 256) for at most
    `minutes`, checkpointing into `folder` (a run with the same inputs resumes from it)."""
    from castvoice.progress import track

    check_budget(minutes)
    seconds = speech_seconds(utterances)
    if seconds < MIN_SPEECH_SECONDS:
        raise CastvoiceError(f"{seconds / 60:.1f} minutes of clean speech found; training needs at least "
                             f"{MIN_SPEECH_SECONDS / 60:.1f}")
    with track("training the voice", total=round(minutes * 60)) as task:
        trainer = _Trainer(_within(utterances), np.asarray(start, np.float32), folder, minutes * 60,
                           resolve_device(device), language, task)
        return trainer.run()


def _within(utterances: list[Utterance]) -> list[Utterance]:
    """The utterances, up to MAX_SPEECH_SECONDS of them, longest first (they carry the most context)."""
    chosen, total = [], 0.0
    for u in sorted(utterances, key=lambda u: -u.seconds):
        if total + u.seconds <= MAX_SPEECH_SECONDS or not chosen:
            chosen.append(u)
            total += u.seconds
    return chosen


class _Trainer:
    def __init__(self, utterances: list[Utterance], start: np.ndarray, folder: Path, budget: float, device: str,
                 language: str, task) -> None:
        import torch

        from castvoice.voice.kokoro_torch.model import kokoro_torch, model_version
        from castvoice.voice.train.lora import add_adapters

        self.utterances, self.start, self.folder, self.budget = utterances, start, folder, budget
        self.device, self.language, self.task = device, language, task
        if device == "cpu":
            from castvoice.speech.embeddings import cpu_threads

            torch.set_num_threads(cpu_threads())
        self.model = kokoro_torch()
        self.version = model_version()
        add_adapters(self.model, "decoder")
        self.model.to(device)
        self.adapter_parameters = [p for p in self.model.parameters() if p.requires_grad]
        for p in self.adapter_parameters:
            p.requires_grad_(False)
        self.delta = torch.zeros(1, start.shape[-1], device=device, requires_grad=True)
        self.optimizer = torch.optim.Adam([
            {"params": [self.delta], "lr": LEARNING_RATES["style"]},
            {"params": self.adapter_parameters, "lr": LEARNING_RATES["adapters"]},
        ])
        self.key = self._key()
        self.began = time.monotonic()
        self.state = {"spent": 0.0, "stage": "prosody", "stage_spent": 0.0, "deadlines": None, "best": None,
                      "baseline": None, "since_best": 0, "validated": 0.0, "history": [], "steps": 0,
                      "rng": np.random.default_rng(SEED).bit_generator.state}

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> TrainedVoice:
        import torch

        resumed = self._resume()
        self.state["runs"] = self.state.get("runs", 0) + 1
        self.examples, self.held_out = self._prepare()
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = self.state["rng"]
        self._cache()
        self.target = self._held_out_embeddings()
        if self.state["baseline"] is None:
            self.state["baseline"] = self._validate()
            self.state["best"] = {**self.state["baseline"], **self._snapshot()}
            left = max(self.budget - self._now(), 0.0)
            edge, deadlines = self._now(), {}
            for stage, share in STAGE_SHARES.items():
                edge += share * left
                deadlines[stage] = edge
            self.state["deadlines"] = deadlines
            self._checkpoint()
        log.info("training: %d utterances (%.0f s), %d held out; %s", len(self.examples),
                 sum(e.frames for e in self.examples) * FRAME / 24_000, len(self.held_out),
                 "resumed" if resumed else "started")
        last_checkpoint = self._now()
        while self.state["stage"] != "done":
            stage = self.state["stage"]
            if self._now() >= self.state["deadlines"][stage] or self.state["since_best"] >= PATIENCE:
                self._next_stage()
                continue
            loss = self._step(stage)
            self.state["steps"] += 1
            if self._now() - self.state["validated"] >= VALIDATE_SECONDS:
                self._consider(self._validate())
            if self._now() - last_checkpoint >= CHECKPOINT_SECONDS:
                self._checkpoint()
                last_checkpoint = self._now()
            self.task.update(done=min(round(self._now()), self.budget), note=f"{stage}, loss {loss:.3f}")
        best = self.state["best"]
        self._restore(best)
        start = self.state["baseline"]
        scores = {"held_out_db_start": round(start["loss"], 3), "held_out_db": round(best["loss"], 3),
                  "held_out_similarity_start": round(start["similarity"], 4),
                  "held_out_similarity": round(best["similarity"], 4),
                  "wer_start": round(start["wer"], 4), "wer": round(best["wer"], 4), "steps": self.state["steps"],
                  "utterances": len(self.examples) + len(self.held_out),
                  "speech_seconds": round(sum(e.frames for e in self.examples + self.held_out) * FRAME / 24_000, 1),
                  "train_seconds": round(self._now(), 1), "runs": self.state["runs"]}
        with torch.no_grad():
            style = self.start + self.delta.detach().cpu().numpy().reshape(1, 1, -1)
        from castvoice.voice.train.lora import adapter_arrays

        return TrainedVoice(style.astype(np.float32), adapter_arrays(self.model), scores)

    def _now(self) -> float:
        """Seconds of work spent on this voice, over every run."""
        return self.state["spent"] + time.monotonic() - self.began

    def _next_stage(self) -> None:
        stages = [*STAGE_SHARES, "done"]
        stage = stages[stages.index(self.state["stage"]) + 1]
        if stage == "adapt":
            for p in self.adapter_parameters:
                p.requires_grad_(True)
        self._consider(self._validate())
        log.info("training: %s done after %.0f s, %d steps", self.state["stage"], self._now(), self.state["steps"])
        self.state.update(stage=stage, since_best=0)
        self._checkpoint()

    # -- steps --------------------------------------------------------------------------------

    def _step(self, stage: str) -> float:
        import torch

        example = int(self.rng.integers(len(self.examples)))
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._prosody_loss(example) if stage == "prosody" else self._decoder_loss(example, crop=True)
        loss.backward()
        if stage == "timbre":  # the prosody half has no gradient here; the optimiser leaves it alone anyway
            torch.nn.utils.clip_grad_norm_([self.delta], 1.0)
        self.optimizer.step()
        return loss.item()

    def _style(self, example: Example):
        import torch

        from castvoice.voice.kokoro_torch.model import style_row

        return style_row(self.start, torch.from_numpy(example.tokens)[None]).to(self.device) + self.delta

    def _prosody_loss(self, index: int):
        import torch
        import torch.nn.functional as F

        from castvoice.voice.kokoro_torch.prosody import STYLE

        example, cached = self.examples[index], self.cached[index]
        prosody = self._style(example)[:, STYLE:]
        predictor = self.model.predictor
        d = predictor.text_encoder(cached["bert"], prosody)
        durations = predictor.durations(d, 1.0)[0]
        f0, energy = predictor.curves(d.transpose(1, 2) @ cached["alignment"], prosody)
        voiced = cached["f0"] > 0
        # pitch in octaves where the speaker is voiced: an error weighs the same in a low and a high voice
        pitch = (torch.log2(f0.clamp(min=1.0)[voiced]) - torch.log2(cached["f0"][voiced])).abs().mean()
        return (DURATION_WEIGHT * F.l1_loss(durations[1:-1], cached["durations"][1:-1]) + pitch
                + F.smooth_l1_loss(energy, cached["energy"]))

    def _decoder_loss(self, index: int, crop: bool, held_out: bool = False):
        from castvoice.voice.kokoro_torch.prosody import STYLE

        example = (self.held_out if held_out else self.examples)[index]
        cached = (self.cached_held_out if held_out else self.cached)[index]
        first, frames = 0, example.frames
        if crop and frames > CROP_FRAMES:
            first, frames = int(self.rng.integers(example.frames - CROP_FRAMES + 1)), CROP_FRAMES
        window = slice(first, first + frames)
        halves = slice(2 * first, 2 * (first + frames))
        audio = self.model.decoder(cached["asr"][..., window], cached["f0"][:, halves], cached["energy"][:, halves],
                                   self._style(example)[:, :STYLE])[0, 0]
        target = cached["audio"][first * FRAME:(first + frames) * FRAME]
        return reconstruction_loss(audio, target, example.bandwidth)

    # -- validation ---------------------------------------------------------------------------

    def _validate(self) -> dict:
        """How the current voice does: the held-out reconstruction loss (dB of log-mel), and the probe sentences
        spoken in it, their speaker similarity to the held-out utterances (by the objective encoders cloning
        uses, castvoice.voice.clone) and Whisper's WER on them."""
        import soxr
        import torch

        from castvoice.media.decode import ANALYSIS_RATE
        from castvoice.voice.clone import _wer
        from castvoice.voice.kokoro_torch.model import phonemize, style_row, tokens
        from castvoice.voice.stock import OBJECTIVE_WEIGHTS, PROBE_SENTENCES, centroid, embedder

        clips = []
        with torch.no_grad():
            loss = float(np.mean([float(self._decoder_loss(i, crop=False, held_out=True))
                                  for i in range(len(self.held_out))]))
            for sentence in PROBE_SENTENCES:
                ids = tokens(phonemize(sentence, self.language))
                style = style_row(self.start, ids).to(self.device) + self.delta
                audio = self.model(ids.to(self.device), style).audio.cpu().numpy()
                clips.append(soxr.resample(audio, 24_000, ANALYSIS_RATE).astype(np.float32))
        similarity = sum(weight * float(centroid(embedder(name).embed_many(clips)) @ self.target[name])
                         for name, weight in OBJECTIVE_WEIGHTS.items())
        found = {"loss": loss, "similarity": similarity, "wer": _wer(clips, self.language)}
        self.state["validated"] = self._now()
        self.state["history"].append({"at": round(self._now(), 1), "stage": self.state["stage"],
                                      "steps": self.state["steps"], **found})
        log.info("training: held-out loss %.3f dB, similarity %.4f, WER %.3f at %.0f s (%s)", loss, similarity,
                 found["wer"], self._now(), self.state["stage"])
        return found

    def _consider(self, found: dict) -> None:
        """Keep the current state as the best when it sounds more like the held-out utterances and Whisper still
        understands it (WER within WER_TOLERANCE, or no worse than the starting voice's)."""
        if (found["similarity"] > self.state["best"]["similarity"]
                and found["wer"] <= max(WER_TOLERANCE, self.state["baseline"]["wer"])):
            self.state["best"] = {**found, **self._snapshot()}
            self.state["since_best"] = 0
        else:
            self.state["since_best"] += 1

    # -- state ----------------------------------------------------------------------------------

    def _snapshot(self) -> dict:
        from castvoice.voice.train.lora import adapter_arrays

        return {"delta": self.delta.detach().cpu().numpy().copy(), "adapters": adapter_arrays(self.model)}

    def _restore(self, snapshot: dict) -> None:
        import torch

        from castvoice.voice.train.lora import load_adapter_arrays

        with torch.no_grad():
            self.delta.copy_(torch.from_numpy(snapshot["delta"]))
        load_adapter_arrays(self.model, snapshot["adapters"])

    def _key(self) -> str:
        """What a checkpoint must have been made from to be resumed: model, start, utterances, settings."""
        digest = hashlib.sha256(json.dumps([CHECKPOINT_VERSION, self.version, self.language, self.budget,
                                            STAGE_SHARES, LEARNING_RATES, CROP_FRAMES]).encode())
        digest.update(self.start.tobytes())
        for u in self.utterances:
            digest.update(u.text.encode())
            digest.update(np.asarray(u.audio, np.float32).tobytes())
            digest.update(str(u.rate).encode())
        return digest.hexdigest()[:16]

    @property
    def _checkpoint_file(self) -> Path:
        return self.folder / "checkpoint.pt"

    @property
    def _examples_file(self) -> Path:
        return self.folder / "examples.npz"

    def _checkpoint(self) -> None:
        import torch

        from castvoice.atomic import atomic_path

        self.state["spent"] = self._now()
        self.began = time.monotonic()
        self.state["rng"] = self.rng.bit_generator.state if hasattr(self, "rng") else self.state["rng"]
        with atomic_path(self._checkpoint_file) as tmp:
            torch.save({"key": self.key, "state": self.state, "optimizer": self.optimizer.state_dict(),
                        **self._snapshot()}, tmp)

    def _resume(self) -> bool:
        """Take up a checkpoint of the same inputs; a checkpoint of other inputs is set aside."""
        import torch

        if not self._checkpoint_file.is_file():
            return False
        try:
            saved = torch.load(self._checkpoint_file, map_location=self.device, weights_only=False)
            if saved.get("key") != self.key:
                log.info("training: the checkpoint in %s is of other inputs; starting again", self.folder)
                return False
            self._restore(saved)
            self.optimizer.load_state_dict(saved["optimizer"])
        except (OSError, RuntimeError, KeyError, ValueError, EOFError) as error:
            log.warning("training: cannot resume from %s (%s); starting again", self._checkpoint_file, error)
            return False
        self.state = saved["state"]
        if self.state["stage"] == "adapt":
            for p in self.adapter_parameters:
                p.requires_grad_(True)
        return True

    # -- data ------------------------------------------------------------------------------------

    def _prepare(self) -> tuple[list[Example], list[Example]]:
        """The examples (from the checkpoint folder when made before), split into training and held-out."""
        from castvoice.atomic import atomic_path
        from castvoice.voice.train.data import prepare

        examples = self._load_examples()
        if examples is None:
            examples = []
            began = self._now()
            for number, utterance in enumerate(self.utterances, 1):
                example = prepare(utterance, self.model, self.start, self.language)
                if example is None:
                    log.info("training: %r cannot be aligned (too short for its text); left out", utterance.text)
                else:
                    examples.append(example)
                self.task.update(done=round(self._now()), note=f"preparing {number} of {len(self.utterances)}")
            log.info("training: %d utterances prepared in %.0f s", len(examples), self._now() - began)
            if len(examples) < 2:
                raise CastvoiceError("fewer than two utterances could be aligned with their text; training needs "
                                     "more clean speech")
            arrays = {"key": np.array(self.key), "texts": np.array(json.dumps([e.text for e in examples]))}
            for number, example in enumerate(examples):
                arrays |= example.arrays(str(number))
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(self._examples_file) as tmp, open(tmp, "wb") as f:
                np.savez(f, **arrays)
        order = np.random.default_rng(SEED).permutation(len(examples))
        held, seconds = [], 0.0
        for i in order:
            if len(held) >= max(1, round(HELD_OUT_SHARE * len(examples))) or seconds >= MAX_HELD_OUT_SECONDS:
                break
            held.append(int(i))
            seconds += examples[i].frames * FRAME / 24_000
        return [e for i, e in enumerate(examples) if i not in held], [examples[i] for i in held]

    def _load_examples(self) -> list[Example] | None:
        if not self._examples_file.is_file():
            return None
        try:
            with np.load(self._examples_file) as saved:
                if str(saved["key"]) != self.key:
                    return None
                texts = json.loads(str(saved["texts"]))
                return [Example.from_arrays(saved, str(n), text) for n, text in enumerate(texts)]
        except (OSError, ValueError, KeyError) as error:
            log.warning("training: cannot read %s (%s); preparing again", self._examples_file, error)
            return None

    def _held_out_embeddings(self) -> dict[str, np.ndarray]:
        """The held-out utterances' centroid per objective encoder: what the voice should sound like."""
        import soxr

        from castvoice.media.decode import ANALYSIS_RATE
        from castvoice.voice.stock import OBJECTIVE_WEIGHTS, centroid, embedder

        clips = [soxr.resample(e.audio, 24_000, ANALYSIS_RATE).astype(np.float32) for e in self.held_out]
        return {name: centroid(embedder(name).embed_many(clips)) for name in OBJECTIVE_WEIGHTS}

    def _cache(self) -> None:
        """What the frozen parts of Kokoro make of each example, once: BERT features for the predictor,
        aligned text features for the decoder, and the targets as tensors."""
        self.cached = [self._cached(e) for e in self.examples]
        self.cached_held_out = [self._cached(e) for e in self.held_out]

    def _cached(self, example: Example) -> dict:
        import torch
        import torch.nn.functional as F

        ids = torch.from_numpy(example.tokens)[None].to(self.device)
        frames = torch.repeat_interleave(torch.arange(ids.shape[1], device=self.device),
                                         torch.from_numpy(example.durations).to(self.device))
        alignment = F.one_hot(frames, ids.shape[1]).T[None].float()
        with torch.no_grad():
            bert = self.model.bert_encoder(self.model.bert(ids)).transpose(1, 2)
            asr = self.model.text_encoder(ids) @ alignment
        tensor = lambda a: torch.from_numpy(np.asarray(a, np.float32)).to(self.device)  # noqa: E731
        return {"bert": bert, "asr": asr, "alignment": alignment, "durations": tensor(example.durations),
                "f0": tensor(example.f0)[None], "energy": tensor(example.energy)[None], "audio": tensor(example.audio)}


def reconstruction_loss(audio, target, bandwidth: float):
    """Log-mel L1 plus a multi-resolution STFT loss between speech and its target (1-D, 24 kHz), on the band
    the target holds: above `bandwidth` the speech is cut off first (a 16 kHz recording has nothing there)."""
    import torch

    from castvoice.voice.kokoro_torch.mel import log_mel

    if bandwidth < 12_000:
        spectrum = torch.fft.rfft(audio)
        keep = torch.fft.rfftfreq(len(audio), 1 / 24_000, device=audio.device) <= bandwidth
        audio = torch.fft.irfft(spectrum * keep, n=len(audio))
    mel = (log_mel(audio) - log_mel(target)).abs().mean()
    return MEL_WEIGHT * mel + _stft_loss()(audio[None, None], target[None, None])


@cache
def _stft_loss():
    from auraloss.freq import MultiResolutionSTFTLoss

    return MultiResolutionSTFTLoss()
