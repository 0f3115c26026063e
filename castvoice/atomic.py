"""Write files so that a killed run never leaves a half-written result behind."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

TEMP_MARK = ".tmp-"


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it onto `final` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}{TEMP_MARK}{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(final: Path, text: str) -> None:
    """Write text to `final` through a temporary file."""
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")


def remove_temp_files(folder: Path) -> list[Path]:
    """Delete temporary files a killed run left under `folder`; call only while holding its lock."""
    stale = [p for p in Path(folder).rglob(f".*{TEMP_MARK}*") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
