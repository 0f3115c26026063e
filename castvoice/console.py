"""Terminal output: logs and progress bars go to stderr, results to stdout."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

stderr = Console(stderr=True)
log = logging.getLogger("castvoice")


def setup_logging(verbose: bool = False) -> None:
    """Send castvoice's log records to stderr through rich."""
    if not log.handlers:
        log.addHandler(RichHandler(console=stderr, show_path=False, show_time=False))
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


def progress() -> Progress:
    """A progress bar on stderr; hidden automatically when stderr is not a terminal."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    )
