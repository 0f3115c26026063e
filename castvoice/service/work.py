"""Bounded work: model calls run on a fixed pool of threads, off the event loop. At most `workers` jobs
run at once and `queue_limit` more wait; beyond that a request is turned away at once with 503 and a
Retry-After. A job whose request times out or whose client goes away is dropped if it has not started,
and told to stop at its next checkpoint if it has."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from castvoice.service.errors import ApiError, Stopped

T = TypeVar("T")
POLL_SECONDS = 0.2  # how often a waiting request checks its deadline and its client
CLIENT_GONE = 499  # nginx's status for a request whose client closed the connection


class Job:
    """Handed to each job: `check()` raises Stopped once its request no longer wants the result."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def check(self) -> None:
        if self._stop.is_set():
            raise Stopped


class WorkQueue:
    """A pool of `workers` threads with room for `queue_limit` waiting jobs."""

    def __init__(self, name: str, workers: int, queue_limit: int) -> None:
        self.name, self.workers, self.capacity = name, workers, workers + queue_limit
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=f"castvoice-{name}")
        self._lock = threading.Lock()
        self._admitted = 0  # running and waiting
        self._running = 0
        self._mean_seconds = 1.0  # of recent jobs, for Retry-After

    def status(self) -> dict:
        with self._lock:
            return {"running": self._running, "waiting": self._admitted - self._running, "limit": self.capacity}

    async def run(self, work: Callable[[Job], T], timeout: float,
                  disconnected: Callable[[], Awaitable[bool]] | None = None) -> T:
        """Run `work(job)` in the pool and return its result; 503 when full, 504 past `timeout`, and
        499 when `disconnected()` turns true first."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise ApiError(503, f"the server is busy ({self.capacity} requests running or waiting); retry later",
                               "server_busy", headers={"Retry-After": str(self._retry_after())})
            self._admitted += 1
        job = Job()
        future = self._pool.submit(self._run, work, job)
        future.add_done_callback(self._release)
        waiter = asyncio.wrap_future(future)
        deadline = time.monotonic() + timeout
        try:
            while True:
                done, _ = await asyncio.wait({waiter}, timeout=POLL_SECONDS)
                if done:
                    return waiter.result()
                if time.monotonic() >= deadline:
                    raise ApiError(504, f"the request took longer than {timeout:g} s", "timeout")
                if disconnected is not None and await disconnected():
                    raise ApiError(CLIENT_GONE, "the client closed the connection", "client_closed")
        finally:
            if not waiter.done():
                job.stop()
                waiter.cancel()  # drops the job if it has not started; a running one stops at job.check()

    def _run(self, work: Callable[[Job], T], job: Job) -> T:
        job.check()
        began = time.monotonic()
        with self._lock:
            self._running += 1
        try:
            return work(job)
        finally:
            with self._lock:
                self._running -= 1
                self._mean_seconds += 0.2 * (time.monotonic() - began - self._mean_seconds)

    def _release(self, _: Future) -> None:
        with self._lock:
            self._admitted -= 1

    def _retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead, at the recent pace."""
        return max(1, math.ceil(self._mean_seconds * (self._admitted - self.workers + 1) / self.workers))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
