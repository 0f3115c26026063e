"""A library of films into one project: find the films (and the text beside them), ingest them in one
batch (on this machine or on a Ray cluster, see `castvoice.app.cluster`), and watch a folder for new
films. Each film joins the project as `castvoice.app.ingest.join_film` describes."""

from __future__ import annotations

import glob
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from castvoice.console import log
from castvoice.errors import CastvoiceError, user_error
from castvoice.progress import track
from castvoice.app.ingest import FilmOutcome, FilmSource, IngestOptions, film_fingerprint, ingest_alone, join_film
from castvoice.text.normalize import slug
from castvoice.workspace import Workspace, catalog

FILM_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv",
                 ".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus")
SUBTITLE_SUFFIXES = (".srt", ".vtt", ".ass", ".ssa")
SCREENPLAY_SUFFIXES = (".fountain", ".screenplay.txt", ".screenplay")


@dataclass
class BatchResult:
    workspace: Path
    films: list[FilmOutcome]
    seconds: float

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.films)


def _beside(movie: Path, suffixes: tuple[str, ...]) -> Path | None:
    """A file named like the film with one of `suffixes` (e.g. ep1.srt, ep1.en.srt for ep1.mp4)."""
    for candidate in sorted(movie.parent.glob(glob.escape(movie.stem) + ".*")):
        name = candidate.name.lower()
        if candidate != movie and any(name.endswith(s) for s in suffixes):
            return candidate
    return None


