"""Ingesting a batch of films on a Ray cluster: one task per film, run where the cluster has room.

Each task ingests its film alone under the project's films/<name>/, so the project's folder must be on
storage every node mounts (one machine, or a shared file system). Ray keeps its worker processes between
tasks, and castvoice keeps its models per process, so each worker loads the models once. A task whose
worker or node dies is run again (it resumes from the film's last finished stage); the results come back
to the batch's own process, the project's one writer.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

from castvoice.app.films import FilmOutcome, FilmSource, IngestOptions, Runner, ingest_alone
from castvoice.console import log
from castvoice.errors import CastvoiceError

RETRIES = 3  # runs of a film's task after its worker died
CONNECT_SECONDS = 5.0


def _check_answers(address: str) -> None:
    """A clear error, quickly, when nothing listens at a Ray address (HOST:PORT or ray://HOST:PORT)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_SECONDS):
            pass
    except (OSError, ValueError) as error:
        raise CastvoiceError(f"no Ray cluster answers at {address} ({error}); start one with `ray start --head` "
                             "or use --ray auto") from None


def _connect(address: str, workers: int) -> None:
    """Join the cluster at `address`; `auto`: the one running on this machine, else a new local one."""
    import castvoice
    import ray

    # Workers import the same castvoice as this process (a cluster on this machine, or a shared checkout).
    runtime_env = {"env_vars": {"PYTHONPATH": str(Path(castvoice.__file__).resolve().parents[1])}}
    if address != "auto":
        _check_answers(address)
        ray.init(address=address, runtime_env=runtime_env, logging_level="warning", log_to_driver=False)
        return
    try:
        ray.init(address="auto", runtime_env=runtime_env, logging_level="warning", log_to_driver=False)
    except ConnectionError:
        log.info("no Ray cluster running here; starting one for this batch (%d workers)", workers)
        ray.init(num_cpus=workers, include_dashboard=False, runtime_env=runtime_env, logging_level="warning",
                 log_to_driver=False)


def _run_film(source: FilmSource, folder: Path, options: IngestOptions) -> FilmOutcome:
    return ingest_alone(source, folder, options)


def run_on_ray(address: str = "auto", workers: int = 2) -> Runner:
    """A batch runner that submits each film to the Ray cluster at `address`, `workers` at a time."""

    def run(todo: list[FilmSource], project: Path, options: IngestOptions) -> Iterator[FilmOutcome]:
        import ray
        from ray.exceptions import RayError

        from castvoice.workspace import Workspace

        started_here = not ray.is_initialized()
        if started_here:
            _connect(address, workers)
        task = ray.remote(num_cpus=1, max_retries=RETRIES, retry_exceptions=False)(_run_film)
        waiting = list(todo)
        running: dict = {}
        try:
            while waiting or running:
                while waiting and len(running) < workers:
                    source = waiting.pop(0)
                    running[task.remote(source, Workspace(project).film_staging(source.name), options)] = source
                ready, _ = ray.wait(list(running), num_returns=1)
                source = running.pop(ready[0])
                try:
                    yield ray.get(ready[0])
                except RayError as error:
                    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                    yield FilmOutcome(source.name, "failed", error=f"its Ray worker failed {RETRIES + 1} times: "
                                                                 f"{reason}")
        finally:
            if started_here:
                ray.shutdown()

    return run
