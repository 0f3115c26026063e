"""Peak memory of transcription and diarization on a 3-hour recording against a 10-minute one.

The long file is mostly quiet room noise with a real speech recording every five minutes, so the
run stays short while every chunk of the file still has to be read, searched for speech and
released. Each command runs in its own process, which reports its own peak resident memory (VmHWM).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from castvoice.processes import tied_to_this_process

RATE = 16_000
SPEECH_EVERY = 300.0  # seconds


def write_long_recording(path: Path, seconds: float, speech: np.ndarray) -> None:
    """Write `seconds` of low noise with `speech` every SPEECH_EVERY seconds, block by block."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", RATE, 1, "PCM_16", format="FLAC") as out:
        for start in np.arange(0.0, seconds, SPEECH_EVERY):
            block = rng.normal(0, 0.001, int(min(SPEECH_EVERY, seconds - start) * RATE)).astype(np.float32)
            block[RATE : RATE + len(speech)] += speech[: max(0, len(block) - RATE)]
            out.write(block)


# VmHWM, not getrusage: a forked child's ru_maxrss starts at its parent's size, VmHWM at exec.
_MEASURE = (
    "import re, sys; from castvoice.cli import app; "
    "app(sys.argv[1:], standalone_mode=False); "
    "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
    "print('peak_rss_kib', hwm, file=sys.stderr)"
)


def peak_rss_mib(*args: str) -> float:
    """Run one castvoice command in a fresh process and return its peak resident memory in MiB."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True, check=True,
                          preexec_fn=tied_to_this_process())
    line = next(l for l in done.stderr.splitlines() if l.startswith("peak_rss_kib"))
    return int(line.split()[1]) / 1024


def memory_rows(speech_file: Path, long_seconds: float = 3 * 3600, short_seconds: float = 600) -> list[dict]:
    """Peak RSS of `transcribe` and `diarize` on the short and the long recording."""
    from castvoice.media.decode import load_audio

    speech = load_audio(speech_file)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for label, seconds in (("10 min", short_seconds), ("3 h", long_seconds)):
            files[label] = Path(tmp) / f"{label.replace(' ', '')}.flac"
            write_long_recording(files[label], seconds, speech)
        for command, extra in (("transcribe", ["--format", "json", "--out", str(Path(tmp) / "t.json")]),
                               ("diarize", ["--out", str(Path(tmp) / "d.rttm")])):
            short = peak_rss_mib(command, str(files["10 min"]), *extra)
            long = peak_rss_mib(command, str(files["3 h"]), *extra)
            rows.append({"command": command, "peak_rss_mib_10min": round(short), "peak_rss_mib_3h": round(long),
                         "ratio_3h_to_10min": round(long / short, 2)})
    return rows
