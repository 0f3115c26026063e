"""The studio's projects: the workspaces it may open, and ingests running in the background.

A project is a workspace folder: the one given with `-w`, or each folder directly inside the projects folder.
The page names projects by folder name only, so no path outside the chosen folders can be reached. An
ingest runs as a `castvoice ingest` child process reporting JSON progress: cancelling it ends the process
(each stage lands whole or not at all), and a job file in the project remembers it, so that an ingest the
server was stopped in the middle of starts again, where it left off, when the server starts.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from castvoice.atomic import write_text_atomic
from castvoice.console import log
from castvoice.errors import CastvoiceError
from castvoice.processes import tied_to_this_process
from castvoice.workspace import is_workspace

JOB_FILE = "studio-ingest.json"
INPUTS = "inputs"  # uploaded movies, subtitles and screenplays, inside the project
MEDIA_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mp3", ".wav", ".flac", ".m4a", ".ogg"}
TEXT_SUFFIXES = {".srt", ".vtt", ".ass", ".ssa", ".txt", ".fountain"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,79}$")


@dataclass
class IngestJob:
    """One project's ingest: what it was asked to read, and how far it is."""

    project: str
    args: dict  # movie, subs, script: paths
    state: str = "running"  # running, done, failed, cancelled
    message: str = ""
    tasks: dict[str, dict] = field(default_factory=dict)  # the last progress event of each task
    started: float = field(default_factory=time.time)
    process: subprocess.Popen | None = None

    def as_dict(self) -> dict:
        return {"project": self.project, "state": self.state, "message": self.message, "tasks": self.tasks,
                "inputs": {k: Path(v).name for k, v in self.args.items() if v}}


