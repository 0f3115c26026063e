"""A character's voice dataset: clean and check the clips, review them, override the checks, pick
references, export for a trainer, and report."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from castvoice.dataset.export import ExportSummary
from castvoice.dataset.checks import CheckSettings
from castvoice.dataset.clean import CleanSettings
from castvoice.dataset.enhance import EnhanceSettings
from castvoice.dataset.references import Reference
from castvoice.dataset.types import DatasetClip
from castvoice.errors import CastvoiceError
from castvoice.workspace import Workspace

__all__ = ["CheckSettings", "CleanSettings", "EnhanceSettings", "clean", "settings", "summarise", "set_override",
           "clip_audio", "references", "export", "report"]


def clean(ws: Workspace, name: str, settings: CleanSettings | None = None) -> list[DatasetClip]:
    """Build (or bring up to date) a character's clips: cut, clean and check each; settings default to
    those last used for the character. Returns every clip, kept or not. A read-only workspace gives the clips
    as they are, when they are up to date."""
    from castvoice.dataset.clean import built_clips, clean_clips

    if ws.read_only and settings is None:
        return built_clips(ws, name)
    with ws.exclusive():
        return clean_clips(ws, name, settings)


def settings(ws: Workspace, name: str) -> CleanSettings:
    """The settings a character's clips were last cleaned and checked with (the defaults before that)."""
    from castvoice.dataset.clean import stored_settings
    from castvoice.workspace.catalog import character_name

    return stored_settings(ws, character_name(ws, name)) or CleanSettings()


@dataclass
class DroppedGroup:
    reason: str
    clips: int
    seconds: float


@dataclass
class DatasetSummary:
    kept: int
    clips: int
    kept_seconds: float
    dropped: list[DroppedGroup]  # by reason, most clips first


def summarise(clips: list[DatasetClip]) -> DatasetSummary:
    """How many clips are kept, and how many were dropped for each reason."""
    kept = [c for c in clips if c.kept]
    dropped: dict[str, list[DatasetClip]] = {}
    for clip in clips:
        if not clip.kept:
            dropped.setdefault(clip.reason, []).append(clip)
    groups = [DroppedGroup(reason, len(group), sum(c.duration for c in group))
              for reason, group in sorted(dropped.items(), key=lambda kv: -len(kv[1]))]
    return DatasetSummary(len(kept), len(clips), sum(c.duration for c in kept), groups)


def set_override(ws: Workspace, label: str, decision: str) -> DatasetClip:
    """Keep (`include`) or drop (`exclude`) a clip whatever its checks say; returns the clip."""
    from castvoice.dataset.clean import set_override as override

    with ws.exclusive():
        return override(ws, label, decision)


def clip_audio(ws: Workspace, label: str) -> Path:
    """The cleaned audio file of a built clip."""
    from castvoice.workspace import catalog

    character = catalog.clip_character(ws, label)
    found = [c for c in catalog.clips_of(ws, character) if c.id == label] if character else []
    if not found:
        raise CastvoiceError(f"no clip {label!r}; build the character's clips first", ws.root)
    return found[0].audio_file


def references(ws: Workspace, name: str, count: int = 5) -> list[Reference]:
    """The best references for zero-shot cloning, best first: kept 3-10 s clips, else shorter kept clips
    joined, else longer ones; an error when the character has too little clean speech."""
    from castvoice.dataset.references import pick_references, require_clean_speech

    found = clean(ws, name)
    require_clean_speech(found, name)
    return pick_references(found, count)


def export(ws: Workspace, name: str, out: Path, fmt: str) -> ExportSummary:
    """Write a character's kept clips to `out` in a trainer's layout (`castvoice.dataset.export.FORMATS`)."""
    from castvoice.dataset.export import export_dataset

    found = clean(ws, name)
    return export_dataset(found, out, fmt, found[0].character if found else name)


def report(ws: Workspace, name: str, out: Path | None = None) -> Path:
    """Write the character's HTML report (default: the workspace's reports folder); returns its path."""
    from castvoice.dataset.clean import stored_settings
    from castvoice.dataset.report import write_report
    from castvoice.workspace.catalog import media_duration, movie_path

    if out is None and ws.read_only:
        raise CastvoiceError("the workspace is read-only; write the report elsewhere with --out FILE.html", ws.root)
    found = clean(ws, name)
    character = found[0].character if found else name
    checks = asdict((stored_settings(ws, character) or CleanSettings()).checks)
    thresholds = {"snr_db": checks["min_snr_db"], "similarity": checks["min_similarity"],
                  "min_duration": checks["min_duration"], "max_duration": checks["max_duration"]}
    path = out or ws.report_file(character)
    movie = movie_path(ws)
    return write_report(path, character, found, media_duration(ws), movie.name if movie else None, thresholds,
                        _voice_summary(ws, character))


def _voice_summary(ws: Workspace, character: str):
    """The character's voice profile in the workspace, summarised for the report; None when there is none."""
    from castvoice.dataset.report import VoiceSummary
    from castvoice.voice.profile import VoiceProfile, load_profile

    file = ws.voices_dir / VoiceProfile(character, "", {}).file_name
    if not file.exists():
        return None
    profile = load_profile(file)
    before = profile.state.get("nearest_similarity", {})
    return VoiceSummary(profile.backend, profile.source, profile.state.get("nearest") if before else None,
                        [(name, before.get(name), value) for name, value in profile.similarity.items()])
