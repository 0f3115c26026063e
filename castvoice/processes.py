"""Surviving kill -9, which runs no cleanup: child processes that end with castvoice, and telling what a
killed run left behind.

Every process castvoice starts runs `tied_to_this_process()` first: pool workers as their initializer, other
programs as subprocess's preexec_fn. Temporary files and folders carry the id of the process writing them,
so a later run can tell those of a killed one (`abandoned`)."""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
PARENT_CHECK_SECONDS = 1.0

# Looked up here, in the parent: a forked child should not load libraries before it execs.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def die_with_parent(parent: int) -> None:
    """End this process when the process `parent` ends. On Linux the kernel sends SIGKILL when the parent
    dies (PR_SET_PDEATHSIG); elsewhere a thread checks once a second that the parent is still there."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    else:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="castvoice-parent").start()
    if os.getppid() != parent:  # it ended before the signal was armed: this process has been handed on
        os._exit(1)


def tied_to_this_process() -> Callable[[], None]:
    """What a child process runs first so that it ends when this process ends: a process pool's initializer
    (picklable, so it serves "spawn" too) or subprocess's preexec_fn (which honours it on Linux only)."""
    return functools.partial(die_with_parent, os.getpid())


def abandoned(pid: str) -> bool:
    """Whether something named after the process id `pid` (a temporary file or folder) was left by a process
    that has ended, or by an earlier process that had this process's id."""
    if not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, as another user
        return False
    return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)
