"""How long operations say how far they are: one callback type, whatever the front end.

Work reports through `track`; whoever started it chooses where the reports go with `reporting`
(the CLI renders them as rich progress bars or JSON lines, the GUI streams them to the page).
Without a reporter the reports go nowhere, so library code can always call `track`.

    with track("aligning words", total=len(lines)) as task:
        for line in lines:
            ...
            task.advance()
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """One report: how much of a task is done (`total` None: unknown), and whether it has finished."""

    task: str
    done: float
    total: float | None = None
    note: str | None = None  # a short extra, e.g. "loss 0.31" or "kept 12 of 14"
    finished: bool = False
    elapsed: float = 0.0  # seconds since the task started

    @property
    def fraction(self) -> float | None:
        return None if not self.total else min(1.0, self.done / self.total)

    def as_dict(self) -> dict:
        return {"task": self.task, "done": self.done, "total": self.total, "note": self.note,
                "finished": self.finished, "elapsed": round(self.elapsed, 3)}


ProgressCallback = Callable[[ProgressEvent], None]

_reporter: ContextVar[ProgressCallback | None] = ContextVar("castvoice_progress", default=None)


@contextlib.contextmanager
def reporting(callback: ProgressCallback | None) -> Iterator[None]:
    """Send the progress of work started inside this block (in this thread or task) to `callback`."""
    token = _reporter.set(callback)
    try:
        yield
    finally:
        _reporter.reset(token)


def current_reporter() -> ProgressCallback | None:
    """The callback progress goes to here, for work handed to another thread that should report too."""
    return _reporter.get()


class Task:
    """A running task; `advance` and `update` report to the current callback."""

    def __init__(self, name: str, total: float | None, done: float, callback: ProgressCallback | None) -> None:
        self.name, self.total, self.done, self.note = name, total, done, None
        self._callback = callback
        self._began = time.monotonic()

    def advance(self, amount: float = 1, note: str | None = None) -> None:
        self.update(done=self.done + amount, note=note)

    def update(self, done: float | None = None, total: float | None = None, note: str | None = None) -> None:
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        if note is not None:
            self.note = note
        self._emit(finished=False)

    def _emit(self, finished: bool) -> None:
        if self._callback is not None:
            self._callback(ProgressEvent(self.name, self.done, self.total, self.note, finished,
                                         time.monotonic() - self._began))


@contextlib.contextmanager
def track(name: str, total: float | None = None, done: float = 0) -> Iterator[Task]:
    """Report a task's progress to the current callback: once at the start, at each step, and when it ends."""
    task = Task(name, total, done, _reporter.get())
    task._emit(finished=False)
    try:
        yield task
    finally:
        task._emit(finished=True)
