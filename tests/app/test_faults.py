"""Faults injected into real CLI runs: a full disk, kill -9, a read-only workspace, a file where a folder belongs,
a damaged database or audio file. What must hold in every case:

- a failure exits with status 2 and one `error:` line on stderr naming the file and the problem (commands
  that stop before logging anything print that line alone), never a traceback;
- the database passes SQLite's integrity check, and each stage or clip it records has its files, complete;
  a failure that writes nothing leaves the workspace as it was;
- no process the command started outlives it;
- run again, the command resumes (or starts over) and ends where an undisturbed run ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
import soundfile as sf

from castvoice.atomic import TEMP_MARK
from castvoice.workspace import ENV_VAR, copy_workspace
from conftest import castvoice
from tiny_media import error_line, snapshot, write_tone

STAGES = ["media", "diarization", "lines", "screenplay", "attribution", "alignment", "voices"]
TEXT_ONLY_STAGES = ["media", "lines", "screenplay", "attribution"]
NO_SPACE = "no space left on the device"
SUBS = "1\n00:00:00,200 --> 00:00:00,800\nLEO: First line here.\n\n2\n00:00:01,000 --> 00:00:01,600\nMIA: The second line.\n"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No workspace from the environment, and a voice library of the test's own."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("CASTVOICE_VOICES", str(tmp_path / "library"))


# --- helpers: failures, processes, disks, read-only folders ---------------------------------------------------


def failed(done: subprocess.CompletedProcess, *names: str) -> str:
    """Check a run that failed part-way: status 2, no traceback, and exactly one `error:` line, the last on
    stderr, naming `names` (log lines of the work done before may come first)."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, f"exit {done.returncode}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], done.stderr
    for name in names:
        assert name in errors[0], f"{name!r} not in {errors[0]!r}"
    return errors[0]


