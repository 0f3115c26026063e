"""Errors that castvoice reports to the user as one line."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path


class CastvoiceError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits with status 2."""

    def __init__(self, problem: str, path: str | Path | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class InputError(CastvoiceError):
    """An input file is missing, unreadable or not what it claims to be."""


NO_SPACE = "no space left on the device; free some space and run the command again"
FILE_IN_THE_WAY = "is a file where a folder belongs; move it away or choose another path"
NEARLY_FULL = 1 << 20  # bytes: an audio write that fails with less than this free ran out of space
READ_ONLY_WORKSPACE = "the workspace is read-only and this command writes to it; make it writable or work on a copy"

_OS_PROBLEMS = {
    errno.ENOSPC: NO_SPACE,
    errno.EDQUOT: "the disk quota is used up; free some space and run the command again",
    errno.EROFS: "the file system is read-only; use a writable folder",
    errno.EACCES: "permission denied; check the owner and permissions of the file and its folder",
    errno.EPERM: "operation not permitted; check the owner and permissions of the file and its folder",
    errno.ENOENT: "not found",
    errno.EISDIR: "is a folder where a file belongs; move it away or choose another path",
    errno.EIO: "input/output error; the disk may be failing or disconnected",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter path",
}

_SQLITE_PROBLEMS = {
    "SQLITE_FULL": NO_SPACE,
    "SQLITE_READONLY": READ_ONLY_WORKSPACE,
    "SQLITE_CANTOPEN": "the database cannot be opened; check that its folder exists and is readable",
    "SQLITE_NOTADB": "is not a castvoice database (damaged or overwritten); restore it or ingest into a new workspace",
    "SQLITE_CORRUPT": "the database is damaged; restore it or ingest into a new workspace",
    "SQLITE_BUSY": "another process holds the database; wait for it to finish and try again",
    "SQLITE_LOCKED": "another process holds the database; wait for it to finish and try again",
    "SQLITE_IOERR": "input/output error on the database; the disk may be full, failing or disconnected",
    "SQLITE_PERM": "permission denied; check the owner and permissions of the workspace",
}


def user_error(error: BaseException, path: str | Path | None = None) -> CastvoiceError | None:
    """`error` as a one-line CastvoiceError when it is a failure a user can meet: an OSError (disk full,
    permissions, read-only file system, a file where a folder belongs), a SQLite error, a media file FFmpeg
    cannot decode or an audio file libsndfile cannot read or write. It names `path`, else the file the error
    names. None for anything else."""
    if isinstance(error, CastvoiceError):
        return error
    if isinstance(error, OSError):
        return _os_error(error, path or error.filename)
    if isinstance(error, sqlite3.Error):
        name = getattr(error, "sqlite_errorname", "") or ""
        problem = next((text for key, text in _SQLITE_PROBLEMS.items() if name.startswith(key)),
                       f"database error: {error}")
        if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")) and _no_space(path):
            problem = NO_SPACE  # SQLite could not grow its log or index files
        return CastvoiceError(problem, path)
    av = sys.modules.get("av")  # a decoder error can only come from PyAV once it is loaded
    if av is not None and isinstance(error, av.error.FFmpegError):
        return CastvoiceError(f"could not be decoded ({error.strerror}); check that the file is whole, or convert "
                              "it with ffmpeg", path or _file_of(error))
    soundfile = sys.modules.get("soundfile")  # the same for an audio file error from soundfile
    if soundfile is not None and isinstance(error, soundfile.LibsndfileError):
        path = path or _file_of(error)
        if "System error" in error.error_string and _no_space(path):  # libsndfile's word for a failed write
            return CastvoiceError(NO_SPACE, path)
        return CastvoiceError(f"could not be read or written as audio ({error.error_string}); if the file is "
                              "damaged, replace it or run the command that made it again", path)
    return None


def _file_of(error: BaseException) -> str | None:
    """The file an error names: the filename of an OSError or a PyAV error, or the file libsndfile could not
    open."""
    if getattr(error, "filename", None):
        return error.filename
    opening = re.fullmatch(r"Error opening '(.*)': ", getattr(error, "prefix", None) or "")
    return opening.group(1) if opening else None


def _os_error(error: OSError, path: str | Path | None) -> CastvoiceError:
    code = error.errno
    if code in (errno.EEXIST, errno.ENOTDIR) and path is not None:
        blocker = _file_in_the_way(Path(path))
        if blocker is not None:
            return CastvoiceError(FILE_IN_THE_WAY, blocker)
    problem = _OS_PROBLEMS.get(code) or (error.strerror or str(error)).lower()
    return CastvoiceError(problem, path)


def _file_in_the_way(path: Path) -> Path | None:
    """The first of `path` and its parents that exists and is not a folder."""
    for candidate in [path, *path.parents]:
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def _no_space(path: str | Path | None) -> bool:
    """Whether the file system holding `path` is (all but) full: a write can fail with a little space left,
    when it needs more than that."""
    if path is None:
        return False
    for candidate in [Path(path), *Path(path).parents]:
        with contextlib.suppress(OSError):
            stat = os.statvfs(candidate)
            return stat.f_bavail * stat.f_frsize < NEARLY_FULL
    return False


@contextlib.contextmanager
def writing(path: str | Path, temporary: str | Path | None = None) -> Iterator[None]:
    """Report a failure while writing `path` as one line naming it. A failure on `temporary` (where `path` is
    built before it is renamed into place), or on no file in particular, is put down to `path`."""
    try:
        yield
    except Exception as error:
        if isinstance(error, sqlite3.Error):
            raise  # about the database, which the CLI names, not about `path`
        own = _file_of(error)
        ours = own is None or (temporary is not None and Path(own).is_relative_to(temporary))
        problem = user_error(error, path if ours else None)
        if problem is None or problem is error:
            raise
        raise problem from error
