"""The studio's API given what it should refuse: files that are not what they claim, an upload over the limit,
two tabs editing one workspace, a workspace another process holds, a path outside the projects, and a server
stopped in the middle of an ingest. Each gets a clear message and leaves the workspace as it was."""

from __future__ import annotations

import fcntl
import json

import httpx
import pytest
from fastapi.testclient import TestClient

from castvoice.service.server import make_settings
from castvoice.studio.app import create_studio
from castvoice.studio.projects import JOB_FILE, Projects
from studio_server import Studio, wait_for

pytestmark = pytest.mark.slow  # the demo film


def client(folder, max_upload_bytes: int = 20_000_000) -> TestClient:
    settings = make_settings("127.0.0.1", None, False, max_upload_bytes=max_upload_bytes)
    return TestClient(create_studio(settings, Projects(projects=folder)))


def problem(answer) -> str:
    return answer.json()["error"]["message"]


def test_files_that_are_not_what_they_claim_leave_no_project(short_film, tmp_path):
    studio = client(tmp_path / "projects")
    answer = studio.post("/studio/api/projects", data={"name": "noise"},
                         files={"movie": ("film.mp4", b"this is no film at all" * 50, "video/mp4")})
    assert answer.status_code == 422 and "not a media file" in problem(answer)
    answer = studio.post("/studio/api/projects", data={"name": "bad subs"},
                         files={"movie": ("short.mp4", (short_film / "short.mp4").read_bytes(), "video/mp4"),
                                "subs": ("short.srt", b"\x00\x01 a shopping list, not subtitles \x02" * 20, "text/plain")})
    assert answer.status_code == 422 and "subtitle" in problem(answer).lower()
    assert studio.get("/studio/api/projects").json()["projects"] == []
    assert not (tmp_path / "projects" / "noise").exists() and not (tmp_path / "projects" / "bad subs").exists()


def test_an_upload_over_the_limit_is_refused_whole(short_film, tmp_path):
    studio = client(tmp_path / "projects", max_upload_bytes=100_000)
    movie = (short_film / "short.mp4").read_bytes()
    assert len(movie) > 100_000
    answer = studio.post("/studio/api/projects", data={"name": "big"}, files={"movie": ("short.mp4", movie, "video/mp4")})
    assert answer.status_code == 413 and "larger than this server accepts (0.1 MB)" in problem(answer)
    assert not (tmp_path / "projects" / "big").exists()


def test_paths_outside_the_projects_cannot_be_reached(projects):
    studio = client(projects)
    answer = studio.get("/studio/api/p/nothing/characters")
    assert answer.status_code == 422 and "no project named 'nothing'" in problem(answer)
    for path in ("/studio/api/p/..%2F..%2Fetc/lines", "/studio/api/p/demo/chats/..%2F..%2F/castvoice.db",
                 "/studio/api/p/demo/chats/..%2F..%2F..%2F..%2Fetc/passwd"):
        assert studio.get(path).status_code in (404, 422), path  # no route, or no such project or reply
    answer = studio.post("/studio/api/projects", data={"name": "../escape", "movie_name": "../../etc/passwd"})
    assert answer.status_code == 422 and "no movie named" in problem(answer)


def test_two_tabs_editing_one_line_and_a_workspace_held_elsewhere(projects):
    tab_one, tab_two = client(projects), client(projects)
    line = tab_one.get("/studio/api/p/demo/lines").json()["lines"][0]
    first = tab_two.post(f"/studio/api/p/demo/lines/{line['id']}", json={"text": "Fixed in tab two.", "was": line["text"]})
    assert first.status_code == 200
    late = tab_one.post(f"/studio/api/p/demo/lines/{line['id']}", json={"text": "Fixed in tab one.", "was": line["text"]})
    assert late.status_code == 422 and "changed elsewhere" in problem(late) and "reload" in problem(late)
    assert tab_one.get("/studio/api/p/demo/lines").json()["lines"][0]["text"] == "Fixed in tab two."
    with open(projects / "demo" / ".lock", "w") as lock:  # as a `castvoice ingest` in a terminal holds it
        fcntl.flock(lock, fcntl.LOCK_EX)
        held = tab_one.post(f"/studio/api/p/demo/lines/{line['id']}", json={"text": "Again.", "was": "Fixed in tab two."})
        assert held.status_code == 422 and "another castvoice process is working in this workspace" in problem(held)
    assert tab_one.get("/studio/api/p/demo/lines").json()["lines"][0]["text"] == "Fixed in tab two."


def test_an_ingest_cancelled_or_cut_by_a_server_restart_goes_on_where_it_left_off(short_film, tmp_path):
    folder = tmp_path / "projects"
    studio = Studio(folder).start()
    try:
        with open(short_film / "short.mp4", "rb") as movie, open(short_film / "short.srt", "rb") as subs:
            started = httpx.post(studio.api("/projects"), data={"name": "short"}, timeout=60,
                                 files={"movie": ("short.mp4", movie), "subs": ("short.srt", subs)})
        assert started.status_code == 200 and started.json()["state"] == "running"
        cancelled = httpx.post(studio.api("/projects/short/cancel")).json()
        assert cancelled["state"] == "cancelled" and "resume" in cancelled["message"]
        assert httpx.post(studio.api("/projects/short/resume")).json()["state"] == "running"

        def a_stage_done():
            job = httpx.get(studio.api("/projects/short/job")).json()
            return job["tasks"].get("ingest", {}).get("done", 0) >= 2 and job

        wait_for(a_stage_done, 120, "the first stages of the ingest")
        studio.kill()  # in the middle of the ingest; its child process ends with it
        assert json.loads((folder / "short" / JOB_FILE).read_text())["state"] == "running"
        studio.start()
        job = httpx.get(studio.api("/projects/short/job")).json()
        assert job["state"] == "running" and "the server stopped during this import" in job["message"]
        done = wait_for(lambda: (j := httpx.get(studio.api("/projects/short/job")).json())["state"] != "running" and j,
                        300, "the resumed ingest")
        assert done["state"] == "done", done["message"]
        said = httpx.get(studio.api("/p/short/lines")).json()["lines"]
        assert said and all(line["text"] for line in said)
    finally:
        studio.stop()