def _processes() -> dict[int, tuple[int, str]]:
    """Every process: pid -> (parent pid, state)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            found[int(stat.parent.name)] = (int(fields[1]), fields[0])
    return found


def descendants(pid: int) -> set[int]:
    """The processes `pid` started, and theirs."""
    table = _processes()
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        children = {p for p, (ppid, _) in table.items() if ppid == parent} - found
        found |= children
        todo.extend(children)
    return found


def assert_none_left(pids: set[int], wait: float = 10.0) -> None:
    """None of `pids` runs any more (a zombie, dead and waiting for init to reap it, does not count)."""
    deadline = time.monotonic() + wait
    while True:
        table = _processes()
        running = {p for p in pids if p in table and table[p][1] != "Z"}
        if not running or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not running, f"left running after the command was killed: {running}"


class Running:
    """A castvoice command in the background, with JSON progress on stderr (kept in a file)."""

    def __init__(self, args: list, folder: Path) -> None:
        self.stderr = folder / f"stderr-{time.monotonic_ns()}.txt"
        with open(self.stderr, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "castvoice", "--progress", "json", *map(str, args)],
                stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "COLUMNS": "200"})

    def events(self, task: str) -> list[dict]:
        """The progress events of `task` so far."""
        found = []
        for line in self.stderr.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError, KeyError):
                event = json.loads(line)["progress"]
                if event["task"] == task:
                    found.append(event)
        return found

    def kill_when(self, ready: Callable[[], bool], moment: str, timeout: float = 180.0) -> set[int]:
        """kill -9 the command once `ready()` holds; return the processes it had started."""
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.process.poll() is None, f"it ended before {moment}:\n{self.stderr.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no {moment} within {timeout:g} s"
            time.sleep(0.003)
        os.kill(self.process.pid, signal.SIGSTOP)  # it starts nothing new while its children are listed
        children = descendants(self.process.pid)
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        return children


def kill_at(args: list, moments: dict[str, Callable[[Running], bool]], folder: Path,
            consistent: Callable[[], None]) -> None:
    """Run the command once per moment, kill -9 it there, and check that nothing it started is left and
    that what it leaves is consistent."""
    for moment, ready in moments.items():
        run = Running(args, folder)
        left = run.kill_when(lambda: ready(run), moment)
        assert_none_left(left)
        consistent()


def started(task: str) -> Callable[[Running], bool]:
    return lambda run: bool(run.events(task))


def reached(task: str, share: float) -> Callable[[Running], bool]:
    """`task` has done `share` of its total (or finished)."""
    def ready(run: Running) -> bool:
        events = run.events(task)
        return bool(events) and (events[-1]["finished"] or events[-1]["done"] >= share * events[-1]["total"])

    return ready


def temp_files(folder: Path) -> list[Path]:
    return list(folder.rglob(f"*{TEMP_MARK}*"))


def _integrity(ws: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(ws / "castvoice.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return conn


def assert_stages_consistent(ws: Path) -> None:
    """The stages recorded as finished come in order, and the audio of a finished media stage is complete."""
    if not (ws / "castvoice.db").is_file():
        return
    with closing(_integrity(ws)) as conn:
        done = {row[0] for row in conn.execute("SELECT name FROM stages")}
        media = conn.execute("SELECT duration FROM media").fetchone()
    assert done in (set(STAGES[: len(done)]), set(TEXT_ONLY_STAGES[: len(done)])), done
    if "media" in done:
        for audio in (ws / "audio" / "source.flac", ws / "audio" / "analysis.wav"):
            assert sf.info(audio).duration == pytest.approx(media[0], abs=0.01)


def assert_clips_consistent(ws: Path) -> None:
    """Every clip the database holds has its file, complete."""
    with closing(_integrity(ws)) as conn:
        rows = conn.execute("SELECT file, scores FROM clips").fetchall()
    for file, scores in rows:
        assert sf.info(ws / file).duration == pytest.approx(json.loads(scores)["duration"], abs=0.01), file


def review(ws: Path, name: str = "Marcus") -> list[tuple]:
    clips = json.loads(castvoice("review", name, "--json", "-w", ws).stdout)
    return [(c["id"], c["kept"], c["reason"], c["text"]) for c in clips]


def same_content(before: dict, after: dict) -> bool:
    """Workspace snapshots hold the same data: the database's content and every other file (SQLite's own
    -wal and -shm files aside)."""
    def files(shot: dict) -> dict:
        return {k: v for k, v in shot["files"].items() if not k.startswith("castvoice.db")}
    return before["sql"] == after["sql"] and files(before) == files(after)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 64 MB tmpfs: fill it with `fill` to make writes fail with ENOSPC."""
    folder = tmp_path / "disk"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here (needs root with CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Take all of the disk's free space but `leave` bytes; delete the returned file to give it back."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, max(4096, stat.f_bavail * stat.f_frsize - leave))
    return filler


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` read-only for castvoice: mounted read-only onto itself (as root, for whom permissions do not
    stop writes), else without write permission."""
    if os.geteuid() != 0:
        subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chmod", "-R", "u+w", str(folder)], check=True)
        return
    bound = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
    if bound.returncode != 0:
        pytest.skip(f"running as root and cannot bind-mount a folder read-only here: {bound.stderr.strip()}")
    try:
        remounted = subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True, text=True)
        if remounted.returncode != 0 or os.access(folder, os.W_OK):
            pytest.skip(f"running as root and cannot make a bind mount read-only here: {remounted.stderr.strip()}")
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


# --- workspaces -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def marcus(demo_workspace, tmp_path_factory) -> Path:
    """The demo workspace with Marcus's clips built (copy it before changing it)."""
    ws = copy_workspace(demo_workspace, tmp_path_factory.mktemp("faults") / "marcus")
    castvoice("clean", "Marcus", "--denoise", "none", "-w", ws)
    return ws


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """A two-second tone with two subtitled lines, ingested (copy the workspace before changing it), and a
    voice profile made from the tone."""
    folder = tmp_path_factory.mktemp("tiny")
    movie = write_tone(folder / "tone.mkv")
    (folder / "tone.srt").write_text(SUBS)
    castvoice("voice", "create", "Tone", "--from", movie, "--backend", "piper", cwd=folder,  # no workspace there yet
              env={"CASTVOICE_VOICES": str(folder / "library"), ENV_VAR: ""})
    castvoice("ingest", "--text-only", movie, "--subs", folder / "tone.srt", "-w", folder / "ws")
    return {"movie": movie, "subs": folder / "tone.srt", "ws": folder / "ws", "voice": folder / "library" / "tone.cvoice"}


# --- a file where a folder belongs, damaged files ---------------------------------------------------------------


@pytest.mark.parametrize("where", ["ws", "ws/inside"])
def test_a_file_where_the_workspace_belongs(tiny, tmp_path, where):
    blocker = tmp_path / "ws"
    blocker.write_text("notes\n")
    done = castvoice("ingest", "--text-only", tiny["movie"], "--subs", tiny["subs"], "-w", tmp_path / where, check=False)
    assert "a file where a folder belongs" in error_line(done, str(blocker))
    assert blocker.read_text() == "notes\n"
    assert "not a castvoice workspace" in error_line(castvoice("characters", "-w", blocker, check=False), str(blocker))


def test_a_voice_file_where_the_voices_folder_belongs(tiny, tmp_path):
    ws = copy_workspace(tiny["ws"], tmp_path / "ws")
    (ws / "voices").write_bytes(tiny["voice"].read_bytes())
    before = snapshot(ws)
    for args in (["voice", "import", tiny["voice"]], ["voice", "list"],
                 ["voice", "create", "Again", "--from", tiny["movie"], "--backend", "piper"]):
        done = castvoice(*args, "-w", ws, check=False)
        assert "a file where a folder belongs" in error_line(done, str(ws / "voices"))
    assert snapshot(ws) == before


def test_a_voice_file_where_the_voice_library_belongs(tiny, tmp_path):
    library = tmp_path / "library.cvoice"
    library.write_bytes(tiny["voice"].read_bytes())
    done = castvoice("voice", "create", "Again", "--from", tiny["movie"], "--backend", "piper", cwd=tmp_path,
                     env={"CASTVOICE_VOICES": str(library)}, check=False)
    assert "a file where a folder belongs" in error_line(done, str(library))
    assert library.read_bytes() == tiny["voice"].read_bytes()


def test_a_damaged_database_is_named(tiny, tmp_path):
    ws = copy_workspace(tiny["ws"], tmp_path / "ws")
    (ws / "castvoice.db").write_text("Not a database: overwritten by accident.\n" * 100)
    done = castvoice("characters", "-w", ws, check=False)
    assert "not a castvoice database" in error_line(done, str(ws / "castvoice.db"))


def test_a_damaged_audio_file_is_named(tiny, tmp_path):
    ws = copy_workspace(tiny["ws"], tmp_path / "ws")
    (ws / "audio" / "source.flac").write_text("Not audio.\n")
    done = castvoice("clips", "Leo", "--out", tmp_path / "clips", "-w", ws, check=False)
    assert "could not be read" in error_line(done, str(ws / "audio" / "source.flac"))
    assert not (tmp_path / "clips").exists() or not any((tmp_path / "clips").iterdir())


# --- a full disk ------------------------------------------------------------------------------------------------


def test_disk_full_while_decoding_leaves_no_workspace(demo, small_disk):
    fill(small_disk, leave=2 << 20)
    done = castvoice("ingest", "--text-only", demo / "demo.mp4", "--subs", demo / "demo.srt",
                     "-w", small_disk / "ws", check=False)
    assert NO_SPACE in failed(done, str(small_disk / "ws" / "audio"))
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


@pytest.mark.slow
def test_disk_full_while_storing_lines_leaves_the_workspace_as_it_was(demo, demo_workspace, small_disk):
    ws = copy_workspace(demo_workspace, small_disk / "ws")
    before = snapshot(ws)
    filler = fill(small_disk)
    args = ["ingest", "--text-only", demo / "demo.mp4", "--subs", demo / "demo.srt", "--subs-offset", "0.5",
            "--script", demo / "demo.screenplay.txt", "-w", ws]
    assert NO_SPACE in failed(castvoice(*args, check=False), str(ws / "castvoice.db"))
    assert same_content(before, snapshot(ws))

    filler.unlink()
    castvoice(*args)
    assert_stages_consistent(ws)
    with closing(sqlite3.connect(ws / "castvoice.db")) as conn:
        moved = conn.execute("SELECT MIN(cue_start) FROM lines").fetchone()[0]
    with closing(sqlite3.connect(demo_workspace / "castvoice.db")) as conn:
        assert moved == pytest.approx(conn.execute("SELECT MIN(cue_start) FROM lines").fetchone()[0] + 0.5)


@pytest.mark.slow
def test_disk_full_while_cleaning_keeps_the_clips_it_finished(demo_workspace, marcus, small_disk):
    ws = copy_workspace(demo_workspace, small_disk / "ws")
    filler = fill(small_disk, leave=600_000)
    args = ["clean", "Marcus", "--denoise", "none", "-w", ws]
    assert NO_SPACE in failed(castvoice(*args, check=False), str(ws))
    assert_clips_consistent(ws)
    assert not temp_files(ws)
    with closing(sqlite3.connect(ws / "castvoice.db")) as conn:
        finished = conn.execute("SELECT COUNT(*) FROM clips").fetchone()[0]

    filler.unlink()
    assert f"{finished} clips up to date" in castvoice(*args).stderr
    assert review(ws) == review(marcus)


@pytest.mark.slow
def test_disk_full_while_exporting_keeps_the_previous_export(marcus, small_disk):
    out = small_disk / "export"
    castvoice("dataset", "Marcus", "--out", out, "--format", "ljspeech", "-w", marcus)
    before = snapshot(out)
    filler = fill(small_disk, leave=100_000)
    done = castvoice("dataset", "Marcus", "--out", out, "--format", "fish", "-w", marcus, check=False)
    assert NO_SPACE in failed(done, str(out))
    assert snapshot(out) == before
    assert sorted(p.name for p in small_disk.iterdir()) == ["export", "filler"]

    filler.unlink()
    castvoice("dataset", "Marcus", "--out", out, "--format", "fish", "-w", marcus)
    assert json.loads((out / ".castvoice-export").read_text())["format"] == "fish"


@pytest.mark.slow
def test_disk_full_while_writing_a_report_leaves_no_file(marcus, small_disk):
    fill(small_disk, leave=50_000)
    page = small_disk / "marcus.html"
    assert NO_SPACE in failed(castvoice("report", "Marcus", "--out", page, "-w", marcus, check=False), str(page))
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_disk_full_while_saving_a_voice_leaves_no_file(tiny, small_disk):
    fill(small_disk)
    library = small_disk / "voices"
    done = castvoice("voice", "create", "Again", "--from", tiny["movie"], "--backend", "piper", cwd=small_disk,
                     env={"CASTVOICE_VOICES": str(library)}, check=False)
    assert NO_SPACE in failed(done, str(library))
    assert not list(library.glob("*"))


# --- kill -9 early, in the middle and late --------------------------------------------------------------------


@pytest.mark.slow
def test_ingest_killed_three_times_resumes_and_ends_as_an_undisturbed_run(demo, demo_workspace, tmp_path):
    ws = tmp_path / "ws"
    args = ["ingest", demo / "demo.mp4", "--subs", demo / "demo.srt", "--script", demo / "demo.screenplay.txt",
            "-w", ws]
    kill_at(args, {"while decoding": started("decoding audio"), "while aligning": started("aligning words"),
                   "while embedding voices": started("embedding voices")},
            tmp_path, lambda: assert_stages_consistent(ws))
    castvoice(*args)
    assert_stages_consistent(ws)
    assert not temp_files(ws)
    for command in (["characters", "--json"], ["lines", "--json"], ["speakers", "--json"]):
        resumed = json.loads(castvoice(*command, "-w", ws).stdout)
        undisturbed = json.loads(castvoice(*command, "-w", demo_workspace).stdout)
        if command[0] == "speakers":  # their sample clips live in each workspace
            resumed = [{**r, "sample": Path(r["sample"]).name} for r in resumed]
            undisturbed = [{**r, "sample": Path(r["sample"]).name} for r in undisturbed]
        assert resumed == undisturbed, command


@pytest.mark.slow
def test_clean_killed_three_times_leaves_no_worker_and_resumes(demo_workspace, marcus, tmp_path):
    ws = copy_workspace(demo_workspace, tmp_path / "ws")
    args = ["clean", "Marcus", "--denoise", "none", "-w", ws]
    task = "cleaning and checking Marcus"

    def workers_started(run: Running) -> bool:
        return bool(run.events(task)) and len(descendants(run.process.pid)) >= 2

    kill_at(args, {"as the workers start": workers_started, "half way": reached(task, 0.5),
                   "near the end": reached(task, 0.8)},
            tmp_path, lambda: assert_clips_consistent(ws))
    castvoice(*args)
    assert_clips_consistent(ws)
    assert not temp_files(ws)
    assert review(ws) == review(marcus)


@pytest.mark.slow
def test_voice_create_killed_three_times_leaves_no_voice_until_it_finishes(marcus, tmp_path):
    ws = copy_workspace(marcus, tmp_path / "ws")
    args = ["voice", "create", "Marcus", "--budget", "0.1", "-w", ws]

    def candidates_chosen(run: Running) -> bool:
        return "cloning: nearest stock voice" in run.stderr.read_text()

    def first_voice_tried(run: Running) -> bool:
        return any("1 voices tried" in (e["note"] or "") for e in run.events("voice search"))

    def no_voice() -> None:
        assert not list((ws / "voices").glob("*.cvoice"))

    kill_at(args, {"as the search starts": started("voice search"), "once the candidates are chosen": candidates_chosen,
                   "after the first voice tried": first_voice_tried},
            tmp_path, no_voice)
    castvoice(*args)
    assert not temp_files(ws)
    listed = json.loads(castvoice("voice", "list", "--json", "-w", ws).stdout)
    assert [v["name"] for v in listed] == ["Marcus"]


@pytest.mark.slow
def test_dataset_export_killed_three_times_keeps_a_whole_export(marcus, tmp_path):
    out = tmp_path / "export"
    castvoice("dataset", "Marcus", "--out", out, "--format", "ljspeech", "-w", marcus)
    before = snapshot(out)
    kept = sum(1 for clip in review(marcus) if clip[1])
    args = ["dataset", "Marcus", "--out", out, "--format", "fish", "-w", marcus]

    def building(wavs: int) -> Callable[[Running], bool]:
        def ready(run: Running) -> bool:
            build = tmp_path / f".export.export-{run.process.pid}"
            return build.is_dir() and len(list(build.rglob("*.wav"))) >= wavs
        return ready

    def whole() -> None:
        """`out` holds the previous export, or (killed as it was renamed into place) the new one, complete."""
        if snapshot(out) != before:
            assert len(list(out.rglob("*.wav"))) == len(list(out.rglob("*.lab"))) == kept
            assert json.loads((out / ".castvoice-export").read_text())["format"] == "fish"

    kill_at(args, {"as the build starts": building(0), "half way": building(kept // 2),
                   "near the end": building(kept * 3 // 4)},
            tmp_path, whole)
    castvoice(*args)
    whole()
    assert snapshot(out) != before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".export")] == []


@pytest.mark.slow
def test_report_killed_three_times_keeps_a_whole_page(marcus, tmp_path):
    ws = copy_workspace(marcus, tmp_path / "ws")
    castvoice("report", "Marcus", "-w", ws)
    page = ws / "reports" / "marcus.html"
    clips = len(review(ws))
    task = "report on Marcus"

    def whole() -> None:
        text = page.read_text()
        assert text.rstrip().endswith("</html>") and text.count("<audio") == clips

    kill_at(["report", "Marcus", "-w", ws],
            {"at the first clip": started(task), "half way": reached(task, 0.5), "near the end": reached(task, 0.7)},
            tmp_path, whole)
    castvoice("report", "Marcus", "-w", ws)
    whole()
    assert not temp_files(ws)


# --- a read-only workspace ------------------------------------------------------------------------------------

READ_COMMANDS = {
    "characters": ["characters", "--json"],
    "lines": ["lines", "Marcus", "--json"],
    "speakers": ["speakers", "--json"],
    "review": ["review", "Marcus", "--json"],
    "references": ["references", "Marcus", "--json"],
    "voice list": ["voice", "list", "--json"],
    "persona": ["persona", "Marcus", "--json"],
    "memory": ["memory", "Marcus", "list", "--json"],
}


@pytest.fixture(scope="module")
def locked(marcus, tiny, tmp_path_factory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A copy of the Marcus workspace with a voice, read-only, and what each read command printed before."""
    ws = copy_workspace(marcus, tmp_path_factory.mktemp("read-only") / "ws")
    castvoice("voice", "import", tiny["voice"], "-w", ws)
    printed = {name: castvoice(*args, "-w", ws).stdout for name, args in READ_COMMANDS.items()}
    with read_only(ws):
        yield ws, printed


@pytest.mark.slow
@pytest.mark.parametrize("command", READ_COMMANDS)
def test_read_commands_work_on_a_read_only_workspace(locked, command):
    ws, printed = locked
    before = snapshot(ws)
    done = castvoice(*READ_COMMANDS[command], "-w", ws)
    assert "error" not in done.stderr.lower()
    assert done.stdout == printed[command]
    assert snapshot(ws) == before


@pytest.mark.slow
def test_exports_and_reports_from_a_read_only_workspace_go_elsewhere(locked, tmp_path):
    ws, _ = locked
    castvoice("dataset", "Marcus", "--out", tmp_path / "export", "-w", ws)
    castvoice("report", "Marcus", "--out", tmp_path / "marcus.html", "-w", ws)
    assert (tmp_path / "export" / "metadata.csv").is_file() and (tmp_path / "marcus.html").is_file()


WRITE_COMMANDS = {
    "name": (["name", "SPEAKER_00", "Someone"], "read-only"),
    "include": (["include", "marcus_00003"], "read-only"),
    "clean": (["clean", "Marcus"], "read-only"),
    "report": (["report", "Marcus"], "--out"),
    "persona": (["persona", "Marcus", "--set", "A keeper of lamps."], "read-only"),
    "memory": (["memory", "Marcus", "clear"], "read-only"),
    "voice create": (["voice", "create", "Marcus", "--backend", "piper"], "cannot be written"),
}


@pytest.mark.slow
@pytest.mark.parametrize("command", WRITE_COMMANDS)
def test_writing_to_a_read_only_workspace_stops_with_one_line(locked, command):
    ws, _ = locked
    before = snapshot(ws)
    args, words = WRITE_COMMANDS[command]
    assert words in error_line(castvoice(*args, "-w", ws, check=False), str(ws))
    assert snapshot(ws) == before


@pytest.mark.slow
def test_ingest_into_a_read_only_workspace_stops_with_one_line(locked, demo):
    ws, _ = locked
    done = castvoice("ingest", "--text-only", demo / "demo.mp4", "--subs", demo / "demo.srt", "-w", ws, check=False)
    assert "read-only" in error_line(done, str(ws))


def test_a_read_only_workspace_is_read_with_its_write_ahead_log(tiny, tmp_path):
    """A killed run can leave changes in the write-ahead log: a read-only workspace is read with them."""
    source = copy_workspace(tiny["ws"], tmp_path / "source")
    with closing(sqlite3.connect(source / "castvoice.db", isolation_level=None)) as conn:
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute("UPDATE characters SET name = 'Leonora' WHERE name = 'Leo'")
        subprocess.run(["cp", "-a", str(source), str(tmp_path / "ws")], check=True)  # as the killed run left it
    ws = tmp_path / "ws"
    assert (ws / "castvoice.db-wal").stat().st_size > 0
    with read_only(ws):
        names = [row["name"] for row in json.loads(castvoice("characters", "--json", "-w", ws).stdout)]
    assert sorted(names) == ["Leonora", "Mia"]