def _is_film(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(FILM_SUFFIXES) and not name.startswith(".")


def films(ws: Workspace) -> list[catalog.FilmRecord]:
    """The project's films in the order they joined."""
    return catalog.films(ws)


def find_films(sources: Iterable[str | Path]) -> list[FilmSource]:
    """The films named by `sources`: films, folders (their films, not those of subfolders), list files (a
    film path a line) and globs, each with subtitles and a screenplay found beside it by name. An error
    names a source with no film, and films that share a name (a project tells its films apart by name)."""
    movies: list[Path] = []
    for source in map(str, sources):
        path = Path(source)
        if any(mark in source for mark in "*?[") and not path.exists():
            found = [Path(p) for p in sorted(glob.glob(source)) if _is_film(Path(p))]
        elif path.is_dir():
            found = sorted(p for p in path.iterdir() if _is_film(p))
        elif path.is_file() and not _is_film(path):
            listed = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
            found = [(path.parent / line) for line in listed if line and not line.startswith("#")]
            missing = [p for p in found if not p.is_file()]
            if missing:
                raise CastvoiceError(f"the list names a film that is not there: {missing[0]}", path)
        elif path.is_file():
            found = [path]
        else:
            raise CastvoiceError("no such film, folder or list", path)
        if not found:
            raise CastvoiceError(f"no films here (looked for {', '.join(FILM_SUFFIXES[:6])}, ...)", path)
        movies += [p.resolve() for p in found]
    movies = list(dict.fromkeys(movies))
    by_name: dict[str, Path] = {}
    for movie in movies:
        twin = by_name.setdefault(slug(movie.stem), movie)
        if twin != movie:
            raise CastvoiceError(f"two films share the name {movie.stem!r}: {twin} and {movie}; a project tells "
                                 "its films apart by name, so rename one")
    return [FilmSource(m, _beside(m, SUBTITLE_SUFFIXES), _beside(m, SCREENPLAY_SUFFIXES)) for m in movies]


Runner = Callable[[list[FilmSource], Path, IngestOptions], Iterator[FilmOutcome]]


def run_locally(workers: int) -> Runner:
    """Ingest films on this machine: in this process with one worker, else in `workers` processes (each
    loads the models once, for all the films it takes)."""

    def run(todo: list[FilmSource], project: Path, options: IngestOptions) -> Iterator[FilmOutcome]:
        folders = [Workspace(project).film_staging(s.name) for s in todo]
        if workers <= 1:
            yield from (ingest_alone(s, f, options) for s, f in zip(todo, folders))
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            pending = [pool.submit(ingest_alone, s, f, options) for s, f in zip(todo, folders)]
            for done in as_completed(pending):
                try:
                    yield done.result()
                except Exception as error:  # noqa: BLE001 - a worker process that died
                    source = todo[pending.index(done)]
                    yield FilmOutcome(source.name, "failed", error=f"the worker died: {error}".splitlines()[0])

    return run


def batch(sources: Iterable[str | Path], workspace: Path, options: IngestOptions | None = None,
          runner: Runner | None = None, workers: int = 1) -> BatchResult:
    """Ingest many films into one project: each film is one task (on this machine by default, or on the
    runner given, e.g. `castvoice.app.cluster.run_on_ray`, running `workers` films at once); a film that fails is reported with its reason and
    the others go on; films already in the project unchanged are skipped, and those cut off resume."""
    options = options or IngestOptions()
    found = find_films(sources)
    project = Workspace(Path(workspace))
    began = time.perf_counter()
    with project.exclusive():
        done = {f.name.casefold(): f.fingerprint for f in catalog.films(project)}
        fingerprints = {s.name: film_fingerprint(s, options) for s in found}
        todo = [s for s in found if done.get(s.name.casefold()) != fingerprints[s.name]]
        outcomes = [FilmOutcome(s.name, "skipped") for s in found if s not in todo]
        by_name = {s.name: s for s in todo}
        with track("films", total=len(todo)) as progress:
            progress.update(note=_progress_note(outcomes, len(todo), workers, began))
            for outcome in (runner or run_locally(1))(todo, project.root, options):
                if outcome.status == "ingested":
                    outcome = _joined(project, by_name[outcome.name], fingerprints[outcome.name], outcome)
                if outcome.status == "failed":
                    log.error("%s: %s", outcome.name, outcome.error)
                outcomes.append(outcome)
                progress.advance(note=_progress_note(outcomes, len(todo), workers, began))
    return BatchResult(project.root, outcomes, round(time.perf_counter() - began, 3))


def _joined(project: Workspace, source: FilmSource, fingerprint: str, ingested: FilmOutcome) -> FilmOutcome:
    try:
        joined = join_film(project, source, fingerprint)
    except Exception as error:
        problem = user_error(error)
        if problem is None:
            raise
        return FilmOutcome(source.name, "failed", ingested.seconds, f"joining the project: {problem}")
    joined.seconds = ingested.seconds
    return joined


def _progress_note(outcomes: list[FilmOutcome], todo: int, workers: int, began: float) -> str:
    finished = [o for o in outcomes if o.status != "skipped"]
    failed = sum(o.status == "failed" for o in finished)
    left = todo - len(finished)
    note = f"{len(finished) - failed} done, {min(workers, left)} running, {failed} failed"
    if finished and left:
        note += f", about {(time.perf_counter() - began) / len(finished) * left / 60:.1f} min left"
    return note


def watch(folder: Path, workspace: Path, options: IngestOptions | None = None, runner: Runner | None = None,
          workers: int = 1, interval: float = 5.0, settle: float = 5.0, once: bool = False) -> Iterator[BatchResult]:
    """Ingest the films dropped into `folder` as they arrive (a film counts as arrived once its size and time
    have not changed for `settle` seconds), yielding each batch's result; with `once`, what is there now,
    then stop. What is done lives in the project, so a watcher stopped and started again loses nothing: it
    skips the films already joined and resumes one cut off."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CastvoiceError("not a folder to watch", folder)
    seen: dict[Path, tuple[int, int, float]] = {}  # film -> size, time, since when unchanged
    while True:
        now = time.monotonic()
        arrived = []
        for movie in sorted(p for p in folder.iterdir() if _is_film(p)):
            stat = movie.stat()
            size_time = (stat.st_size, stat.st_mtime_ns)
            if seen.get(movie, (None, None, 0.0))[:2] != size_time:
                seen[movie] = (*size_time, now)
            if once or now - seen[movie][2] >= settle:
                arrived.append(movie)
        if arrived:
            result = batch(arrived, workspace, options, runner, workers)
            if result.count("joined") or result.count("failed"):
                yield result
        if once:
            return
        time.sleep(interval)
