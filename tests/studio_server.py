"""For the studio's tests: the studio running as `castvoice studio` in a child process, and waiting."""

from __future__ import annotations

import time
from pathlib import Path

from castvoice.bench.studio import StudioProcess

REPO = Path(__file__).resolve().parents[1]


def Studio(projects: Path, max_upload_mb: float = 20) -> StudioProcess:  # noqa: N802 - reads as the class it makes
    """The studio on `projects`, run from this checkout."""
    return StudioProcess(projects, max_upload_mb, cwd=REPO)


def wait_for(check, seconds: float = 300, what: str = "the condition"):
    """Poll `check` until it returns something true; that value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen within {seconds:.0f} s")
