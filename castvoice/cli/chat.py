"""Talking with a character: chat, persona, memory."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Column, Table

from castvoice.cli.base import JsonOption, LLMOption, WorkspaceOption, app, print_json, stdout
from castvoice.console import stderr
from castvoice.errors import CastvoiceError


@app.command()
def chat(
    name: Annotated[str, typer.Argument(help="The character to talk with.")],
    once: Annotated[Optional[str], typer.Option("--once", help="Send one message, print the reply and exit.")] = None,
    listen: Annotated[Optional[Path], typer.Option("--listen", help="A spoken message (audio file), for --once.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="WAV file for the spoken reply (with --once).")] = None,
    llm: LLMOption = None,
    voice: Annotated[Optional[str], typer.Option("--voice", help="Voice to speak in (default: the character's).")] = None,
    text_only: Annotated[bool, typer.Option("--text-only", help="Do not speak the replies.")] = False,
    new: Annotated[bool, typer.Option("--new", help="Start a new conversation instead of going on with the last.")] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Talk with a character: replies stream as text and are spoken in the character's voice, sentence by
    sentence; everything said is remembered. Without --once, messages are read line by line."""
    from castvoice.app.chat import ChatSession, heard

    if listen and once:
        raise CastvoiceError("give the message as --once TEXT or as --listen FILE, not both")
    if out and not (once or listen):
        raise CastvoiceError("--out is for one message (--once or --listen); a conversation writes one file per reply")
    session = ChatSession(workspace, name, llm, voice, text_only, new, out, play=not as_json)

    def answer(message: str, mood: str | None = None) -> None:
        echo = None if as_json else (lambda piece: (sys.stdout.write(piece), sys.stdout.flush()))
        turn = session.answer(message, echo, mood)
        if as_json:
            print_json({"character": session.character, "conversation": session.id, **asdict(turn)})
            return
        sys.stdout.write("\n")
        if turn.audio:
            stderr.print(f"[dim]spoken: {turn.audio}[/dim]")

    if once:
        answer(once)
        return
    if listen:
        spoken = heard(listen)
        answer(spoken.text, spoken.mood)
        return
    if sys.stdin.isatty():
        stderr.print(f"Talking with {session.character}; an empty line or Ctrl-D ends.")
    for line in _messages("you> " if sys.stdin.isatty() else ""):
        if sys.stdin.isatty():
            sys.stdout.write(f"{session.character}> ")
        answer(line)


def _messages(prompt: str):
    """Lines typed (or piped) in, until an empty line or the end of input."""
    while True:
        try:
            line = input(prompt) if prompt else sys.stdin.readline()
        except EOFError:
            return
        if not line.strip():
            return
        yield line.strip()


@app.command()
def persona(
    name: Annotated[str, typer.Argument(help="The character.")],
    edit: Annotated[bool, typer.Option("--edit", help="Edit the description in $EDITOR.")] = False,
    description: Annotated[Optional[str], typer.Option("--set", help="Set the description to this text.")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Go back to the description made from the film.")] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Show (or edit) who the character is when you talk with them: description, the characters they talk
    with in the film, and their most characteristic lines."""
    from castvoice.app import open_workspace
    from castvoice.app.chat import persona as show

    if sum([edit, description is not None, reset]) > 1:
        raise CastvoiceError("choose one of --edit, --set and --reset")
    ws = open_workspace(workspace)
    view = show(ws, name, description, reset)
    if edit:
        written = typer.edit(view.persona.description)
        if written is not None and written.strip() != view.persona.description:
            view = show(ws, name, written.strip())
    found = view.persona
    if as_json:
        print_json({**asdict(found), "partners": [asdict(p) for p in view.partners],
                    "characteristic_lines": view.characteristic_lines})
        return
    stdout.print(f"[bold]{found.name}[/bold]" + (f" in {found.film}" if found.film else "")
                 + (" (description edited)" if found.edited else ""))
    stdout.print(found.description)
    if view.partners:
        stdout.print("talks with: " + ", ".join(f"{p.name} ({p.lines})" for p in view.partners))
    for line in view.characteristic_lines:
        stdout.print(f"  “{line}”")


@app.command()
def memory(
    name: Annotated[str, typer.Argument(help="The character.")],
    action: Annotated[str, typer.Argument(help="list, forget or clear.")] = "list",
    memory_id: Annotated[Optional[int], typer.Argument(help="The memory to forget (from list).")] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """What a character remembers of your conversations: list it, forget one memory, or clear it all."""
    from castvoice.app import open_workspace
    from castvoice.app.chat import memory as memories_of

    if action not in ("list", "forget", "clear"):
        raise CastvoiceError(f"unknown memory action {action!r}; choose list, forget ID or clear")
    if (action == "forget") != (memory_id is not None):
        raise CastvoiceError("forget takes the id of one memory (see `castvoice memory NAME list`); list and clear take none")
    store = memories_of(open_workspace(workspace), name)
    if action == "forget":
        stdout.print(f"forgotten: {store.forget(memory_id).text}")
    elif action == "clear":
        stdout.print(f"{store.clear()} memories cleared")
    elif as_json:
        print_json([asdict(m) for m in store.memories()])
    else:
        table = Table("id", "kind", "memory", "source", Column("when", no_wrap=True))
        for m in store.memories():
            table.add_row(str(m.id), m.kind, m.text, m.source, m.at[:19])
        stdout.print(table)
