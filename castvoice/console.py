"""Terminal output: logs and progress go to stderr, results to stdout."""

from __future__ import annotations

import json
import logging
import sys
import time

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from castvoice.progress import ProgressEvent

stderr = Console(stderr=True)
log = logging.getLogger("castvoice")

PROGRESS_MODES = ("auto", "json", "none")
JSON_INTERVAL = 0.5  # seconds between two JSON lines of one task (its start and end always go out)


def setup_logging(verbose: bool = False) -> None:
    """Send castvoice's log records to stderr through rich."""
    if not log.handlers:
        log.addHandler(RichHandler(console=stderr, show_path=False, show_time=False))
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


class ProgressRenderer:
    """Shows progress events on stderr: rich progress bars on a terminal (`auto`), one JSON object per
    line for scripts and other programs (`json`), or nothing (`none`)."""

    def __init__(self, mode: str = "auto") -> None:
        self.mode = mode
        self._bars: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._last_json: dict[str, float] = {}

    def __call__(self, event: ProgressEvent) -> None:
        if self.mode == "json":
            self._json(event)
        elif self.mode == "auto" and stderr.is_terminal:
            self._bar(event)

    def _json(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        if not event.finished and event.done and now - self._last_json.get(event.task, 0.0) < JSON_INTERVAL:
            return
        self._last_json[event.task] = now
        sys.stderr.write(json.dumps({"progress": event.as_dict()}) + "\n")
        sys.stderr.flush()

    def _bar(self, event: ProgressEvent) -> None:
        if self._bars is None:
            self._bars = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), TextColumn("{task.fields[note]}"), console=stderr,
                                  transient=True)
            self._bars.start()
        task = self._tasks.get(event.task)
        if event.finished:
            if task is not None:
                self._bars.remove_task(task)
                del self._tasks[event.task]
            if not self._tasks:
                self._bars.stop()
                self._bars = None
            return
        if task is None:
            self._tasks[event.task] = self._bars.add_task(event.task, total=event.total, completed=event.done,
                                                          note=event.note or "")
        else:
            self._bars.update(task, total=event.total, completed=event.done, note=event.note or "")
