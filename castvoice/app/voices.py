"""Voice profiles: where they live, making one from a character's clips or from recordings, listing,
exporting and importing them, and speaking text in one."""

from __future__ import annotations

import shutil
from pathlib import Path

from castvoice.atomic import atomic_path, check_writable
from castvoice.errors import FILE_IN_THE_WAY, CastvoiceError
from castvoice.voice.backends import backend_help
from castvoice.voice.profile import VoiceProfile
from castvoice.voice.speak import SpeakResult

REFERENCE_COUNT = 10  # references (clips, or short clips joined) a voice is made from

__all__ = ["backend_help", "voice_folders", "create_voice", "list_voices", "find_voice", "export_voice",
           "import_voice", "speak"]


def voice_folders(workspace: Path | None) -> list[Path]:
    """Where voice profiles live, first match first: the workspace's voices folder (when there is a
    workspace), then the voice library."""
    from castvoice.voice.profile import library_dir
    from castvoice.workspace import Workspace, is_workspace, resolve

    try:
        root = resolve(workspace)
    except CastvoiceError:
        if workspace is not None:
            raise
        root = None
    folders = ([Workspace(root).voices_dir] if root is not None and is_workspace(root) else []) + [library_dir()]
    for folder in folders:
        if folder.exists() and not folder.is_dir():
            raise CastvoiceError(FILE_IN_THE_WAY, folder)
    return folders


def create_voice(workspace: Path | None, name: str, recordings: list[Path] | None = None, backend: str = "kokoro",
                 budget_minutes: float = 10.0, replace: bool = False) -> tuple[VoiceProfile, Path]:
    """Make a voice profile from a character's best references (`castvoice.app.dataset.references`), or from
    `recordings` (then `name` is the new voice's name and it goes to the first voice folder); returns the
    profile and its file."""
    from castvoice.media.decode import load_audio
    from castvoice.voice.profile import make_profile, save_profile

    if recordings:
        references = [load_audio(path) for path in recordings]
        source, folder = ", ".join(p.name for p in recordings), voice_folders(workspace)[0]
    else:
        from castvoice.app import dataset, open_workspace

        ws = open_workspace(workspace)
        picked = dataset.references(ws, name, REFERENCE_COUNT)
        references = [r.audio() for r in picked]
        name = picked[0].clips[0].character
        joined = sum(r.joined for r in picked)
        source = f"{len(picked)} references of {name}" + (f" ({joined} joined from short clips)" if joined else "")
        folder = ws.voices_dir
    check_writable(folder)
    profile = make_profile(name, backend, references, budget_minutes * 60, source)
    return profile, save_profile(profile, folder, replace)


def list_voices(workspace: Path | None) -> list[tuple[Path, VoiceProfile]]:
    """Every voice profile in the workspace and in the voice library."""
    from castvoice.voice.profile import list_profiles

    return list_profiles(voice_folders(workspace))


def find_voice(workspace: Path | None, name: str) -> VoiceProfile:
    """The voice profile called `name`, from the workspace's voices first, then the library."""
    from castvoice.voice.profile import find_profile, load_profile

    return load_profile(find_profile(name, voice_folders(workspace)))


def export_voice(workspace: Path | None, name: str, file: Path) -> Path:
    """Copy a voice profile to one portable file (never over an existing file)."""
    from castvoice.voice.profile import find_profile

    if file.exists():
        raise CastvoiceError("file exists; choose another name", file)
    source = find_profile(name, voice_folders(workspace))
    with atomic_path(file) as tmp:
        shutil.copyfile(source, tmp)
    return file


def import_voice(workspace: Path | None, file: Path, replace: bool = False, name: str | None = None) -> Path:
    """Check a .cvoice file and add it to the workspace's voices (or, outside one, the library), under `name`
    when given, else under the name it was saved with."""
    from castvoice.voice.profile import import_profile

    return import_profile(file, voice_folders(workspace)[0], replace, name)


def speak(workspace: Path | None, voice: str, text: str, out: Path | None, play: bool = False) -> SpeakResult:
    """Say `text` in a voice into the WAV file `out` and/or the speakers, sentence by sentence."""
    from castvoice.voice.speak import speak_to

    if out is None and not play:
        raise CastvoiceError("say where the speech goes: -o FILE.wav and/or --play")
    return speak_to(find_voice(workspace, voice), text, out, play)
