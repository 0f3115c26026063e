"""Copies of a workspace's database taken before a rerun replaces results, so `castvoice undo` can bring
the workspace back. The files stages write (audio, clips) are not copied: they are rebuilt from the
database when needed."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from castvoice.atomic import atomic_path
from castvoice.errors import CastvoiceError
from castvoice.workspace import Workspace

KEEP = 5  # newest snapshots kept


@dataclass
class Snapshot:
    path: Path
    taken: str  # UTC, ISO 8601
    reason: str


def _parse(path: Path) -> Snapshot:
    stamp, _, reason = path.stem.partition("_")
    taken = datetime.strptime(stamp, "%Y%m%dT%H%M%S%f").replace(tzinfo=timezone.utc)
    return Snapshot(path, taken.isoformat(timespec="milliseconds"), reason.replace("-", " "))


def snapshots(ws: Workspace) -> list[Snapshot]:
    """The workspace's snapshots, newest first."""
    folder = ws.snapshots_dir
    return [_parse(p) for p in sorted(folder.glob("*.db"), reverse=True)] if folder.is_dir() else []


def take(ws: Workspace, reason: str) -> Snapshot:
    """Copy the database as it is now (consistently, through SQLite's backup) and keep the newest few."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    path = ws.snapshots_dir / f"{stamp}_{'-'.join(reason.split())}.db"
    with atomic_path(path) as tmp, closing(sqlite3.connect(tmp)) as copy:
        ws.conn.backup(copy)
    for old in snapshots(ws)[KEEP:]:
        old.path.unlink(missing_ok=True)
    return _parse(path)


def restore(ws: Workspace) -> Snapshot:
    """Bring the database back to the newest snapshot, which is used up; the state replaced is kept as a
    snapshot in turn, so an undo can itself be undone."""
    found = snapshots(ws)
    if not found:
        raise CastvoiceError("nothing to undo: no snapshot in this workspace", ws.root)
    newest = found[0]
    take(ws, f"before undo of {newest.reason}")
    with closing(sqlite3.connect(newest.path)) as source:
        source.backup(ws.conn)
    newest.path.unlink()
    return newest
