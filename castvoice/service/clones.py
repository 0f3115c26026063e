"""Voices cloned from reference audio, kept so that the same reference is searched once: by a hash of the
decoded audio with the backend, language and budget, in memory (the most recently used few) and on disk
(castvoice's cache, clones/), so that a restart keeps them. A request whose reference is being searched for
another request waits for that search instead of starting its own."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np

from castvoice import __version__
from castvoice.console import log
from castvoice.errors import CastvoiceError
from castvoice.service.errors import ApiError
from castvoice.voice.profile import SUFFIX, VoiceProfile, load_profile, save_profile

MEMORY_VOICES = 64  # the most recently used
DISK_VOICES = 1024  # about 0.5 MB each for Kokoro; the least recently used go first


def clone_key(audio: np.ndarray, backend: str, language: str, budget_seconds: float) -> str:
    """What identifies a clone: the decoded reference, how it was searched, and the castvoice that searched."""
    digest = hashlib.sha256(np.ascontiguousarray(audio, np.float32).tobytes())
    digest.update(json.dumps([backend, language, round(budget_seconds, 3), __version__]).encode())
    return digest.hexdigest()[:32]


class Clones:
    """The clone cache of one service process; `voice` is its one entry point."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._memory: OrderedDict[str, VoiceProfile] = OrderedDict()
        self._lock = threading.Lock()  # the memory is read and written from the work queues' threads
        self._searches: dict[str, asyncio.Event] = {}  # key -> set when its search ends; event loop only
        self._searched = 0  # searches started by this process

    def status(self) -> dict:
        """Voices held in memory, searches running, and searches started since the process began."""
        with self._lock:
            return {"in_memory": len(self._memory), "searching": len(self._searches), "searched": self._searched}

    async def voice(self, key: str, search: Callable[[], Awaitable[VoiceProfile]], timeout: float) -> VoiceProfile:
        """The clone of `key` from memory or disk, else what `search()` returns (kept for next time). While a
        search for `key` runs, other requests for it wait for it (at most `timeout` seconds) and then look
        again: they get its voice, or, if it failed, one of them searches."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if (found := self._remembered(key)) is not None:
                return found
            if (running := self._searches.get(key)) is not None:
                try:
                    await asyncio.wait_for(running.wait(), max(deadline - loop.time(), 0.0))
                except TimeoutError:
                    raise ApiError(504, f"the request took longer than {timeout:g} s", "timeout") from None
                continue
            if (found := await asyncio.to_thread(self._from_disk, key)) is not None:
                return found
            if key not in self._searches and self._remembered(key) is None:  # none ran while the disk was read
                break
        done = self._searches[key] = asyncio.Event()
        self._searched += 1
        try:
            return await search()
        finally:
            del self._searches[key]
            done.set()

    def keep(self, key: str, profile: VoiceProfile) -> VoiceProfile:
        """Remember a searched voice in memory and on disk (without its references, which the hash stands for)."""
        kept = VoiceProfile(key, profile.backend, profile.state, profile.arrays, [], profile.similarity,
                            profile.source, profile.created)
        try:
            save_profile(kept, self.folder, replace=True)
            self._prune_disk()
        except OSError as error:  # a full or read-only disk costs the next request a search, nothing more
            log.warning("cannot keep a cloned voice in %s: %s", self.folder, error)
        self._remember(key, kept)
        return kept

    def _remembered(self, key: str) -> VoiceProfile | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        return None

    def _remember(self, key: str, profile: VoiceProfile) -> None:
        with self._lock:
            self._memory[key] = profile
            self._memory.move_to_end(key)
            while len(self._memory) > MEMORY_VOICES:
                self._memory.popitem(last=False)

    def _from_disk(self, key: str) -> VoiceProfile | None:
        path = self.folder / f"{key}{SUFFIX}"
        try:
            profile = load_profile(path)
            with contextlib.suppress(OSError):
                path.touch()  # recently used: pruned last
        except CastvoiceError as error:
            if path.exists():
                log.warning("ignoring a cached clone: %s", error)
            return None
        self._remember(key, profile)
        return profile

    def _prune_disk(self) -> None:
        kept = sorted(self.folder.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in kept[DISK_VOICES:]:
            path.unlink(missing_ok=True)
