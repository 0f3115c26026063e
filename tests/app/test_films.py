"""Projects of many films: a batch of films into one project (on this machine and on a real local Ray cluster),
a character recognised by voice across films, the watcher, and bad input."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from castvoice.app.films import IngestOptions, batch, find_films, watch
from castvoice.errors import CastvoiceError
from castvoice.workspace import Workspace, catalog
from conftest import castvoice
from film_pieces import corrupt_film, cut_film
from test_faults import NO_SPACE, fill, small_disk  # noqa: F401 - the fixture, for the full-disk test

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def library(demo, tmp_path_factory) -> Path:
    """Three short films cut from the demo film: ep1 with its screenplay (names the characters), ep2 and ep3
    with subtitles that name nobody; and a corrupt one."""
    folder = tmp_path_factory.mktemp("library")
    cut_film(demo, 0, 84, folder / "ep1.mp4")
    cut_film(demo, 84, 168.2, folder / "ep2.mp4", script=False)
    cut_film(demo, 40, 110, folder / "ep3.mp4", script=False)
    corrupt_film(folder / "broken.mp4")
    return folder


@pytest.fixture(scope="module")
def two_film_project(library, tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("project") / "series"
    castvoice("batch", library / "ep1.mp4", library / "ep2.mp4", "-w", project)
    return project


def _film_rows(project: Path) -> dict[str, int]:
    """Film name -> its line count, straight from the database; and no line belongs to no film."""
    with closing(sqlite3.connect(project / "castvoice.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM lines WHERE film_id NOT IN (SELECT id FROM films)").fetchone()[0] == 0
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        return dict(conn.execute("SELECT f.name, COUNT(l.id) FROM films f LEFT JOIN lines l ON l.film_id = f.id"
                                 " GROUP BY f.id"))


def test_a_character_named_in_film_one_is_recognised_by_voice_in_film_two(two_film_project):
    matches = {}
    ws = Workspace(two_film_project)
    for line in catalog.lines_of(ws, None):
        if line.film == "ep2":
            matches.setdefault(line.character, []).append(line)
    # ep2's subtitles and no screenplay name nobody: every name there came from the voice, across films.
    assert {"Diane", "Marcus", "Oliver"} <= set(matches)
    assert all(line.source == "voice" and line.confidence >= 0.5 for named in matches.values() for line in named
               if named[0].character)
    listed = json.loads(castvoice("lines", "Diane", "-w", two_film_project, "--json").stdout)
    assert {line["film"] for line in listed} == {"ep1", "ep2"}


def test_the_pooled_dataset_holds_the_clips_of_both_films(two_film_project, tmp_path):
    from castvoice.workspace import copy_workspace

    project = copy_workspace(two_film_project, tmp_path / "series")
    castvoice("clean", "Marcus", "-w", project)
    clips = catalog.clips_of(Workspace(project), "Marcus")
    assert {clip.film for clip in clips} == {"ep1", "ep2"}
    assert all(clip.audio_file.is_file() for clip in clips)
    castvoice("clips", "Marcus", "--out", tmp_path / "cut", "-w", project)
    index = [json.loads(row) for row in (tmp_path / "cut" / "clips.jsonl").read_text().splitlines()]
    assert {row["film"] for row in index} == {"ep1", "ep2"}


def test_a_batch_reports_the_corrupt_film_and_a_rerun_skips_what_is_done(library, tmp_path):
    project = tmp_path / "series"
    done = castvoice("batch", library, "-w", project, "--json", check=False)
    assert done.returncode == 1
    outcome = {film["name"]: film for film in json.loads(done.stdout)["films"]}
    assert outcome["broken"]["status"] == "failed" and "broken.mp4" in outcome["broken"]["error"]
    assert {name for name, film in outcome.items() if film["status"] == "joined"} == {"ep1", "ep2", "ep3"}
    counts = _film_rows(project)
    assert set(counts) == {"ep1", "ep2", "ep3"} and all(counts.values())
    again = json.loads(castvoice("batch", library / "ep*.mp4", "-w", project, "--json").stdout)
    assert {film["status"] for film in again["films"]} == {"skipped"}
    assert _film_rows(project) == counts


def test_ingest_adds_a_film_to_a_project(library, two_film_project, tmp_path):
    from castvoice.workspace import copy_workspace

    project = copy_workspace(two_film_project, tmp_path / "series")
    castvoice("ingest", library / "ep3.mp4", "-w", project)
    assert set(_film_rows(project)) == {"ep1", "ep2", "ep3"}


def test_the_watcher_ingests_films_as_they_arrive_and_a_restart_loses_nothing(library, two_film_project, tmp_path):
    from castvoice.workspace import copy_workspace

    project = copy_workspace(two_film_project, tmp_path / "series")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("ep1", "ep2"):
        (inbox / f"{name}.mp4").symlink_to(library / f"{name}.mp4")
        (inbox / f"{name}.srt").symlink_to(library / f"{name}.srt")
    assert list(watch(inbox, project, once=True)) == []  # both already in the project
    (inbox / "ep3.mp4").symlink_to(library / "ep3.mp4")
    results = list(watch(inbox, project, once=True))
    assert [f.name for r in results for f in r.films if f.status == "joined"] == ["ep3"]
    assert set(_film_rows(project)) == {"ep1", "ep2", "ep3"}


# --- bad input ------------------------------------------------------------------------------------------------


def test_a_folder_with_no_films(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no films here")
    done = castvoice("batch", tmp_path / "empty", "-w", tmp_path / "series", check=False)
    assert done.returncode == 2 and "no films here" in done.stderr and str(tmp_path / "empty") in done.stderr
    assert not (tmp_path / "series").exists()


def test_films_with_the_same_name(library, tmp_path):
    (tmp_path / "other").mkdir()
    shutil.copyfile(library / "ep1.mp4", tmp_path / "other" / "ep1.mkv")
    with pytest.raises(CastvoiceError, match="two films share the name 'ep1'"):
        find_films([library / "ep1.mp4", tmp_path / "other"])


def test_a_ray_address_that_does_not_answer(library, tmp_path):
    done = castvoice("batch", library / "ep1.mp4", "-w", tmp_path / "series", "--ray", "127.0.0.1:9", check=False)
    assert done.returncode == 2 and "no Ray cluster answers at 127.0.0.1:9" in done.stderr
    assert not (tmp_path / "series" / "castvoice.db").exists() or _film_rows(tmp_path / "series") == {}


def test_a_full_disk_leaves_no_film_half_written(library, two_film_project, small_disk):  # noqa: F811
    from castvoice.workspace import copy_workspace

    project = copy_workspace(two_film_project, small_disk / "series")
    before = _film_rows(project)
    fill(small_disk, leave=1 << 20)
    result = batch([library / "ep3.mp4"], project, IngestOptions())
    assert [(f.name, f.status) for f in result.films] == [("ep3", "failed")]
    assert NO_SPACE in result.films[0].error
    assert _film_rows(project) == before


# --- Ray ------------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ray_start(*args: str, temp_dir: Path) -> int:
    """Run `ray start` in a session of its own and return that session's process group: the daemons it
    leaves behind (GCS, raylet, their workers) stay in it, so the group is exactly this node's processes."""
    ray = Path(sys.executable).with_name("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = subprocess.Popen([str(ray), "start", *args, "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
                                "--object-store-memory", str(100 << 20), "--disable-usage-stats"],
                               env=env, cwd=temp_dir, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    output, _ = started.communicate(timeout=180)
    if started.returncode != 0:
        _kill_group(started.pid)
        pytest.fail(f"`ray start {' '.join(args)}` failed:\n{output[-3000:]}")
    return started.pid


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


