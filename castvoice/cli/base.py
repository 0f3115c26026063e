"""What every command group shares: the Typer apps, common options and output helpers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from castvoice.console import PROGRESS_MODES, ProgressRenderer, setup_logging
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
voice_app = typer.Typer(help="Voice profiles: clone a character's voice, list, export and import them.",
                        no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(demo_app, name="demo")
app.add_typer(bench_app, name="bench")
app.add_typer(voice_app, name="voice")

stdout = Console(soft_wrap=True)
progress_renderer = ProgressRenderer()

WorkspaceOption = Annotated[
    Optional[Path],
    typer.Option("--workspace", "-w", envvar=ENV_VAR, help="Workspace folder (default: the one under the current directory)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
OutOption = Annotated[Optional[Path], typer.Option("--out", help="Write the figures as JSON here too.")]
LLMOption = Annotated[Optional[str], typer.Option(
    "--llm", help="The language model: embedded[:smollm2|qwen0.5b|qwen1.5b], gguf:PATH, ollama[:MODEL][@URL] or "
                  "openai[:MODEL][@URL] (default: the config file's, else embedded).")]


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More log detail.")] = False,
    progress: Annotated[str, typer.Option("--progress", help="Progress on stderr: auto (bars on a terminal), "
                                                             "json (one object per line) or none.")] = "auto",
) -> None:
    setup_logging(verbose)
    if progress not in PROGRESS_MODES:
        raise CastvoiceError(f"--progress takes {', '.join(PROGRESS_MODES)}, not {progress!r}")
    progress_renderer.mode = progress


def print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def score(value: float | None, form: str) -> str:
    """A score for a table cell; '-' when it was not measured."""
    return "-" if value is None else format(value, form)
