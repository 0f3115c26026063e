"""Commands for a character's voice dataset: clean, review, include, exclude, references, dataset, report."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Column, Table
from rich.text import Text

from castvoice.cli.base import JsonOption, WorkspaceOption, app, print_json, score, stdout

DenoiseOption = Annotated[str, typer.Option("--denoise", help="Denoiser: dfn3 (DeepFilterNet3), rnnoise (fast) or none.")]


@app.command()
def clean(
    character: Annotated[str, typer.Argument(help="The character's name.")],
    denoise: DenoiseOption = "dfn3",
    loudness: Annotated[Optional[float], typer.Option("--loudness", help="Target loudness in LUFS.")] = -23.0,
    no_loudness: Annotated[bool, typer.Option("--no-loudness", help="Leave loudness as it is.")] = False,
    peak: Annotated[float, typer.Option("--peak", help="Peak limit in dBFS.")] = -1.0,
    max_silence: Annotated[float, typer.Option("--max-silence", help="Silence kept before and after the words (s).")] = 0.2,
    min_duration: Annotated[float, typer.Option("--min-duration", help="Shortest clip kept (s).")] = 1.0,
    max_duration: Annotated[float, typer.Option("--max-duration", help="Longest clip kept (s).")] = 15.0,
    min_snr: Annotated[float, typer.Option("--min-snr", help="Lowest estimated SNR kept (dB).")] = 12.0,
    min_similarity: Annotated[float, typer.Option("--min-similarity", help="Lowest voice similarity to the character kept.")] = 0.5,
    max_cer: Annotated[float, typer.Option("--max-cer", help="Highest re-transcription character error rate kept.")] = 0.3,
    workspace: WorkspaceOption = None,
) -> None:
    """Cut, clean and check a character's clips; each failing clip is excluded with its reason."""
    from castvoice.app import dataset, open_workspace

    settings = dataset.CleanSettings(
        dataset.EnhanceSettings(denoise=denoise, loudness=None if no_loudness else loudness, peak_db=peak,
                              max_silence=max_silence),
        dataset.CheckSettings(min_duration=min_duration, max_duration=max_duration, min_snr_db=min_snr,
                              min_similarity=min_similarity, max_cer=max_cer),
    )
    _print_summary(dataset.clean(open_workspace(workspace), character, settings))


def _print_summary(found) -> None:
    from castvoice.app.dataset import summarise

    summary = summarise(found)
    stdout.print(f"{summary.kept} of {summary.clips} clips kept ({summary.kept_seconds / 60:.1f} min)")
    for group in summary.dropped:
        stdout.print(f"  excluded, {group.reason}: {group.clips} ({group.seconds:.1f} s)")


def _clip_json(clip) -> dict:
    return {**asdict(clip), "audio_file": str(clip.audio_file), "duration": round(clip.duration, 3)}


@app.command()
def review(
    character: Annotated[str, typer.Argument(help="The character's name.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a character's clips with their scores, and why each excluded clip was dropped."""
    from castvoice.app import dataset, open_workspace

    found = dataset.clean(open_workspace(workspace), character)
    if as_json:
        print_json([_clip_json(c) for c in found])
        return
    table = Table(Column("clip", no_wrap=True), "start", "dur", "SNR", "sim", "CER", "overlap", "status", "text")
    for c in found:
        status = "kept" if c.kept else c.reason
        if c.override == "include" and c.reason:
            status = f"kept by hand ({c.reason})"
        table.add_row(c.id, f"{c.start:.2f}", f"{c.duration:.1f}", score(c.scores.get("snr_db"), ".0f"),
                      score(c.scores.get("similarity"), ".2f"), score(c.scores.get("cer"), ".2f"),
                      score(c.scores.get("overlap"), ".0%"), status, _text_and_trim(c))
    stdout.print(table)
    _print_summary(found)


def _text_and_trim(clip) -> Text:
    """A clip's text, with the words trimmed away from it (another voice over them) below it."""
    text = Text(clip.text)
    for note in clip.scores.get("trim", []):
        text.append(f"\n{note}", style="dim")
    return text


@app.command()
def include(clip: Annotated[str, typer.Argument(help="A clip id from `castvoice review`.")], workspace: WorkspaceOption = None) -> None:
    """Keep a clip in the dataset whatever its checks say."""
    _override(workspace, clip, "include")


@app.command()
def exclude(clip: Annotated[str, typer.Argument(help="A clip id from `castvoice review`.")], workspace: WorkspaceOption = None) -> None:
    """Drop a clip from the dataset whatever its checks say."""
    _override(workspace, clip, "exclude")


def _override(workspace: Path | None, label: str, decision: str) -> None:
    from castvoice.app import dataset, open_workspace

    clip = dataset.set_override(open_workspace(workspace), label, decision)
    stdout.print(f"{clip.id}: {'kept' if clip.kept else 'excluded'} by hand ({clip.text})")


@app.command()
def references(
    character: Annotated[str, typer.Argument(help="The character's name.")],
    count: Annotated[int, typer.Option("--count", help="How many to list.")] = 5,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """The best references for zero-shot cloning, best first: kept 3-10 s clips, else short ones joined."""
    from castvoice.app import dataset, open_workspace

    picked = dataset.references(open_workspace(workspace), character, count)
    if as_json:
        print_json([{"id": r.id, "joined": r.joined, "duration": round(r.duration, 3), "text": r.text,
                     "clips": [_clip_json(c) for c in r.clips], "score": r.score, "pitch_hz": r.pitch_hz,
                     "typicality": r.typicality, "complete": r.complete} for r in picked])
        return
    table = Table(Column("reference", no_wrap=True), "score", "dur", "pitch", "sim", "SNR", "text")
    for r in picked:
        table.add_row(f"{r.id} (joined)" if r.joined else r.id, f"{r.score:.2f}", f"{r.duration:.1f}",
                      score(r.pitch_hz, ".0f"), score(r.scores.get("similarity"), ".2f"),
                      score(r.scores.get("snr_db"), ".0f"), r.text)
    stdout.print(table)


@app.command("dataset")
def dataset_command(
    character: Annotated[str, typer.Argument(help="The character's name.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the dataset into.")],
    fmt: Annotated[str, typer.Option("--format", help="ljspeech, f5, xtts, gpt-sovits, piper, fish or jsonl.")] = "ljspeech",
    workspace: WorkspaceOption = None,
) -> None:
    """Export a character's kept clips in a TTS trainer's layout."""
    from castvoice.app import dataset, open_workspace

    summary = dataset.export(open_workspace(workspace), character, out, fmt)
    stdout.print(f"{summary.clips} clips ({summary.seconds / 60:.1f} min) written to {summary.out} as {summary.format}")


@app.command()
def report(
    character: Annotated[str, typer.Argument(help="The character's name.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file (default: reports/NAME.html in the workspace).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """One self-contained HTML page to judge a character's dataset: kept and dropped, scores, timeline, audio."""
    from castvoice.app import dataset, open_workspace

    stdout.print(f"report: {dataset.report(open_workspace(workspace), character, out)}")
