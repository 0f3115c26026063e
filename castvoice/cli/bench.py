"""Benchmarks: each prints its figures as ratios against a baseline measured in the same run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from castvoice.cli.base import LLMOption, OutOption, bench_app


@bench_app.command("ingest")
def bench_ingest(
    movies: Annotated[Optional[list[Path]], typer.Argument(help="Movie files, each with a same-stem .srt beside it.")] = None,
    out: OutOption = None,
) -> None:
    """Seconds of processing per movie hour for the subtitle path (decode + parse + attribute + cut)."""
    from castvoice.bench.ingest import run

    run(movies, out)


@bench_app.command("studio")
def bench_studio(
    out: OutOption = None,
) -> None:
    """Time from opening each studio page to its content, and to the first audio of a typed line, in chromium."""
    from castvoice.bench.studio import run as measure

    measure(out)


@bench_app.command("accuracy")
def bench_accuracy(
    out: OutOption = None,
) -> None:
    """WER, hallucination, language ID, DER, alignment error, speaker EER and character finding on ../shared/eval."""
    from castvoice.bench.accuracy import run as measure

    measure(out)


@bench_app.command("speech")
def bench_speech(
    out: OutOption = None,
    memory: Annotated[bool, typer.Option("--memory/--no-memory", help="Also measure peak memory on a 3-hour file.")] = True,
) -> None:
    """Real-time factors of VAD, ASR, alignment and diarization; peak memory on a 3-hour file."""
    from castvoice.bench.speech import run as measure

    measure(out, memory)


@bench_app.command("clean")
def bench_clean(
    out: OutOption = None,
) -> None:
    """SI-SDR, WER and speed of the clip cleaning chain on speech mixed with noise and film music."""
    from castvoice.bench.clean import run as measure

    measure(out)


@bench_app.command("tts")
def bench_tts(
    out: OutOption = None,
) -> None:
    """Real-time factor, time to first audio and WER of each TTS backend and ONNX Runtime setting."""
    from castvoice.bench.tts import run as measure

    measure(out)


@bench_app.command("voice")
def bench_voice(
    out: OutOption = None,
    budget: Annotated[float, typer.Option("--budget", help="Minutes of voice search for the whole run (0: no "
                                          "style-space clones).")] = 60.0,
    speakers: Annotated[Optional[int], typer.Option("--speakers", help="Clone only the first N speakers.")] = None,
    train_minutes: Annotated[Optional[list[float]], typer.Option(
        "--train-minutes", help="Also train voices (train-voice) with this budget in minutes; repeat it to compare "
        "budgets on LJ Speech.")] = None,
) -> None:
    """Cloning and training on ../shared/eval LibriSpeech speakers (and LJ Speech), judged on new text by an
    encoder neither ever used."""
    from castvoice.bench.voice import run as measure

    measure(out, budget * 60, speakers, tuple(train_minutes or ()))


@bench_app.command("chat")
def bench_chat(
    out: OutOption = None,
    llm: LLMOption = None,
    larger: Annotated[Optional[str], typer.Option("--larger", help="A second, larger model for the recall test "
                                                  "(e.g. ollama:llama3.2 or openai:MODEL@URL).")] = None,
) -> None:
    """Talking with the demo character: time to the first audio of a reply, and memory across sessions."""
    from castvoice.bench.chat import run as measure

    measure(out, llm, larger)


@bench_app.command("persona")
def bench_persona(
    out: OutOption = None,
    llm: Annotated[Optional[str], typer.Option("--llm", help="Another model to score beside the embedded ones "
                                               "(gguf:PATH, ollama[:MODEL] or openai[:MODEL][@URL]).")] = None,
    models: Annotated[Optional[str], typer.Option("--models", help="Comma-separated embedded models to score "
                                                  "(default: embedded:smollm2,embedded:qwen0.5b,embedded:qwen1.5b).")] = None,
    characters: Annotated[Optional[str], typer.Option("--characters", help="Comma-separated characters "
                                                      "(default: Diane, Marcus, Oliver and Rosa).")] = None,
) -> None:
    """Whether a character stays in character, talks like itself, knows its film, remembers the user and answers aloud soon."""
    from castvoice.bench.persona import MODELS, run as measure

    chosen = tuple(m.strip() for m in models.split(",") if m.strip()) if models else MODELS
    measure(out, chosen, llm, tuple(c.strip() for c in characters.split(",")) if characters else None)


@bench_app.command("serve")
def bench_serve(
    out: OutOption = None,
) -> None:
    """Requests per second and p50/p95 latency of transcribe and clone at 1, 4 and 16 clients; memory over 500 requests."""
    from castvoice.bench.serve import run as measure

    measure(out)


@bench_app.command("conversation")
def bench_conversation(
    out: OutOption = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Only the first N AMI excerpts (and nothing else).")] = None,
) -> None:
    """Attribution, enrollment, dataset yield, clip cuts and voices on real conversation (AMI meetings)."""
    from castvoice.bench.conversation import run as measure

    measure(out, limit)


@bench_app.command("batch")
def bench_batch(
    movies: Annotated[Optional[list[Path]], typer.Argument(help="Films (default: copies of the demo film).")] = None,
    count: Annotated[int, typer.Option("--count", min=2, help="Copies of the demo film when no films are given.")] = 3,
    out: OutOption = None,
) -> None:
    """Films per hour of `castvoice batch` with 1 and 2 workers against a plain sequential run, and an estimate
    for 1,000 feature films on N nodes."""
    from castvoice.bench.batch import run as measure

    measure(movies, out, count)