@pytest.fixture
def ray_cluster():
    """A real Ray cluster on this machine, started as a user would: `ray start --head` and a second node
    joining it with `ray start --address`, one CPU each, joined and reached at 127.0.0.1 (Ray registers the
    nodes under the machine's own address, which is local too). Yields the address and a
    function that kills the second node (every process it started). Only this cluster's processes are
    ended afterwards (by their process groups), never other Ray clusters on the machine."""
    pytest.importorskip("ray")
    temp_dir = Path(tempfile.mkdtemp(prefix="cvray", dir="/tmp"))  # short: Ray's socket paths must fit
    port = _free_port()
    address = f"127.0.0.1:{port}"
    groups = []
    try:
        groups.append(_ray_start("--head", "--port", str(port), "--include-dashboard", "false",
                                 "--temp-dir", str(temp_dir), temp_dir=temp_dir))
        groups.append(_ray_start("--address", address, temp_dir=temp_dir))
        yield address, lambda: _kill_group(groups[1])
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        for group in reversed(groups):
            _kill_group(group)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_batch_on_ray_survives_a_worker_that_dies(library, ray_cluster, tmp_path):
    from castvoice.app.cluster import run_on_ray

    address, kill_the_second_node = ray_cluster
    project = tmp_path / "series"
    finished = threading.Event()
    killed = []

    def kill_the_second_node_mid_run():
        # Two films run at once on two one-CPU nodes, so once two have started, one runs on the second node.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(list((project / "films").glob("*/castvoice.db"))) < 2:
            time.sleep(0.2)
        time.sleep(2)
        killed.append(not finished.is_set())
        kill_the_second_node()

    killer = threading.Thread(target=kill_the_second_node_mid_run)
    killer.start()
    try:
        result = batch([library], project, IngestOptions(), run_on_ray(address, workers=2), workers=2)
    finally:
        finished.set()
        killer.join()
    assert killed == [True], "the second node was not killed while the batch ran"
    status = {f.name: f.status for f in result.films}
    assert status == {"broken": "failed", "ep1": "joined", "ep2": "joined", "ep3": "joined"}
    assert "broken.mp4" in next(f.error for f in result.films if f.name == "broken")
    counts = _film_rows(project)
    assert set(counts) == {"ep1", "ep2", "ep3"} and all(counts.values())
    with closing(sqlite3.connect(project / "castvoice.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM stages GROUP BY film_id").fetchall() == [(7,)] * 3
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT name) FROM films").fetchone() == (3, 3)
