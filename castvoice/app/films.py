"""Projects of many films: add a film to a project, ingest a library of films in one batch (on this machine
or on a Ray cluster), and watch a folder for new films.

A film joins a project in two steps. Its ingest runs on its own, in a one-film workspace under the
project's films/<name>/ (a worker may do this, anywhere the project's folder is mounted); a killed
ingest resumes there from its last finished stage. Then this process, the project's one writer, copies
the film into the project's database in one transaction and matches its unnamed speakers to the
characters of the other films by voice: a project never holds half a film.
"""

from __future__ import annotations

import glob
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from castvoice.console import log
from castvoice.errors import CastvoiceError, user_error
from castvoice.progress import track
from castvoice.speech.finding import SpeakerMatch
from castvoice.text.normalize import slug
from castvoice.workspace import Workspace, catalog, db, films, is_workspace

FILM_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv",
                 ".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus")
SUBTITLE_SUFFIXES = (".srt", ".vtt", ".ass", ".ssa")
SCREENPLAY_SUFFIXES = (".fountain", ".screenplay.txt", ".screenplay")


@dataclass(frozen=True)
class FilmSource:
    """A film to ingest and the text found beside it."""

    movie: Path
    subs: Path | None = None
    script: Path | None = None
    subs_offset: float | None = None

    @property
    def name(self) -> str:
        return self.movie.stem


@dataclass(frozen=True)
class IngestOptions:
    """How every film of a batch is ingested (as `castvoice ingest` takes them)."""

    language: str | None = None
    asr_model: str = "base"
    num_speakers: int | None = None
    text_only: bool = False


@dataclass
class FilmOutcome:
    """What became of one film: joined the project, skipped as already there, or failed with a reason."""

    name: str
    status: str  # joined, skipped, failed
    seconds: float = 0.0
    error: str | None = None
    film_id: int | None = None
    matches: list[SpeakerMatch] = field(default_factory=list)


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


def film_fingerprint(source: FilmSource, options: IngestOptions) -> str:
    """What a film's ingest depends on: a rerun of a batch skips a film whose fingerprint is unchanged."""
    from castvoice.assets import sha256_file

    stat = source.movie.stat()
    texts = [sha256_file(p)[:16] if p else None for p in (source.subs, source.script)]
    return db.fingerprint(str(source.movie), stat.st_size, stat.st_mtime_ns, texts, source.subs_offset, vars(options))


def ingest_alone(source: FilmSource, folder: Path, options: IngestOptions) -> FilmOutcome:
    """Ingest one film into its own one-film workspace `folder` (resuming one cut off before). A film's own
    problem (a corrupt file, a full disk) comes back as the outcome's one-line reason, not as an error."""
    from castvoice.app.ingest import ingest

    began = time.perf_counter()
    try:
        ingest(source.movie, source.subs, source.script, source.subs_offset, folder, language=options.language,
               asr_model=options.asr_model, num_speakers=options.num_speakers, text_only=options.text_only)
    except Exception as error:  # noqa: BLE001 - every film's failure is reported, and the others go on
        problem = user_error(error)
        if problem is None:
            log.debug("ingest of %s failed", source.movie, exc_info=True)
        reason = str(problem) if problem is not None else f"{type(error).__name__}: {error}".splitlines()[0]
        return FilmOutcome(source.name, "failed", time.perf_counter() - began, reason)
    return FilmOutcome(source.name, "ingested", time.perf_counter() - began)


def join_film(project: Workspace, source: FilmSource, fingerprint: str) -> FilmOutcome:
    """Copy a film ingested alone (`ingest_alone` into the project's films/<name>/) into the project in one
    transaction, replacing the film of that name, and match its speakers to the other films' characters."""
    from castvoice.speech.finding import match_speakers_across_films

    alone = Workspace(project.film_staging(source.name))
    prefix = f"{slug(source.name)}-"
    for label in [s.label for s in catalog.speakers(alone)]:
        shutil.copyfile(alone.speaker_sample(label), project.speaker_sample(prefix + label))
    alone.close()
    folder = str(alone.root.relative_to(project.root))
    with films.attached(project.conn, alone.db_path):
        with project.transaction() as conn:
            film = films.copy_film(conn, source.name, str(source.movie), folder, fingerprint, prefix)
            matches = match_speakers_across_films(project.for_film(film))
    for match in matches:
        if match.conflict:
            log.warning("%s, speaker %s: %s; not named (name it with `castvoice name`)", source.name,
                        match.speaker, match.conflict)
        elif match.character:
            log.info("%s, speaker %s sounds like %s (%.2f): %d lines named", source.name, match.speaker,
                     match.character, match.similarity, match.lines_named)
    return FilmOutcome(source.name, "joined", film_id=film, matches=matches)


def add_film(project: Workspace, source: FilmSource, options: IngestOptions) -> FilmOutcome:
    """Ingest one film into a project of many (`castvoice ingest` on a project that holds other films)."""
    with project.exclusive():
        outcome = ingest_alone(source, project.film_staging(source.name), options)
        if outcome.status == "failed":
            raise CastvoiceError(outcome.error or "ingest failed", source.movie)
        joined = join_film(project, source, film_fingerprint(source, options))
        joined.seconds = outcome.seconds
        return joined


def joins_as_film(workspace: Path, movie: Path) -> bool:
    """Whether ingesting `movie` into `workspace` adds (or redoes) a film of a project of many, rather than
    making or updating a one-film workspace in place."""
    if not is_workspace(workspace):
        return False
    ws = Workspace(workspace)
    try:
        known = catalog.films(ws)
    finally:
        ws.close()
    in_place = len(known) == 1 and known[0].folder == "" and known[0].name.casefold() == movie.stem.casefold()
    return bool(known) and not in_place


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
          runner: Runner | None = None) -> BatchResult:
    """Ingest many films into one project: each film is one task (on this machine by default, or on the
    runner given, e.g. `castvoice.app.cluster.run_on_ray`); a film that fails is reported with its reason and
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
            progress.update(note=_progress_note(outcomes, len(todo), began))
            for outcome in (runner or run_locally(1))(todo, project.root, options):
                if outcome.status == "ingested":
                    outcome = _joined(project, by_name[outcome.name], fingerprints[outcome.name], outcome)
                if outcome.status == "failed":
                    log.error("%s: %s", outcome.name, outcome.error)
                outcomes.append(outcome)
                progress.advance(note=_progress_note(outcomes, len(todo), began))
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


def _progress_note(outcomes: list[FilmOutcome], todo: int, began: float) -> str:
    finished = [o for o in outcomes if o.status != "skipped"]
    failed = sum(o.status == "failed" for o in finished)
    left = todo - len(finished)
    note = f"{len(finished) - failed} done, {left} to go, {failed} failed"
    if finished and left:
        note += f", about {(time.perf_counter() - began) / len(finished) * left / 60:.1f} min left"
    return note
