"""`castvoice bench batch`: films per hour of `castvoice batch` with 1 and 2 workers on this machine, against
one plain sequential run (`castvoice ingest` of each film into its own workspace) in the same run, and an
estimate, from the measured per-film cost, of what 1,000 feature films would take on a cluster of N nodes.

The films are copies of the demo film under other names (with its subtitles and screenplay), unless
given; every film is ingested in full (alignment, diarization, naming by voice).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from castvoice.atomic import write_text_atomic
from castvoice.console import log

FEATURE_MINUTES = 110.0  # a feature film's length, for the estimate
LIBRARY = 1000
NODES = (1, 10, 100)


def _demo_library(folder: Path, count: int) -> list[Path]:
    """`count` copies of the demo film (built into the cache if needed), each with its subtitles and screenplay."""
    from castvoice.assets import cache_dir
    from castvoice.demo.film import build

    demo = build(cache_dir() / "demo-film").parent  # build returns the film; its text lies beside it
    folder.mkdir(parents=True, exist_ok=True)
    films = []
    for number in range(1, count + 1):
        film = folder / f"film{number}.mp4"
        shutil.copyfile(demo / "demo.mp4", film)
        shutil.copyfile(demo / "demo.srt", film.with_suffix(".srt"))
        shutil.copyfile(demo / "demo.screenplay.txt", film.with_suffix(".screenplay.txt"))
        films.append(film)
    return films


def _sequential(films: list, folder: Path) -> float:
    """The plain way: `castvoice ingest` of each film into its own workspace, one after another."""
    from castvoice.app.ingest import ingest

    began = time.perf_counter()
    for film in films:
        ingest(film.movie, film.subs, film.script, workspace=folder / film.name).workspace.close()
    return time.perf_counter() - began


def _batched(films: list, project: Path, workers: int) -> float:
    from castvoice.app.films import batch, run_locally

    began = time.perf_counter()
    result = batch([f.movie for f in films], project, runner=run_locally(workers), workers=workers)
    if result.count("failed"):
        raise RuntimeError(f"the benchmark's batch failed: {[f.error for f in result.films if f.error]}")
    return time.perf_counter() - began


def measure(movies: list[Path] | None, count: int = 3) -> dict:
    """Ingest the same films three ways and time each; the films' audio minutes set the per-film cost."""
    from castvoice.app.films import find_films
    from castvoice.media.probe import probe

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        films = find_films(movies or _demo_library(root / "films", count))
        minutes = sum(probe(f.movie).duration for f in films) / 60
        log.info("benchmarking %d films (%.1f min of audio)", len(films), minutes)
        seconds = {"sequential": _sequential(films, root / "sequential")}
        for workers in (1, 2):
            seconds[f"batch_{workers}_workers"] = _batched(films, root / f"project{workers}", workers)
    per_hour = {way: round(len(films) / s * 3600, 1) for way, s in seconds.items()}
    # What a film costs one worker, per minute of film, and how well two workers share one machine.
    cost_per_minute = seconds["batch_1_workers"] / minutes
    scaling = seconds["batch_1_workers"] / seconds["batch_2_workers"]
    feature = cost_per_minute * FEATURE_MINUTES
    estimate = {nodes: round(LIBRARY * feature / (nodes * scaling) / 3600, 1) for nodes in NODES}
    return {"films": len(films), "film_minutes": round(minutes, 2), "seconds": {k: round(v, 2) for k, v in seconds.items()},
            "films_per_hour": per_hour, "speedup_vs_sequential": {
                way: round(seconds["sequential"] / s, 2) for way, s in seconds.items()},
            "two_worker_scaling": round(scaling, 2), "seconds_per_film_minute": round(cost_per_minute, 2),
            "feature_film_minutes": FEATURE_MINUTES, "hours_for_1000_feature_films": estimate}


def run(movies: list[Path] | None, out: Path | None, count: int = 3) -> dict:
    figures = measure(movies, count)
    console = Console()
    table = Table("run", "seconds", "films per hour", "vs sequential")
    for way, seconds in figures["seconds"].items():
        table.add_row(way.replace("_", " "), f"{seconds:.1f}", f"{figures['films_per_hour'][way]:.1f}",
                      f"{figures['speedup_vs_sequential'][way]:.2f}x")
    console.print(table)
    hours = figures["hours_for_1000_feature_films"]
    console.print(
        f"Estimate: one {FEATURE_MINUTES:.0f}-minute feature film costs one worker about "
        f"{figures['seconds_per_film_minute'] * FEATURE_MINUTES / 60:.1f} min here "
        f"({figures['seconds_per_film_minute']:.2f} s per film minute, measured); two workers on one node "
        f"go {figures['two_worker_scaling']:.2f}x as fast as one. {LIBRARY:,} feature films on N nodes like this one "
        "(2 workers each): " + ", ".join(f"N={n}: {h:,.1f} h" for n, h in hours.items())
        + ". Nodes with more cores run more workers each and divide these further.")
    if out:
        write_text_atomic(out, json.dumps(figures, indent=2))
    return figures
