"""Stored voices: voice profiles (.cvoice) in the service's voice store, plus read-only folders such as a
workspace's voices/. A voice id is the profile's file name without its suffix, matched in any case; ids are
checked so that no request reaches a path outside these folders."""

from __future__ import annotations

import re
from pathlib import Path

from castvoice.console import log
from castvoice.errors import CastvoiceError
from castvoice.service.errors import ApiError
from castvoice.text.normalize import slug
from castvoice.voice.profile import SUFFIX, VoiceProfile, load_profile, save_profile

VOICE_ID = re.compile(r"\w{1,100}")  # what slug() makes: letters, digits and _, nothing else


def voice_id(text: str) -> str | None:
    """The voice id `text` names, matched in any case ("Sheila" names sheila), or None when it is no
    well-formed id: no separators, dots or other path tricks."""
    lowered = text.lower()
    return lowered if VOICE_ID.fullmatch(lowered) and slug(lowered) == lowered else None


def is_voice_id(text: str) -> bool:
    """Whether `text` names a voice id (in any case)."""
    return voice_id(text) is not None


def check_voice_id(text: str) -> str:
    """The voice id `text` names; 422 unless it is well-formed."""
    found = voice_id(text)
    if found is None:
        raise ApiError(422, f"{text!r} is not a voice id: use letters, digits and _ "
                            "(GET /v1/voices lists them)", "invalid_voice_id", "voice")
    return found


def describe(path: Path, profile: VoiceProfile, read_only: bool) -> dict:
    """A voice as the API shows it."""
    return {"id": path.stem, "name": profile.name, "backend": profile.backend, "references": len(profile.references),
            "similarity": profile.similarity, "source": profile.source, "created": profile.created,
            "read_only": read_only}


class VoiceStore:
    def __init__(self, folders: tuple[Path, ...]) -> None:
        self.store, self.folders = folders[0], folders

    def find(self, name: str) -> Path | None:
        """The profile file of a (checked) id in any case, first folder first; None when there is none."""
        found = check_voice_id(name)
        for folder in self.folders:
            path = folder / f"{found}{SUFFIX}"
            if path.resolve().parent == folder.resolve() and path.is_file():
                return path
        return None

    def load(self, voice_id: str) -> VoiceProfile:
        """The stored voice `voice_id`; 404 when there is none."""
        path = self.find(voice_id)
        if path is None:
            raise ApiError(404, f"no stored voice {voice_id!r}; GET /v1/voices lists them", "voice_not_found", "voice")
        try:
            return load_profile(path)
        except CastvoiceError as error:
            raise ApiError(500, f"stored voice {voice_id!r} cannot be read: {error.problem}", "voice_unreadable") from None

    def list(self) -> list[dict]:
        """Every readable stored voice; a voice in the store hides one of the same id in a read-only folder."""
        found: dict[str, dict] = {}
        for folder in self.folders:
            for path in sorted(folder.glob(f"*{SUFFIX}")):
                if path.stem in found:
                    continue
                try:
                    found[path.stem] = describe(path, load_profile(path), read_only=folder != self.store)
                except CastvoiceError as error:
                    log.warning("skipping a voice profile: %s", error)
        return list(found.values())

    def add(self, profile: VoiceProfile, replace: bool) -> dict:
        """Save a new voice into the store; 409 when its id is taken and `replace` is not set."""
        self.store.mkdir(parents=True, exist_ok=True)
        if (self.store / profile.file_name).exists() and not replace:
            raise ApiError(409, f"a voice {Path(profile.file_name).stem!r} exists; pass replace=true or choose "
                                "another name", "voice_exists", "name")
        path = save_profile(profile, self.store, replace=True)
        return describe(path, profile, read_only=False)

    def delete(self, voice_id: str) -> None:
        """Remove a voice from the store; 404 when absent, 403 when it lives in a read-only folder."""
        path = self.find(voice_id)
        if path is None:
            raise ApiError(404, f"no stored voice {voice_id!r}", "voice_not_found", "voice")
        if path.parent != self.store:
            raise ApiError(403, f"voice {voice_id!r} is read-only here (it lives in {path.parent})", "read_only", "voice")
        path.unlink()
