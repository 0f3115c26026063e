"""Commands that build and browse a workspace: ingest, characters, lines, clips, speakers, name, enroll."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from castvoice.cli.base import JsonOption, WorkspaceOption, app, print_json, stdout
from castvoice.workspace import ENV_VAR


@app.command()
def ingest(
    movie: Annotated[Path, typer.Argument(help="The movie (any container PyAV/FFmpeg reads).")],
    subs: Annotated[Optional[Path], typer.Option("--subs", help="Subtitles: SRT, WebVTT or ASS/SSA.")] = None,
    script: Annotated[Optional[Path], typer.Option("--script", help="Screenplay: Fountain or plain text.")] = None,
    subs_offset: Annotated[Optional[float], typer.Option("--subs-offset", help="Seconds added to every subtitle time (default: as before, else 0).")] = None,
    no_subs: Annotated[bool, typer.Option("--no-subs", help="No subtitles, not even those given before: lines from speech recognition.")] = False,
    no_script: Annotated[bool, typer.Option("--no-script", help="No screenplay, not even the one given before.")] = False,
    discard_edits: Annotated[bool, typer.Option("--discard-edits", help="Accept losing names and clip decisions given by hand that match no new line.")] = False,
    language: Annotated[Optional[str], typer.Option("--language", help="Spoken language (default: detected).")] = None,
    model: Annotated[str, typer.Option("--model", help="Speech recognition model when there are no subtitles.")] = "base",
    num_speakers: Annotated[Optional[int], typer.Option("--num-speakers", help="Speakers in the movie, if known.")] = None,
    text_only: Annotated[bool, typer.Option("--text-only", help="Subtitle path only: no alignment, diarization or voice naming.")] = False,
    workspace: Annotated[
        Optional[Path],
        typer.Option("--workspace", "-w", envvar=ENV_VAR, help="Workspace folder (default: ./castvoice-work/<movie name>)."),
    ] = None,
) -> None:
    """Create or update a movie's workspace: decode audio, read or recognise the lines, align their
    words, find the speakers and name the lines. A rerun uses the subtitles and screenplay given before
    unless told otherwise, and keeps what was decided by hand."""
    from castvoice.app.ingest import ingest as run_ingest

    result = run_ingest(movie, subs, script, subs_offset, workspace, language=language, asr_model=model,
                        num_speakers=num_speakers, text_only=text_only, no_subs=no_subs, no_script=no_script,
                        discard_edits=discard_edits)
    stdout.print(f"workspace: {result.workspace.root}")
    for what, path in result.reused.items():
        stdout.print(f"{what}: {path}, as given before (--no-{'subs' if what == 'subtitles' else 'script'} for none)")
    stdout.print(f"stages run: {', '.join(result.ran) or 'none'}; up to date: {', '.join(result.skipped) or 'none'}")
    if result.snapshot:
        stdout.print("the workspace as it was before is kept; `castvoice undo` brings it back")


@app.command()
def undo(workspace: WorkspaceOption = None) -> None:
    """Bring the workspace back to how it was before the last ingest replaced results (or before the last undo)."""
    from castvoice.app import open_workspace
    from castvoice.app.ingest import undo as restore

    restored = restore(open_workspace(workspace))
    stdout.print(f"the workspace is back as it was {restored.reason} ({restored.taken[:19]} UTC)")


@app.command()
def characters(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Each character with line count and total speech seconds."""
    from castvoice.app import lines, open_workspace

    rows = lines.characters(open_workspace(workspace))
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    table = Table("character", "lines", "seconds")
    for r in rows:
        table.add_row(r.name or "[dim](unnamed)[/dim]", str(r.lines), f"{r.seconds:.1f}")
    stdout.print(table)


@app.command("lines")
def lines_command(
    name: Annotated[Optional[str], typer.Argument(help="Character name (any case); leave out for every line.")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """A character's lines (or every line): id, start, end, text, what named it and how confidently."""
    from castvoice.app import lines, open_workspace

    rows = lines.lines(open_workspace(workspace), name)
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    table = Table("id", "start", "end", "character", "text", "source", "confidence", "speaker", "flag")
    for r in rows:
        conf = "" if r.confidence is None else f"{r.confidence:.2f}"
        source = f"{r.source} ({r.evidence})" if r.source and r.evidence and r.evidence != r.source else r.source
        table.add_row(str(r.id), f"{r.start:.2f}", f"{r.end:.2f}", r.character or "", r.text, source or "",
                      conf, r.speaker or "", r.flag or "")
    stdout.print(table)


@app.command()
def clips(
    name: Annotated[Optional[str], typer.Argument(help="Character name (any case).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the WAV files and clips.jsonl.")] = Path("clips"),
    every_line: Annotated[bool, typer.Option("--all", help="Cut every line, named or not.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Cut one mono WAV per line at the movie's sample rate, plus clips.jsonl."""
    from castvoice.app import lines, open_workspace

    written, index = lines.cut_clips(open_workspace(workspace), name, out, every_line)
    seconds = sum(c.end - c.start for c in written)
    stdout.print(f"{len(written)} clips ({seconds:.1f} s) in {out}; index: {index}")


@app.command()
def speakers(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """The anonymous speakers diarization found, with speaking time and a sample clip to listen to."""
    from castvoice.app import open_workspace
    from castvoice.app import speakers as found

    rows = found.speakers(open_workspace(workspace))
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    table = Table("speaker", "name", "seconds", "turns", "lines", "sample")
    for r in rows:
        table.add_row(r.label, r.name or "", f"{r.seconds:.1f}", str(r.turns), str(r.lines), r.sample)
    stdout.print(table)


@app.command()
def name(
    speaker: Annotated[str, typer.Argument(help="A speaker label from `castvoice speakers` (e.g. SPEAKER_01).")],
    character: Annotated[str, typer.Argument(help="The character's name.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Name an anonymous speaker; its lines that nothing stronger named take the name."""
    from castvoice.app import open_workspace
    from castvoice.app.speakers import name_speaker

    changed = name_speaker(open_workspace(workspace), speaker, character)
    stdout.print(f"{speaker} is {character}: {changed} lines named")


@app.command()
def enroll(
    character: Annotated[str, typer.Argument(help="The character's name.")],
    at: Annotated[Optional[list[str]], typer.Option("--at", help="Movie time START-END (seconds) where the character speaks; repeatable.")] = None,
    sample: Annotated[Optional[Path], typer.Option("--sample", help="A recording of the character's voice.")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Voice similarity a line needs (default 0.5).")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Label every line whose voice matches an example, each with its similarity."""
    from castvoice.app import open_workspace
    from castvoice.app.speakers import enroll as run_enroll
    from castvoice.app.speakers import parse_span

    matches = run_enroll(open_workspace(workspace), character, [parse_span(a) for a in at or []], sample, threshold)
    if as_json:
        print_json([asdict(m) for m in matches])
        return
    table = Table("id", "start", "end", "similarity", "named", "text")
    for m in matches:
        table.add_row(str(m.line_id), f"{m.start:.2f}", f"{m.end:.2f}", f"{m.similarity:.2f}",
                      "yes" if m.named else "kept", m.text)
    stdout.print(table)
    stdout.print(f"{sum(m.named for m in matches)} lines named {character}")
