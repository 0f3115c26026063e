"""`castvoice bench ingest`: the subtitle path's cost per hour of movie.

For each movie: the subtitle path (decode, parse, attribute, cut every line) runs in a fresh
workspace, and the baseline is a bare PyAV decode of the same audio track in the same run.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from castvoice.atomic import write_text_atomic
from castvoice.bench import eval_root
from castvoice.console import log

TARGET_SECONDS_PER_HOUR = 60.0


def default_movies() -> list[Path]:
    """The demo film (built into the cache if needed) and the manifesto video when ../shared/eval is here."""
    from castvoice.assets import cache_dir
    from castvoice.demo.film import build

    movies = [build(cache_dir() / "demo-film")]
    manifesto = eval_root() / "videogrep_manifesto" / "manifesto.mp4"
    if manifesto.is_file():
        movies.append(manifesto)
    return movies


def _companion(movie: Path, *suffixes: str) -> Path | None:
    return next((p for s in suffixes if (p := movie.with_suffix(s)).is_file()), None)


def bare_decode_seconds(movie: Path) -> float:
    """Baseline: decode the first audio track with PyAV and do nothing else."""
    import av

    began = time.perf_counter()
    with av.open(str(movie)) as container:
        for _ in container.decode(container.streams.audio[0]):
            pass
    return time.perf_counter() - began


def measure(movie: Path) -> dict:
    """Time every step of the subtitle path on one movie."""
    from castvoice.dataset.clips import cut_clips
    from castvoice.app.ingest import ingest
    from castvoice.workspace.db import stage_details

    subs = _companion(movie, ".srt", ".vtt", ".ass")
    script = _companion(movie, ".screenplay.txt", ".fountain")
    baseline = bare_decode_seconds(movie)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        result = ingest(movie, subs=subs, script=script, workspace=Path(tmp) / "ws", text_only=True)
        ingest_seconds = time.perf_counter() - began
        stages = stage_details(result.workspace.conn)
        began = time.perf_counter()
        clips = cut_clips(result.workspace, None, Path(tmp) / "clips")
        cut_seconds = time.perf_counter() - began
        result.workspace.close()
    duration = stages["media"]["duration"]
    total = ingest_seconds + cut_seconds
    return {
        "movie": str(movie),
        "movie_seconds": duration,
        "lines": len(clips),
        "baseline_decode_seconds": round(baseline, 3),
        "decode_seconds": stages["media"]["seconds"],
        "parse_attribute_seconds": round(sum(stages[s]["seconds"] for s in ("lines", "screenplay", "attribution")), 3),
        "cut_seconds": round(cut_seconds, 3),
        "total_seconds": round(total, 3),
        "seconds_per_movie_hour": round(total / duration * 3600, 1),
        "ratio_to_bare_decode": round(total / baseline, 2),
    }


def run(movies: list[Path] | None, out: Path | None) -> list[dict]:
    """Measure each movie, print a table on stdout and optionally write JSON."""
    rows = []
    for movie in movies or default_movies():
        log.info("measuring %s", movie)
        rows.append(measure(Path(movie)))
    table = Table("movie", "length s", "lines", "bare decode s", "decode s", "parse+attribute s", "cut s",
                  "total s", "s per movie hour", "x bare decode", title="castvoice bench ingest (subtitle path)")
    for r in rows:
        table.add_row(Path(r["movie"]).name, f"{r['movie_seconds']:.1f}", str(r["lines"]),
                      f"{r['baseline_decode_seconds']:.3f}", f"{r['decode_seconds']:.3f}",
                      f"{r['parse_attribute_seconds']:.3f}", f"{r['cut_seconds']:.3f}", f"{r['total_seconds']:.3f}",
                      f"{r['seconds_per_movie_hour']:.1f}", f"{r['ratio_to_bare_decode']:.2f}")
    console = Console(width=160)
    console.print(table)
    console.print(f"target: at most {TARGET_SECONDS_PER_HOUR:.0f} s per movie hour")
    if out:
        write_text_atomic(out, json.dumps({"target_seconds_per_movie_hour": TARGET_SECONDS_PER_HOUR, "movies": rows}, indent=2))
    return rows
