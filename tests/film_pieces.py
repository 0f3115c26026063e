"""Short films cut from the demo film, with their subtitles, for tests of projects of many films."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

_TIME = r"(\d+):(\d+):(\d+)[,.](\d+)"


def _seconds(match: tuple[str, ...]) -> float:
    h, m, s, ms = map(int, match)
    return h * 3600 + m * 60 + s + ms / 1000


def _stamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def cut_srt(srt: Path, start: float, end: float, out: Path) -> Path:
    """The cues of `srt` wholly inside start..end, moved to start at 0."""
    blocks = []
    for block in srt.read_text(encoding="utf-8").strip().split("\n\n"):
        rows = block.splitlines()
        times = re.findall(_TIME, rows[1])
        begin, finish = _seconds(times[0]), _seconds(times[1])
        if begin >= start and finish <= end:
            blocks.append(f"{len(blocks) + 1}\n{_stamp(begin - start)} --> {_stamp(finish - start)}\n"
                          + "\n".join(rows[2:]))
    out.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return out


def cut_film(demo: Path, start: float, end: float, out: Path, script: bool = True) -> Path:
    """The demo film from `start` to `end` seconds as `out` (an .mp4), its subtitles beside it (out.srt),
    and, with `script`, the demo's screenplay beside it (out.screenplay.txt)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(start), "-t", str(end - start), "-i",
                    str(demo / "demo.mp4"), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(out)],
                   check=True)
    cut_srt(demo / "demo.srt", start, end, out.with_suffix(".srt"))
    if script:
        shutil.copyfile(demo / "demo.screenplay.txt", out.with_suffix(".screenplay.txt"))
    return out


def corrupt_film(out: Path) -> Path:
    """A file named like a film that holds no media."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"\x00\x01 this is not a film " * 64)
    return out
