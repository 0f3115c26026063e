"""The `castvoice` command line: one command per step, results on stdout, logs and progress on stderr.
Each command parses its options, calls one function of `castvoice.app` and prints the result."""

from __future__ import annotations

import sqlite3
import sys

# Each command module registers its commands; in this order they are listed in --help.
from castvoice.cli import project  # noqa: F401
from castvoice.cli import films  # noqa: F401
from castvoice.cli import dataset  # noqa: F401
from castvoice.cli import voice  # noqa: F401
from castvoice.cli import chat  # noqa: F401
from castvoice.cli import tools  # noqa: F401
from castvoice.cli import bench  # noqa: F401
from castvoice.cli.base import app, progress_renderer
from castvoice.console import log, stderr
from castvoice.errors import user_error
from castvoice.progress import reporting
from castvoice.workspace import db


def run() -> None:
    """Entry point: one-line errors with exit status 2 for problems the user can fix or meet (bad input, a full
    disk, permissions, a read-only workspace, a damaged file); anything else is a bug and shows its traceback."""
    try:
        with reporting(progress_renderer):
            app()
    except Exception as error:
        problem = user_error(error, db.last_opened if isinstance(error, sqlite3.Error) else None)
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        log.debug("details", exc_info=True)
        sys.exit(2)
    except KeyboardInterrupt:
        stderr.print("interrupted; rerun the same command to resume")
        sys.exit(130)
