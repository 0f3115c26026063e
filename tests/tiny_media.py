"""Tiny generated media and workspace checks shared by the bad-input and workspace tests."""

from __future__ import annotations

import hashlib
import random
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import numpy as np

RATE = 16_000


def write_tone(path: Path, seconds: float = 2.0, codec: str = "pcm_s16le", spoil_after: int | None = None) -> Path:
    """A mono 440 Hz tone; with `spoil_after`, every packet after that many holds random bytes instead."""
    import av

    rng = random.Random(7)
    t = np.arange(round(seconds * RATE)) / RATE
    samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=RATE, layout="mono")
        fmt = stream.codec_context.format.name
        step = stream.codec_context.frame_size or 1024
        muxed = 0

        def mux(packets) -> None:
            nonlocal muxed
            for packet in packets:
                if spoil_after is not None and muxed >= spoil_after:
                    packet.update(rng.randbytes(packet.size))
                container.mux(packet)
                muxed += 1

        for first in range(0, len(samples), step):
            block = samples[first:first + step]
            data = (block * 32767).astype(np.int16) if fmt.startswith("s16") else block
            frame = av.AudioFrame.from_ndarray(data[None], format=fmt, layout="mono")
            frame.sample_rate, frame.pts = RATE, first
            mux(stream.encode(frame))
        mux(stream.encode(None))
    return path


def write_video_only(path: Path, frames: int = 5) -> Path:
    """A tiny MPEG-4 video with no audio track."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def snapshot(root: Path) -> dict | None:
    """Every folder, every file's hash and the SQL dump of the database; None if `root` does not exist."""
    if not root.exists():
        return None
    entries = sorted(root.rglob("*"))
    files = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in entries if p.is_file()}
    folders = [str(p.relative_to(root)) for p in entries if p.is_dir()]
    dump = None
    if (root / "castvoice.db").is_file():
        with tempfile.TemporaryDirectory() as tmp:  # read a copy: opening the original could touch it
            for part in root.glob("castvoice.db*"):
                shutil.copy2(part, tmp)
            conn = sqlite3.connect(Path(tmp) / "castvoice.db")
            try:
                dump = list(conn.iterdump())
            finally:
                conn.close()
    return {"files": files, "folders": folders, "sql": dump}


def error_line(done: subprocess.CompletedProcess, *names: str) -> str:
    """Check a run failed with status 2 and exactly one non-empty stderr line, an error naming `names`."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert len(lines) == 1, f"expected one stderr line, got:\n{done.stderr}"
    line = lines[0]
    assert line.startswith("error:"), line
    for name in names:
        assert name in line, f"{name!r} not in {line!r}"
    return line
