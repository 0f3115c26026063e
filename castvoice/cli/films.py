"""Commands for projects of many films: batch, films, watch."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from castvoice.cli.base import JsonOption, WorkspaceOption, app, print_json, stdout
from castvoice.workspace import ENV_VAR

ProjectOption = Annotated[Path, typer.Option("--workspace", "-w", envvar=ENV_VAR, help="The project's workspace folder.")]
RayOption = Annotated[Optional[str], typer.Option(
    "--ray", help="Run the films on a Ray cluster: `auto` (the one running here, else a new local one) or "
                  "HOST:PORT. Default: this machine, without Ray.")]
WorkersOption = Annotated[int, typer.Option("--workers", min=1, help="Films ingested at once.")]


def _options(language: Optional[str], model: str, num_speakers: Optional[int], text_only: bool):
    from castvoice.app.films import IngestOptions

    return IngestOptions(language, model, num_speakers, text_only)


def _runner(ray: Optional[str], workers: int):
    from castvoice.app.films import run_locally

    if ray is None:
        return run_locally(workers)
    from castvoice.app.cluster import run_on_ray

    return run_on_ray(ray, workers)


def _print_result(result, as_json: bool) -> None:
    if as_json:
        print_json({**asdict(result), "workspace": str(result.workspace)})
        return
    for film in result.films:
        if film.status == "failed":
            stdout.print(f"{film.name}: failed: {film.error}")
        else:
            stdout.print(f"{film.name}: {film.status}" + (f" in {film.seconds:.1f} s" if film.seconds else ""))
        for match in film.matches:
            if match.conflict:
                stdout.print(f"  {match.speaker}: not named: {match.conflict}")
            elif match.character:
                stdout.print(f"  {match.speaker} sounds like {match.character} ({match.similarity:.2f}): "
                             f"{match.lines_named} lines named")
    stdout.print(f"{result.count('joined')} joined, {result.count('skipped')} already there, "
                 f"{result.count('failed')} failed, in {result.seconds:.1f} s; project: {result.workspace}")


@app.command()
def batch(
    sources: Annotated[list[str], typer.Argument(help="Films, folders of films, list files (a path a line) or globs; "
                                                      "subtitles and screenplays beside each film by name.")],
    workspace: ProjectOption,
    ray: RayOption = None,
    workers: WorkersOption = 1,
    language: Annotated[Optional[str], typer.Option("--language", help="Spoken language (default: detected).")] = None,
    model: Annotated[str, typer.Option("--model", help="Speech recognition model for films without subtitles.")] = "base",
    num_speakers: Annotated[Optional[int], typer.Option("--num-speakers", help="Speakers per film, if known.")] = None,
    text_only: Annotated[bool, typer.Option("--text-only", help="Subtitle path only.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Ingest many films into one project, one task per film; a film that fails is reported and the others go
    on; a rerun skips the films already there and resumes those cut off."""
    from castvoice.app.films import batch as run_batch

    result = run_batch(sources, workspace, _options(language, model, num_speakers, text_only), _runner(ray, workers),
                       workers)
    _print_result(result, as_json)
    if result.count("failed"):
        raise typer.Exit(1)


@app.command()
def watch(
    folder: Annotated[Path, typer.Argument(help="The folder films are dropped into.")],
    workspace: ProjectOption,
    ray: RayOption = None,
    workers: WorkersOption = 1,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between looks at the folder.")] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="Ingest what is there now, then stop.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Ingest films dropped into a folder as they arrive; stopping and starting again loses nothing."""
    from castvoice.app.films import watch as run_watch

    for result in run_watch(folder, workspace, runner=_runner(ray, workers), workers=workers, interval=interval,
                            once=once):
        _print_result(result, as_json)


@app.command()
def films(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """The films of the project, with their line counts and lengths."""
    from castvoice.app import open_workspace
    from castvoice.app.films import films as list_films

    rows = list_films(open_workspace(workspace))
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    table = Table("id", "film", "lines", "minutes", "path")
    for r in rows:
        table.add_row(str(r.id), r.name, str(r.lines), f"{r.seconds / 60:.1f}", r.path)
    stdout.print(table)
