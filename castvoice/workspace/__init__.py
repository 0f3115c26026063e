"""The project workspace: a folder with a SQLite database and the files stages write, holding one film or
many (the episodes of a series): a character's lines are pooled across them."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from castvoice.errors import READ_ONLY_WORKSPACE, CastvoiceError
from castvoice.text.normalize import slug
from castvoice.workspace import db

DB_NAME = "castvoice.db"
DEFAULT_ROOT = "castvoice-work"
ENV_VAR = "CASTVOICE_WORKSPACE"


@dataclass
class Workspace:
    """A workspace folder. Every folder and file castvoice keeps in it is named here. With `film` set, it is
    that film's view of the workspace: its audio, and catalog queries about film time (other voices near a
    line, the lines in film order) keep to it; without, they cover every film, and the audio is film 1's."""

    root: Path
    film: int | None = None

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    def for_film(self, film: int | None) -> Workspace:
        """The same workspace (and database connection) seen from one of its films."""
        view = Workspace(self.root, film)
        if "conn" in self.__dict__:
            view.__dict__["conn"] = self.conn
        return view

    @property
    def film_root(self) -> Path:
        """The folder of the film's own files: the workspace itself for a film ingested in place, films/<name>/
        for one added to a project of many."""
        return self.root / (db.film_folder(self.conn, self.film or 1) if is_workspace(self.root) else "")

    def film_staging(self, name: str) -> Path:
        """Where a film added to the project is ingested on its own before it joins (and keeps its files)."""
        return self.root / "films" / slug(name)

    @property
    def source_audio(self) -> Path:
        """The film's audio, mono at its own sample rate (clips are cut from this)."""
        return self.film_root / "audio" / "source.flac"

    @property
    def analysis_audio(self) -> Path:
        """The film's audio as 16 kHz mono float32 for analysis."""
        return self.film_root / "audio" / "analysis.wav"

    @property
    def voices_dir(self) -> Path:
        """Voice profiles made from this workspace's characters."""
        return self.root / "voices"

    def speaker_sample(self, label: str) -> Path:
        """A clip of a diarized speaker to listen to."""
        return self.root / "speakers" / f"{label}.wav"

    def clips_dir(self, character: str) -> Path:
        """A character's cleaned dataset clips."""
        return self.root / "clips" / slug(character)

    def training_dir(self, character: str) -> Path:
        """Checkpoints of a character's voice training while it runs (`castvoice train-voice`)."""
        return self.root / "training" / slug(character)

    def report_file(self, character: str) -> Path:
        """Where `castvoice report` writes a character's page unless told otherwise."""
        return self.root / "reports" / f"{slug(character)}.html"

    @property
    def snapshots_dir(self) -> Path:
        """Copies of the database taken before reruns replace results (`castvoice undo`)."""
        return self.root / "snapshots"

    def chat_dir(self, conversation: str) -> Path:
        """The spoken replies of one conversation."""
        return self.root / "chats" / conversation.replace(":", "-")

    @cached_property
    def conn(self) -> sqlite3.Connection:
        """The database; read-only where the workspace cannot be written."""
        return db.connect(self.db_path)

    @property
    def read_only(self) -> bool:
        """Whether the workspace cannot be written (a read-only folder, database or file system)."""
        return not db.writable(self.db_path)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: everything inside lands together or not at all."""
        if self.read_only:
            raise CastvoiceError(READ_ONLY_WORKSPACE, self.root)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:  # SQLite has already rolled back after some errors (a full disk)
                self.conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the workspace's lock: one writing castvoice process at a time; stale temp files go."""
        import fcntl

        from castvoice.atomic import remove_temp_files

        if self.read_only:
            raise CastvoiceError(READ_ONLY_WORKSPACE, self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CastvoiceError("another castvoice process is working in this workspace", self.root) from None
            remove_temp_files(self.root)
            yield

    def close(self) -> None:
        if "conn" in self.__dict__:
            self.conn.close()
            del self.__dict__["conn"]


def copy_workspace(source: Path, target: Path, *skip: str) -> Path:
    """Copy a workspace folder, leaving out files matching `skip`; the database goes through SQLite's
    backup, which reads a live write-ahead log consistently where a file copy could catch it mid-change."""
    import shutil
    from contextlib import closing

    shutil.copytree(source, target, ignore=shutil.ignore_patterns(f"{DB_NAME}*", *skip))
    with closing(sqlite3.connect(source / DB_NAME)) as src, closing(sqlite3.connect(target / DB_NAME)) as dst:
        src.backup(dst)
    return target


def is_workspace(path: Path) -> bool:
    return (path / DB_NAME).is_file()


def default_for_movie(movie: Path, cwd: Path | None = None) -> Path:
    """Where `ingest` puts a movie's workspace when none is chosen."""
    return (cwd or Path.cwd()) / DEFAULT_ROOT / movie.stem


def find_workspaces(cwd: Path) -> list[Path]:
    """Workspaces in or under `cwd` (the folder itself, or castvoice-work/<name>/)."""
    if is_workspace(cwd):
        return [cwd]
    found = sorted(p.parent for p in (cwd / DEFAULT_ROOT).glob(f"*/{DB_NAME}"))
    found += sorted(p.parent for p in cwd.glob(f"*/{DB_NAME}"))
    return list(dict.fromkeys(found))


def resolve(explicit: Path | None, cwd: Path | None = None) -> Path:
    """Choose the workspace folder: -w, then $CASTVOICE_WORKSPACE, then the single one under cwd."""
    chosen = explicit or (Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None)
    if chosen is not None:
        return chosen
    cwd = cwd or Path.cwd()
    found = find_workspaces(cwd)
    if not found:
        raise CastvoiceError("no workspace here; run `castvoice ingest MOVIE` or pass -w DIR", cwd)
    if len(found) > 1:
        names = ", ".join(str(p) for p in found)
        raise CastvoiceError(f"several workspaces found, choose one with -w: {names}", cwd)
    return found[0]


def open_existing(explicit: Path | None) -> Workspace:
    """Open a workspace that ingest has already created."""
    root = resolve(explicit)
    if not is_workspace(root):
        raise CastvoiceError("not a castvoice workspace (no castvoice.db); run `castvoice ingest` first", root)
    return Workspace(root)
