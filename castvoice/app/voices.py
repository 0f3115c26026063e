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
MAX_TRAINING_CER = 0.1  # a kept clip whose re-transcription differs more from its text is not trained on
FALLBACK_SEARCH_MINUTES = 10.0  # at most, for the style-space clone made when there is too little to train on

__all__ = ["backend_help", "voice_folders", "create_voice", "train_voice", "list_voices", "find_voice",
           "export_voice", "import_voice", "speak"]


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

    if backend == "kokoro-trained" and not recordings:
        profile, path, _ = train_voice(workspace, name, budget_minutes, replace=replace)
        return profile, path
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


def train_voice(workspace: Path | None, name: str, minutes: float | None = None, device: str = "auto",
                replace: bool = True) -> tuple[VoiceProfile, Path, str | None]:
    """Make (or replace) the voice NAME by fine-tuning Kokoro on the character's kept clips, those whose text
    matches their audio (CER at most MAX_TRAINING_CER); checkpoints in the workspace let a killed run resume.
    With too little clean speech to train on, the voice is a style-space clone instead. Returns the profile,
    its file and, for such a fallback, a note saying why."""
    from castvoice.app import dataset, open_workspace
    from castvoice.voice.profile import make_profile, save_profile
    from castvoice.voice.engines.kokoro_trained import trained_profile_state
    from castvoice.voice.train.fit import (DEFAULT_MINUTES, MIN_SPEECH_SECONDS, check_budget, resolve_device,
                                           speech_seconds)

    minutes = DEFAULT_MINUTES if minutes is None else minutes
    check_budget(minutes)
    resolve_device(device)
    ws = open_workspace(workspace)
    picked = dataset.references(ws, name, REFERENCE_COUNT)  # an error when there is too little clean speech
    character = picked[0].clips[0].character
    references = [r.audio() for r in picked]
    folder = ws.voices_dir
    existing = folder / VoiceProfile(character, "kokoro-trained", {}).file_name
    if existing.exists() and not replace:  # refused now, not after the training
        raise CastvoiceError(f"a voice named {character!r} already exists; choose another name", existing)
    check_writable(folder)
    utterances = _training_utterances(dataset.clean(ws, name))
    seconds = speech_seconds(utterances)
    if seconds < MIN_SPEECH_SECONDS:
        note = (f"{character} has {seconds / 60:.1f} minutes of clean, matching speech and training needs "
                f"{MIN_SPEECH_SECONDS / 60:.1f}: made a clone in Kokoro's voice space instead")
        profile = make_profile(character, "kokoro", references, min(minutes, FALLBACK_SEARCH_MINUTES) * 60,
                               f"{len(picked)} references of {character}")
        return profile, save_profile(profile, folder, replace=True), note
    state, arrays, similarity = trained_profile_state(utterances, references, minutes, device, "en-us",
                                                      ws.training_dir(character))
    source = f"{len(utterances)} clips of {character} ({seconds / 60:.1f} min)"
    profile = VoiceProfile(character, "kokoro-trained", state, arrays, references, similarity, source)
    return profile, save_profile(profile, folder, replace=True), None


def _training_utterances(clips) -> list:
    """The kept clips whose re-transcription matches their text, as utterances at their own sample rate."""
    import soundfile as sf

    from castvoice.voice.train import Utterance

    utterances = []
    for clip in clips:
        cer = clip.scores.get("cer")
        if clip.kept and (cer is None or cer <= MAX_TRAINING_CER):
            audio, rate = sf.read(clip.audio_file, dtype="float32", always_2d=True)
            utterances.append(Utterance(audio.mean(axis=1), rate, clip.normalized or clip.text))
    return utterances


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
