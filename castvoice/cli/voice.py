"""Voice commands: voice create, list, export and import, and speak."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Column, Table

from castvoice.app.voices import backend_help
from castvoice.cli.base import JsonOption, WorkspaceOption, app, print_json, stdout, voice_app
from castvoice.errors import CastvoiceError


@voice_app.command("create")
def voice_create(
    name: Annotated[str, typer.Argument(help="The character (from the workspace), or the new voice's name with --from.")],
    recordings: Annotated[Optional[list[Path]], typer.Option("--from", help="Recordings of the voice (repeatable) instead of the character's clips.")] = None,
    backend: Annotated[str, typer.Option("--backend", help=backend_help())] = "kokoro",
    budget: Annotated[float, typer.Option("--budget", help="Minutes the voice search may take.")] = 10.0,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a voice of the same name.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Clone a voice from a character's best clips or from recordings, and store it as a profile."""
    from castvoice.app.voices import create_voice

    profile, path = create_voice(workspace, name, recordings, backend, budget, replace)
    scores = ", ".join(f"{k} {v:.2f}" for k, v in profile.similarity.items())
    stdout.print(f"voice {profile.name} ({backend}) saved: {path}" + (f"; similarity {scores}" if scores else ""))


@app.command("train-voice")
def train_voice(
    name: Annotated[str, typer.Argument(help="The character (from the workspace) whose kept clips to train on.")],
    minutes: Annotated[Optional[float], typer.Option("--minutes", help="Minutes training may take in all "
                                                     "(default 20: enough for 5 minutes of speech on 2 cores).")] = None,
    device: Annotated[str, typer.Option("--device", help="auto (a CUDA GPU when there is one), cpu or cuda.")] = "auto",
    workspace: WorkspaceOption = None,
) -> None:
    """Fine-tune Kokoro on a character's clips and store the voice as the profile NAME (replacing one of that
    name); a killed run resumes where it stopped."""
    from castvoice.app.voices import train_voice as train

    profile, path, note = train(workspace, name, minutes, device)
    if note:
        stdout.print(note)
    before = profile.state.get("nearest_similarity", {})
    scores = ", ".join(f"{k} {before[k]:.2f} -> {v:.2f}" if k in before else f"{k} {v:.2f}"
                       for k, v in profile.similarity.items())
    start = f" (from stock voice {profile.state['nearest']} ->)" if before else ""
    stdout.print(f"voice {profile.name} ({profile.backend}) saved: {path}"
                 + (f"; similarity to the character{start} {scores}" if scores else ""))


@voice_app.command("list")
def voice_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Every voice profile in the workspace and in the voice library."""
    from castvoice.app.voices import list_voices

    rows = [{"name": p.name, "backend": p.backend, "references": len(p.references), "similarity": p.similarity,
             "source": p.source, "created": p.created, "file": str(path)} for path, p in list_voices(workspace)]
    if as_json:
        print_json(rows)
        return
    table = Table(Column("name", no_wrap=True), "backend", "refs", "similarity", "source", "file")
    for row in rows:
        table.add_row(row["name"], row["backend"], str(row["references"]),
                      ", ".join(f"{k} {v:.2f}" for k, v in row["similarity"].items()) or "-", row["source"], row["file"])
    stdout.print(table)


@voice_app.command("export")
def voice_export(
    name: Annotated[str, typer.Argument(help="A voice from `castvoice voice list`.")],
    file: Annotated[Path, typer.Argument(help="The .cvoice file to write.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Write a voice profile to one portable file."""
    from castvoice.app.voices import export_voice

    stdout.print(f"voice {name} exported: {export_voice(workspace, name, file)}")


@voice_app.command("import")
def voice_import(
    file: Annotated[Path, typer.Argument(help="A .cvoice file.")],
    name: Annotated[Optional[str], typer.Option("--name", help="Import it under this name instead of its own.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a voice of the same name.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Check a voice profile file and add it to the workspace (or, outside one, the voice library)."""
    from castvoice.app.voices import import_voice

    stdout.print(f"voice imported: {import_voice(workspace, file, replace, name)}")


@app.command()
def speak(
    text: Annotated[Optional[str], typer.Argument(help="What to say.")] = None,
    voice: Annotated[str, typer.Option("--voice", help="A voice from `castvoice voice list`.")] = ...,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="WAV file to write.")] = None,
    from_stdin: Annotated[bool, typer.Option("--stdin", help="Read the text from standard input.")] = False,
    play: Annotated[bool, typer.Option("--play", help="Play the speech as it is made.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Say text in a voice, sentence by sentence: the first audio is out before the rest is made."""
    from castvoice.app.voices import speak as say

    if from_stdin == (text is not None):
        raise CastvoiceError("give the text as an argument or pass --stdin")
    result = say(workspace, voice, sys.stdin.read() if from_stdin else text, out, play)
    stdout.print(f"{result.seconds:.1f} s of speech, first audio after {result.first_audio:.2f} s"
                 + (f": {out}" if out else ""))
