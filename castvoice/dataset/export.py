"""Export a character's checked clips in the layout a TTS trainer reads, registered by format name.

Every format writes 16-bit PCM mono WAV at the rate its trainer works at (`jsonl`: each clip's own),
and only kept clips get audio (`jsonl` also lists the excluded ones, with their reason). Text columns carry the spoken form
(`normalized`); in the `|`-separated files a `|` or line break in a text or speaker name becomes a
space and straight double quotes are dropped, because the trainers split lines on `|` and read them
with csv.reader or pandas, which take a field starting with `"` as quoted.

An export is built in a hidden sibling folder and renamed onto `out` at the end, so `out` always
holds either the previous dataset or the new one, complete (an export killed between moving the previous
one aside and renaming the new one into place is put right by the next). A marker file tells castvoice's exports
from other folders: a non-empty `out` without it is never touched.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from castvoice.dataset.types import DatasetClip
from castvoice.errors import CastvoiceError, InputError, writing
from castvoice.processes import abandoned
from castvoice.progress import Task, track
from castvoice.text.normalize import slug

MARKER = ".castvoice-export"
EVAL_SHARE = 0.15  # the XTTS fine-tuning demo's eval_percentage
_SAFE_ID = re.compile(r"[\w.-]+")


@dataclass
class ExportSummary:
    format: str
    out: Path
    clips: int  # kept clips written
    seconds: float  # audio written
    files: list[str]  # every file written, relative to `out`, sorted


@dataclass
class _Build:
    """A dataset being written into `root`, which becomes `final` once complete."""

    root: Path
    final: Path
    rate: int | None
    speaker: str
    clips: list[DatasetClip]
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    progress: Task | None = None

    @property
    def kept(self) -> list[DatasetClip]:
        return [clip for clip in self.clips if clip.kept]

    def audio(self, clip: DatasetClip, name: str) -> None:
        """Write the clip's audio to `name` as 16-bit PCM mono WAV at the format's rate."""
        try:
            samples, rate = sf.read(clip.audio_file, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, OSError) as error:
            raise InputError(f"cannot read the clip's audio: {error}", clip.audio_file) from error
        samples = samples.mean(axis=1)
        if self.rate and rate != self.rate:
            samples, rate = soxr.resample(samples, rate, self.rate), self.rate
        path = self._path(name)
        # Resampling can overshoot full scale; float beyond ±1 would wrap around in 16-bit PCM.
        sf.write(path, np.clip(samples, -1.0, 1.0), rate, subtype="PCM_16")
        self.seconds += len(samples) / rate
        if self.progress is not None:
            self.progress.advance()

    def text(self, name: str, content: str) -> None:
        self._path(name).write_text(content, encoding="utf-8", newline="\n")

    def lines(self, name: str, rows: list[str]) -> None:
        self.text(name, "".join(row + "\n" for row in rows))

    def _path(self, name: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        self.files.append(name)
        return path


@dataclass(frozen=True)
class DatasetFormat:
    name: str
    sample_rate: int | None  # None: each clip keeps its own rate
    write: Callable[[_Build], None]


def export_dataset(clips: list[DatasetClip], out: Path, fmt: str, speaker: str) -> ExportSummary:
    """Write the kept `clips` to `out` in format `fmt` for the voice `speaker`, replacing an earlier export."""
    if fmt not in FORMATS:
        raise CastvoiceError(f"unknown dataset format {fmt!r}; choose from {', '.join(FORMATS)}")
    dataset_format = FORMATS[fmt]
    _check_clips(clips)
    out = Path(out).absolute()
    _recover(out)
    _check_target(out)
    build = _Build(_sibling(out, "export"), out, dataset_format.sample_rate, speaker, clips)
    try:
        with writing(out, build.root), track(f"exporting {fmt}", total=len(build.kept)) as build.progress:
            build.root.mkdir(parents=True)
            dataset_format.write(build)
            build.text(MARKER, json.dumps({"format": fmt, "speaker": speaker, "clips": len(build.kept)}) + "\n")
            _replace(out, build.root)
    finally:
        shutil.rmtree(build.root, ignore_errors=True)
    return ExportSummary(fmt, out, len(build.kept), round(build.seconds, 3), sorted(build.files))


def _check_clips(clips: list[DatasetClip]) -> None:
    if not any(clip.kept for clip in clips):
        raise CastvoiceError("no kept clips to export")
    seen = set()
    for clip in clips:
        if not _SAFE_ID.fullmatch(clip.id) or clip.id in seen:
            raise CastvoiceError(f"clip id {clip.id!r} is not a unique file name")
        seen.add(clip.id)


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise CastvoiceError("exists and is not a folder", out)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise CastvoiceError("folder is not empty and was not written by castvoice; choose another", out)


def _sibling(out: Path, purpose: str) -> Path:
    """A hidden path beside `out` for this process."""
    return out.parent / f".{out.name}.{purpose}-{os.getpid()}"


def _recover(out: Path) -> None:
    """Undo what killed exports left beside `out`: a build is removed, and an earlier export that was moved
    aside (killed between the two renames of `_replace`) goes back to `out`."""
    for left in sorted(out.parent.glob(f".{glob.escape(out.name)}.*-*")):
        purpose, _, pid = left.name.removeprefix(f".{out.name}.").rpartition("-")
        if purpose not in ("export", "old") or not abandoned(pid):
            continue  # not ours, or another export to the same place is under way
        if purpose == "old" and not out.exists():
            os.replace(left, out)
        else:
            shutil.rmtree(left, ignore_errors=True)


def _replace(out: Path, built: Path) -> None:
    """Rename `built` onto `out`; an earlier export is moved aside first and deleted after."""
    if out.exists():
        old = _sibling(out, "old")
        os.replace(out, old)
        os.replace(built, out)
        shutil.rmtree(old)
    else:
        os.replace(built, out)


def _field(text: str) -> str:
    """`text` safe in a `|`-separated line (see the module docstring)."""
    return " ".join(text.replace("|", " ").replace('"', "").split())


def _spoken(clip: DatasetClip) -> str:
    return _field(clip.normalized or clip.text)


# --- Formats: each writer's docstring gives its layout and where it was checked -----------------------


def _ljspeech(build: _Build) -> None:
    """LJSpeech: wavs/ID.wav at 22,050 Hz; metadata.csv "id|text|normalized", no header."""
    for clip in build.kept:
        build.audio(clip, f"wavs/{clip.id}.wav")
    build.lines("metadata.csv", [f"{c.id}|{_field(c.text)}|{_spoken(c)}" for c in build.kept])


def _f5(build: _Build) -> None:
    """F5-TTS custom dataset: wavs/ID.wav at 24 kHz; metadata.csv "audio_file|text" with that header.

    train/datasets/prepare_csv_wavs.py skips the header row and resolves audio_file against
    metadata.csv's folder; the models' mel_spec.target_sample_rate is 24,000.
    """
    for clip in build.kept:
        build.audio(clip, f"wavs/{clip.id}.wav")
    build.lines("metadata.csv", ["audio_file|text", *(f"wavs/{c.id}.wav|{_spoken(c)}" for c in build.kept)])


def train_eval_split(clips: list[DatasetClip]) -> tuple[list[DatasetClip], list[DatasetClip]]:
    """XTTS train and eval clips: a deterministic 15% held out (at least one), chosen by a hash of the id.

    Coqui's trainer cannot evaluate an empty set, so a character with few lines still gets one:
    with 1 or 2 clips every clip trains and the eval set repeats one of them (holding out one of
    two would halve the training audio); its eval loss then measures fit, not generalisation.
    From 3 clips on, the eval clips are held out of training. Both lists keep the given order.
    """
    by_hash = sorted(clips, key=lambda clip: hashlib.sha1(clip.id.encode()).hexdigest())
    if len(clips) <= 2:
        return list(clips), by_hash[:1]
    held_out = {clip.id for clip in by_hash[: max(1, round(len(clips) * EVAL_SHARE))]}
    return [c for c in clips if c.id not in held_out], [c for c in clips if c.id in held_out]


def _xtts(build: _Build) -> None:
    """Coqui XTTS fine-tuning: wavs/ID.wav at 22,050 Hz; metadata_train.csv and metadata_eval.csv.

    Both start with the header "audio_file|text|speaker_name", as the fine-tuning demo's
    formatter.py writes them; the "coqui" formatter reads them with pandas and joins audio_file
    to the dataset folder. Split by `train_eval_split`.
    """
    for clip in build.kept:
        build.audio(clip, f"wavs/{clip.id}.wav")
    speaker = _field(build.speaker)
    for name, part in zip(("metadata_train.csv", "metadata_eval.csv"), train_eval_split(build.kept)):
        rows = [f"wavs/{c.id}.wav|{_spoken(c)}|{speaker}" for c in part]
        build.lines(name, ["audio_file|text|speaker_name", *rows])


# GPT-SoVITS's language dictionary (README); 1-get-text.py skips lines in other languages.
_SOVITS_LANGUAGES = ("zh", "ja", "en", "ko", "yue")


def _sovits_language(clip: DatasetClip) -> str:
    language = clip.language.lower().replace("_", "-").split("-")[0]
    if language not in _SOVITS_LANGUAGES:
        raise CastvoiceError(f"GPT-SoVITS trains only {', '.join(_SOVITS_LANGUAGES)}; "
                             f"clip {clip.id} is in {clip.language!r}")
    return language


def _gpt_sovits(build: _Build) -> None:
    """GPT-SoVITS: wavs/ID.wav at 32 kHz; SPEAKER.list lines "path|speaker|language|text", no header.

    1-get-text.py and 2-get-hubert-wav32k.py split each line into exactly those four fields and
    open the path as written, or its file name inside the WebUI's audio folder when one is set:
    the path is absolute, to the final location. Its slicer writes 32 kHz, the rate it resamples to.
    """
    languages = [_sovits_language(clip) for clip in build.kept]  # refuse before writing any audio
    speaker, rows = _field(build.speaker), []
    for clip, language in zip(build.kept, languages):
        build.audio(clip, f"wavs/{clip.id}.wav")
        rows.append(f"{(build.final / 'wavs' / f'{clip.id}.wav').as_posix()}|{speaker}|{language}|{_spoken(clip)}")
    build.lines(f"{slug(build.speaker)}.list", rows)


def _piper(build: _Build) -> None:
    """Piper: wav/ID.wav at 22,050 Hz (medium and high quality); metadata.csv "id|text", no header.

    From TRAINING.md; piper_train.preprocess's ljspeech reader takes the first and last columns of a
    single-speaker line and finds ID in wav/ (or wavs/) with or without ".wav".
    """
    for clip in build.kept:
        build.audio(clip, f"wav/{clip.id}.wav")
    build.lines("metadata.csv", [f"{c.id}|{_spoken(c)}" for c in build.kept])


def _fish(build: _Build) -> None:
    """Fish Speech: SPEAKER/ID.wav at 44.1 kHz beside SPEAKER/ID.lab holding the text.

    docs/en/finetune.md gives the layout; extract_vq.py resamples to the VQ-GAN's 44,100 Hz.
    """
    speaker = slug(build.speaker)
    for clip in build.kept:
        build.audio(clip, f"{speaker}/{clip.id}.wav")
        build.text(f"{speaker}/{clip.id}.lab", _spoken(clip))


def _jsonl(build: _Build) -> None:
    """castvoice's own: wavs/ID.wav at each clip's rate; clips.jsonl, one object per clip with every
    field and score, excluded clips included (with their reason and audio_file null)."""
    rows = []
    for clip in build.clips:
        audio = f"wavs/{clip.id}.wav" if clip.kept else None
        if audio:
            build.audio(clip, audio)
        record = {**asdict(clip), "audio_file": audio, "duration": round(clip.duration, 3),
                  "scores": {name: _finite(value) for name, value in clip.scores.items()}}
        rows.append(json.dumps(record, ensure_ascii=False))
    build.lines("clips.jsonl", rows)


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: such a score is written as null."""
    return value if value is None or math.isfinite(value) else None


FORMATS: dict[str, DatasetFormat] = {f.name: f for f in [
    DatasetFormat("ljspeech", 22_050, _ljspeech),
    DatasetFormat("f5", 24_000, _f5),
    DatasetFormat("xtts", 22_050, _xtts),
    DatasetFormat("gpt-sovits", 32_000, _gpt_sovits),
    DatasetFormat("piper", 22_050, _piper),
    DatasetFormat("fish", 44_100, _fish),
    DatasetFormat("jsonl", None, _jsonl),
]}
