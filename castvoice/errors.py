"""Errors that castvoice reports to the user as one line."""

from __future__ import annotations

from pathlib import Path


class CastvoiceError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits with status 2."""

    def __init__(self, problem: str, path: str | Path | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class InputError(CastvoiceError):
    """An input file is missing, unreadable or not what it claims to be."""
