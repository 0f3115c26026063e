"""Shared fixtures: the demo film (built once per session) and helpers to run the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from castvoice.workspace import copy_workspace

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
if not EVAL.is_dir():
    EVAL = Path(os.environ.get("CASTVOICE_EVAL", "../shared/eval")).resolve()


@pytest.fixture(scope="session", autouse=True)
def fast_language_model(tmp_path_factory):
    """Chats in tests run on the small embedded model (SmolLM2-135M) unless a test names another."""
    config = tmp_path_factory.mktemp("config") / "config.toml"
    config.write_text('[llm]\nspec = "embedded:smollm2"\n', encoding="utf-8")
    before = os.environ.get("CASTVOICE_CONFIG")
    os.environ["CASTVOICE_CONFIG"] = str(config)
    yield config
    if before is None:
        os.environ.pop("CASTVOICE_CONFIG", None)
    else:
        os.environ["CASTVOICE_CONFIG"] = before


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Path:
    """The demo film folder: demo.mp4, demo.srt, demo.screenplay.txt, truth.json."""
    from castvoice.demo.film import build

    out = tmp_path_factory.mktemp("demo")
    build(out)
    return out


@pytest.fixture(scope="session")
def truth(demo) -> list[dict]:
    return json.loads((demo / "truth.json").read_text())["segments"]


def castvoice(*args: str, cwd: Path | None = None, env: dict | None = None, check: bool = True,
              stdin: str | None = None):
    """Run the real `castvoice` command (with `stdin` as its input); return the CompletedProcess."""
    done = subprocess.run(
        [sys.executable, "-m", "castvoice", *map(str, args)],
        cwd=cwd, env={**os.environ, "COLUMNS": "200", **(env or {})},
        input=stdin, capture_output=True, text=True, check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"castvoice {' '.join(map(str, args))} failed ({done.returncode}):\n{done.stderr}")
    return done


@pytest.fixture(scope="session")
def demo_workspace(demo, tmp_path_factory) -> Path:
    """The demo film ingested with its subtitles and screenplay."""
    root = tmp_path_factory.mktemp("ws") / "demo"
    castvoice("ingest", demo / "demo.mp4", "--subs", demo / "demo.srt",
              "--script", demo / "demo.screenplay.txt", "-w", root)
    return root


def segment_for(truth: list[dict], start: float, end: float) -> dict:
    """The ground-truth segment that overlaps a span the most."""
    return max(truth, key=lambda g: min(g["end"], end) - max(g["start"], start))


def assert_heard(heard: str, said: str, max_errors: float = 0.25) -> None:
    """Speech recognised from what was `said` matches it within a tolerance: substituted and missing words at
    most `max_errors` of the words said. A word Whisper adds at the edge of a short clip is not counted."""
    import jiwer

    from castvoice.text.normalize import scoring_words

    reference, hypothesis = " ".join(scoring_words(said)), " ".join(scoring_words(heard))
    found = jiwer.process_words(reference, hypothesis)
    rate = (found.substitutions + found.deletions) / max(1, len(reference.split()))
    assert rate <= max_errors, f"heard {heard!r} for {said!r} ({rate:.0%} of the words wrong or missing)"


@pytest.fixture(scope="session")
def short_film(demo, tmp_path_factory) -> Path:
    """The first 14 seconds of the demo film (short.mp4) with the subtitles that fall in them (short.srt)."""
    import pysubs2

    out = tmp_path_factory.mktemp("short")
    subprocess.run(["ffmpeg", "-v", "error", "-i", demo / "demo.mp4", "-t", "14", "-c", "copy",
                    out / "short.mp4"], check=True)
    subs = pysubs2.load(str(demo / "demo.srt"))
    subs.events = [e for e in subs.events if e.end <= 14.0 * 1000]
    subs.save(str(out / "short.srt"))
    return out


@pytest.fixture(scope="module")
def projects(demo_workspace, tmp_path_factory) -> Path:
    """A projects folder holding a copy of the demo workspace, as the project 'demo'."""
    folder = tmp_path_factory.mktemp("projects")
    copy_workspace(demo_workspace, folder / "demo")
    return folder