class Projects:
    """The workspaces a studio serves, and the ingests running in them."""

    def __init__(self, workspace: Path | None = None, projects: Path | None = None) -> None:
        if (workspace is None) == (projects is None):
            raise CastvoiceError("give one of a workspace (-w DIR) and a projects folder (--projects DIR)")
        self.folder = Path(projects).resolve() if projects else None
        self.single = Path(workspace).resolve() if workspace else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        elif not is_workspace(self.single):
            raise CastvoiceError("not a castvoice workspace (no castvoice.db); run `castvoice ingest` first",
                                 self.single)
        self.jobs: dict[str, IngestJob] = {}
        self._lock = threading.Lock()

    @property
    def can_create(self) -> bool:
        return self.folder is not None

    def names(self) -> list[str]:
        """Every project, workspaces and projects whose first ingest has not finished alike."""
        if self.single is not None:
            return [self.single.name]
        return sorted(p.name for p in self.folder.iterdir()
                      if p.is_dir() and _NAME.match(p.name) and (is_workspace(p) or (p / JOB_FILE).exists()))

    def path(self, name: str) -> Path:
        """The folder of the project `name`; an error for any other name."""
        if name not in self.names():
            raise CastvoiceError(f"no project named {name!r}")
        return self.single if self.single is not None else self.folder / name

    def workspace(self, name: str) -> Path:
        """The workspace folder of a project that has one (its first ingest has stored something)."""
        root = self.path(name)
        if not is_workspace(root):
            job = self.jobs.get(name)
            raise CastvoiceError(f"{name} is still being imported" if job and job.state == "running" else
                                 f"{name} has no workspace yet: its import did not finish; resume it on Projects")
        return root

    def media_files(self) -> list[str]:
        """Movies lying in the projects folder, which a new project may be made from by name."""
        if self.folder is None:
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)

    def media_file(self, name: str) -> Path:
        if name not in self.media_files():
            raise CastvoiceError(f"no movie named {name!r} in the projects folder")
        return self.folder / name

    def new_project(self, name: str) -> Path:
        """Create the folder of a new project (the name must be free); returns it."""
        if self.folder is None:
            raise CastvoiceError("this studio serves one workspace; start it with --projects DIR to make projects")
        name = name.strip()
        if not _NAME.match(name):
            raise CastvoiceError(f"{name!r} cannot name a project: use letters, digits, spaces, '.', '_' and '-'")
        root = self.folder / name
        if root.exists():
            raise CastvoiceError(f"a project named {name!r} exists already; choose another name")
        (root / INPUTS).mkdir(parents=True)
        return root

    # -- ingest jobs -------------------------------------------------------------

    def start_ingest(self, name: str, movie: Path, subs: Path | None = None, script: Path | None = None) -> IngestJob:
        """Start importing into a project in the background."""
        args = {"movie": str(movie), "subs": str(subs) if subs else None, "script": str(script) if script else None}
        return self._launch(name, args)

    def resume_ingest(self, name: str) -> IngestJob:
        """Start an ingest again with what it was given; it goes on at its first unfinished stage."""
        job_file = self.path(name) / JOB_FILE
        if not job_file.exists():
            raise CastvoiceError(f"{name} has no import to resume")
        return self._launch(name, json.loads(job_file.read_text(encoding="utf-8"))["args"])

    def cancel_ingest(self, name: str) -> IngestJob:
        """Stop a running ingest; the stages already done stay, the one running is left out whole."""
        job = self.jobs.get(name)
        if job is None or job.state != "running" or job.process is None:
            raise CastvoiceError(f"no import is running in {name}")
        job.state, job.message = "cancelled", "cancelled: the stages done so far are kept; resume to go on"
        self._save(job)
        job.process.terminate()
        return job

    def job(self, name: str) -> IngestJob | None:
        self.path(name)
        return self.jobs.get(name)

    def resume_interrupted(self) -> list[str]:
        """At start: start again every ingest the last server was stopped in the middle of."""
        resumed = []
        for name in self.names():
            job_file = self.path(name) / JOB_FILE
            if job_file.exists() and json.loads(job_file.read_text(encoding="utf-8")).get("state") == "running":
                log.info("%s: the import was stopped with the server; going on where it left off", name)
                self._launch(name, json.loads(job_file.read_text(encoding="utf-8"))["args"],
                             "the server stopped during this import; it goes on where it left off")
                resumed.append(name)
        return resumed

    def _launch(self, name: str, args: dict, message: str = "") -> IngestJob:
        root = self.path(name) if name in self.names() else self.folder / name
        with self._lock:
            running = self.jobs.get(name)
            if running is not None and running.state == "running":
                raise CastvoiceError(f"{name} is being imported already")
            job = IngestJob(name, args, message=message)
            self.jobs[name] = job
        self._save(job)
        command = [sys.executable, "-m", "castvoice", "--progress", "json", "ingest", args["movie"], "-w", str(root)]
        command += ["--subs", args["subs"]] if args.get("subs") else []
        command += ["--script", args["script"]] if args.get("script") else []
        job.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True, preexec_fn=tied_to_this_process())
        threading.Thread(target=self._follow, args=(job,), daemon=True, name=f"ingest {name}").start()
        return job

    def _follow(self, job: IngestJob) -> None:
        """Read the child's progress and errors until it ends."""
        problem = ""
        for row in job.process.stderr:
            if row.startswith('{"progress"'):
                event = json.loads(row)["progress"]
                job.tasks[event["task"]] = event
            elif row.startswith("error: "):
                problem = row[len("error: "):].strip()
        code = job.process.wait()
        if job.state == "cancelled":
            return
        if code == 0:
            job.state, job.message = "done", "imported"
        else:
            job.state = "failed"
            job.message = problem or f"the import stopped (exit status {code}); resume to try again"
        self._save(job)

    def _save(self, job: IngestJob) -> None:
        root = self.path(job.project) if job.project in self.names() else self.folder / job.project
        write_text_atomic(root / JOB_FILE, json.dumps({"args": job.args, "state": job.state, "message": job.message}))

