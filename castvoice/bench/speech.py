"""`castvoice bench speech`: real-time factors of the speech stage and memory on a 3-hour file."""

from __future__ import annotations

from pathlib import Path

from castvoice.bench import eval_root, report


def run(out: Path | None = None, memory: bool = True) -> None:
    """Measure VAD, ASR, alignment and diarization speed; with `memory`, peak RSS on 10 min vs 3 h."""
    from castvoice.bench import align, asr, speakers
    from castvoice.bench.memory import memory_rows

    sections = {
        "VAD and ASR (processing s / audio s)": asr.speed_rows(),
        "forced alignment": [align.speed_row()],
        "diarization, demo film, decoding included": [speakers.movie_row()],
    }
    if memory:
        sections["peak memory: 10 minutes against 3 hours"] = memory_rows(eval_root() / "whisper_jfk" / "jfk.flac")
    targets = {
        "VAD RTF": f"<= {asr.TARGET_RTF_VAD}",
        "ASR base RTF": f"<= {asr.TARGET_RTF_ASR_BASE}",
        "alignment RTF": f"<= {align.TARGET_RTF}",
        "diarization RTF": f"<= {speakers.TARGET_RTF}",
        "memory": "3 h peak about the same as 10 min",
    }
    report(sections, targets, out)
