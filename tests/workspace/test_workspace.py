"""Choosing the workspace (-w, $CASTVOICE_WORKSPACE, the current folder), its schema, and its lock."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from castvoice.errors import CastvoiceError
from castvoice.workspace import DB_NAME, ENV_VAR, Workspace, copy_workspace, db, find_workspaces, resolve
from conftest import castvoice
from tiny_media import error_line, snapshot, write_tone

TABLES = {"settings", "stages", "media", "characters", "lines", "sound_events", "script_blocks"}


@pytest.fixture(autouse=True)
def no_workspace_from_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def movie(tmp_path_factory) -> Path:
    return write_tone(tmp_path_factory.mktemp("movie") / "tone.mkv", seconds=1.0)


def _subs(folder: Path, speaker: str) -> Path:
    path = folder / f"{speaker.lower()}.srt"
    path.write_text(f"1\n00:00:00,200 --> 00:00:00,800\n{speaker}: Hello there.\n")
    return path


@pytest.fixture(scope="module")
def workspaces(movie, tmp_path_factory) -> dict[str, Path]:
    """Two ingested workspaces of the same movie, one whose only character is Leo, one with Mia."""
    folder = tmp_path_factory.mktemp("workspaces")
    made = {}
    for speaker in ("Leo", "Mia"):
        made[speaker] = folder / speaker.lower()
        castvoice("ingest", "--text-only", movie, "--subs", _subs(folder, speaker), "-w", made[speaker])
    return made


def _copy(source: Path, target: Path) -> Path:
    copy_workspace(source, target)
    return target


def _cast(done) -> list[str]:
    assert done.returncode == 0, done.stderr
    return [row["name"] for row in json.loads(done.stdout)]


# --- choosing the workspace -------------------------------------------------


def test_w_wins_over_the_environment_and_the_current_folder(workspaces, tmp_path):
    _copy(workspaces["Mia"], tmp_path / "castvoice-work" / "film")
    done = castvoice("characters", "--json", "-w", workspaces["Leo"], cwd=tmp_path,
                     env={ENV_VAR: str(workspaces["Mia"])})
    assert _cast(done) == ["Leo"]


def test_environment_is_used_without_w(workspaces, tmp_path):
    _copy(workspaces["Leo"], tmp_path / "castvoice-work" / "film")
    done = castvoice("characters", "--json", cwd=tmp_path, env={ENV_VAR: str(workspaces["Mia"])})
    assert _cast(done) == ["Mia"]


@pytest.mark.parametrize("where", ["castvoice-work/film", "film", "."])
def test_the_single_workspace_under_the_current_folder_is_used(workspaces, tmp_path, where):
    cwd = tmp_path / "here"
    _copy(workspaces["Mia"], cwd / where)
    assert _cast(castvoice("characters", "--json", cwd=cwd)) == ["Mia"]


def test_two_workspaces_under_the_current_folder_is_an_error_naming_both(workspaces, tmp_path):
    cwd = tmp_path.resolve()
    first = _copy(workspaces["Leo"], cwd / "castvoice-work" / "one")
    second = _copy(workspaces["Mia"], cwd / "castvoice-work" / "two")
    line = error_line(castvoice("characters", cwd=cwd, check=False), str(first), str(second))
    assert "-w" in line
    assert find_workspaces(cwd) == [first, second]


def test_no_workspace_is_a_clear_error(tmp_path):
    cwd = tmp_path.resolve()
    line = error_line(castvoice("characters", cwd=cwd, check=False), str(cwd))
    assert "no workspace" in line and "castvoice ingest" in line
    assert list(cwd.iterdir()) == []
    with pytest.raises(CastvoiceError, match="no workspace"):
        resolve(None, cwd)


def test_w_naming_a_folder_that_is_not_a_workspace_is_an_error(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    line = error_line(castvoice("characters", "-w", folder, check=False), str(folder))
    assert "not a castvoice workspace" in line
    assert list(folder.iterdir()) == []


def test_ingest_without_w_creates_the_workspace_under_the_current_folder(movie, tmp_path):
    cwd = tmp_path.resolve()
    done = castvoice("ingest", "--text-only", movie, "--subs", _subs(tmp_path, "Leo"), cwd=cwd)
    root = cwd / "castvoice-work" / movie.stem
    assert (root / DB_NAME).is_file()
    assert (root / "audio" / "source.flac").is_file()
    assert str(Path("castvoice-work") / movie.stem) in done.stdout
    assert _cast(castvoice("characters", "--json", cwd=cwd)) == ["Leo"]


# --- schema -----------------------------------------------------------------


def _version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_new_database_has_the_latest_schema(workspaces, tmp_path):
    ws = Workspace(tmp_path)
    try:
        assert db.schema_version(ws.conn) == len(db.MIGRATIONS)
        assert _tables(ws.conn) >= TABLES
    finally:
        ws.close()
    assert _version(tmp_path / DB_NAME) == len(db.MIGRATIONS)
    assert _version(workspaces["Leo"] / DB_NAME) == len(db.MIGRATIONS)


def test_migrating_a_version_0_database_creates_every_table(tmp_path):
    path = tmp_path / DB_NAME
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert db.schema_version(conn) == 0 and _tables(conn) == set()
        db.migrate(conn)
        assert db.schema_version(conn) == len(db.MIGRATIONS)
        assert _tables(conn) >= TABLES
        conn.execute("INSERT INTO characters (name) VALUES ('Leo')")
        db.migrate(conn)  # nothing left to do: no error, nothing lost
        assert conn.execute("SELECT name FROM characters").fetchall() == [("Leo",)]


def _from_the_future(source: Path, target: Path) -> Path:
    """A copy of a workspace whose schema is one version newer than this castvoice knows."""
    root = _copy(source, target)
    with closing(sqlite3.connect(root / DB_NAME)) as conn:
        conn.execute(f"PRAGMA user_version = {len(db.MIGRATIONS) + 1}")
    return root


def test_a_newer_schema_is_refused_with_a_clear_error(workspaces, tmp_path):
    root = _from_the_future(workspaces["Leo"], tmp_path / "ws")
    with pytest.raises(CastvoiceError, match="newer than this castvoice") as raised:
        db.connect(root / DB_NAME)
    assert DB_NAME in str(raised.value)


@pytest.mark.parametrize("command", ["characters", "ingest"])
def test_the_cli_refuses_a_newer_schema_in_one_line_and_changes_nothing(workspaces, movie, tmp_path, command):
    root = _from_the_future(workspaces["Leo"], tmp_path / "ws")
    before = snapshot(root)
    args = ["characters"] if command == "characters" else ["ingest", movie, "--subs", _subs(tmp_path, "Mia")]
    line = error_line(castvoice(*args, "-w", root, check=False), str(root / DB_NAME))
    assert f"version {len(db.MIGRATIONS) + 1}" in line
    assert snapshot(root) == before


# --- one writer at a time ---------------------------------------------------


def test_a_second_writer_is_refused_while_the_workspace_is_locked(workspaces, movie, tmp_path):
    root = _copy(workspaces["Leo"], tmp_path / "ws")
    subs = _subs(tmp_path, "Mia")
    with Workspace(root).exclusive():
        before = snapshot(root)
        line = error_line(castvoice("ingest", "--text-only", movie, "--subs", subs, "-w", root, check=False), root.name)
        assert "another castvoice process" in line
        assert snapshot(root) == before
    castvoice("ingest", "--text-only", movie, "--subs", subs, "-w", root)  # the lock is free again
    assert _cast(castvoice("characters", "--json", "-w", root)) == ["Mia"]
