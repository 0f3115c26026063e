"""Voice profiles: a cloned voice as one portable file (.cvoice, a zip) holding its name, backend,
reference clips, the backend's learned state and the similarity measured when it was made.

Profiles live in a workspace's `voices/` folder, or, for voices made from the user's own
recordings outside any workspace, in the voice library ($CASTVOICE_VOICES, default
~/.local/share/castvoice/voices)."""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from castvoice.atomic import atomic_path
from castvoice.errors import CastvoiceError
from castvoice.text.normalize import slug, words
from castvoice.voice.backends import BACKENDS, get_tts

FORMAT_VERSION = 1
SUFFIX = ".cvoice"
REFERENCE_RATE = 16_000


@dataclass
class VoiceProfile:
    name: str
    backend: str
    state: dict  # the backend's learned state, JSON types
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # its learned arrays (e.g. Kokoro's style)
    references: list[np.ndarray] = field(default_factory=list)  # 16 kHz mono
    similarity: dict[str, float] = field(default_factory=dict)  # measured when the voice was made
    source: str = ""  # where the references came from
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def file_name(self) -> str:
        return slug(self.name) + SUFFIX


def library_dir() -> Path:
    return Path(os.environ.get("CASTVOICE_VOICES") or Path.home() / ".local" / "share" / "castvoice" / "voices")


def save_profile(profile: VoiceProfile, folder: Path, replace: bool = False) -> Path:
    """Write the profile into `folder` as NAME.cvoice; an existing one is kept unless `replace`."""
    import soundfile as sf

    path = folder / profile.file_name
    if path.exists() and not replace:
        raise CastvoiceError(f"a voice named {profile.name!r} already exists; choose another name", path)
    meta = {
        "format": FORMAT_VERSION, "name": profile.name, "backend": profile.backend, "state": profile.state,
        "arrays": sorted(profile.arrays), "references": len(profile.references),
        "similarity": profile.similarity, "source": profile.source, "created": profile.created,
    }
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("profile.json", json.dumps(meta, indent=1))
        for key, array in profile.arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            archive.writestr(f"arrays/{key}.npy", buffer.getvalue())
        for number, audio in enumerate(profile.references, 1):
            buffer = io.BytesIO()
            sf.write(buffer, audio, REFERENCE_RATE, format="FLAC", subtype="PCM_16")
            archive.writestr(f"references/{number:02d}.flac", buffer.getvalue())
    return path


def load_profile(path: Path) -> VoiceProfile:
    """Read a .cvoice file; a clear error for a corrupted file or one from a newer castvoice."""
    import soundfile as sf

    try:
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read("profile.json"))
            if not isinstance(meta, dict) or not isinstance(meta.get("format"), int):
                raise ValueError("profile.json has no format version")
            if meta["format"] > FORMAT_VERSION:
                raise CastvoiceError(
                    f"voice profile format {meta['format']} is newer than this castvoice reads ({FORMAT_VERSION});"
                    " upgrade castvoice", path)
            arrays = {key: np.load(io.BytesIO(archive.read(f"arrays/{key}.npy")), allow_pickle=False)
                      for key in meta["arrays"]}
            references = [sf.read(io.BytesIO(archive.read(f"references/{n:02d}.flac")), dtype="float32")[0]
                          for n in range(1, meta["references"] + 1)]
            return VoiceProfile(meta["name"], meta["backend"], meta["state"], arrays, references,
                                meta["similarity"], meta["source"], meta["created"])
    except CastvoiceError:
        raise
    except FileNotFoundError:
        raise CastvoiceError("no such voice profile file", path) from None
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, RuntimeError) as error:
        raise CastvoiceError(f"not a readable castvoice voice profile ({error})", path) from None


def find_profile(name: str, folders: list[Path]) -> Path:
    """The profile file named `name` in the first of `folders` that has it."""
    for folder in folders:
        path = folder / (slug(name) + SUFFIX)
        if path.is_file():
            return path
    known = ", ".join(sorted(p.stem for folder in folders for p in folder.glob(f"*{SUFFIX}"))) or "none yet"
    raise CastvoiceError(f"no voice named {name!r} (known: {known}); create one with `castvoice voice create`")


def list_profiles(folders: list[Path]) -> list[tuple[Path, VoiceProfile]]:
    """Every readable profile in `folders`, first folder first."""
    found = []
    for folder in folders:
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            found.append((path, load_profile(path)))
    return found


def import_profile(file: Path, folder: Path, replace: bool = False, name: str | None = None) -> Path:
    """Check a .cvoice file and store it in `folder`, under `name` when given (else its own name)."""
    profile = load_profile(file)
    if name is not None:
        if not words(name):
            raise CastvoiceError(f"{name!r} cannot name a voice: a name needs a letter or a digit")
        profile.name = name
    if (folder / profile.file_name).exists() and not replace:
        raise CastvoiceError(f"a voice named {profile.name!r} already exists; import it under another name with "
                             "--name NEW, or replace it with --replace", folder / profile.file_name)
    return save_profile(profile, folder, replace)


def make_profile(name: str, backend: str, references: list[np.ndarray], budget_seconds: float,
                 source: str, language: str = "en-us") -> VoiceProfile:
    """Build a voice from 16 kHz reference speech with the named backend (see castvoice.voice.backends)."""
    if backend not in BACKENDS:
        raise CastvoiceError(f"unknown voice backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if not references:
        raise CastvoiceError("no reference speech to build a voice from")
    state, arrays, similarity = BACKENDS[backend].build(get_tts(backend), name, references, budget_seconds,
                                                        language)
    return VoiceProfile(name, backend, state, arrays, references, similarity, source)


def speaking_voice(profile: VoiceProfile):
    """The TTS backend, the voice argument it takes and the speed, for a profile."""
    if profile.backend in BACKENDS and BACKENDS[profile.backend].voice is not None:
        voice = BACKENDS[profile.backend].voice(profile)
    elif "style" in profile.arrays:  # kokoro
        voice = profile.arrays["style"]
    elif "prompt" in profile.arrays:  # pocket
        voice = profile.arrays["prompt"]
    else:  # a voice name or id
        voice = profile.state["voice"]
    return get_tts(profile.backend), voice, float(profile.state.get("speed", 1.0))
