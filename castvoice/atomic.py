"""Write files so that a killed run never leaves a half-written result behind."""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterator
from pathlib import Path

from castvoice.errors import FILE_IN_THE_WAY, CastvoiceError, writing
from castvoice.processes import abandoned

TEMP_MARK = ".tmp-"


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it onto `final` only if the block succeeds. A failure to
    write (disk full, permissions, a file where a folder belongs) is reported as one line naming `final`."""
    final = Path(final)
    tmp = final.with_name(f".{final.name}{TEMP_MARK}{os.getpid()}")
    with writing(final, tmp):
        final.parent.mkdir(parents=True, exist_ok=True)
        for left in final.parent.glob(f".{glob.escape(final.name)}{TEMP_MARK}*"):
            if abandoned(left.name.rpartition(TEMP_MARK)[2]):  # by a killed run
                left.unlink(missing_ok=True)
        try:
            yield tmp
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)


def write_text_atomic(final: Path, text: str) -> None:
    """Write text to `final` through a temporary file."""
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")


def check_writable(folder: Path) -> None:
    """Fail now, before long work whose result would go nowhere, when `folder` cannot be made or written."""
    for existing in [Path(folder), *Path(folder).parents]:
        if existing.exists():
            break
    if not existing.is_dir():
        raise CastvoiceError(FILE_IN_THE_WAY, existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CastvoiceError("cannot be written (a read-only file system, or no permission); make it writable "
                             "or choose another place", existing)


def remove_temp_files(folder: Path) -> list[Path]:
    """Delete temporary files a killed run left under `folder`; call only while holding its lock."""
    stale = [p for p in Path(folder).rglob(f".*{TEMP_MARK}*") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
