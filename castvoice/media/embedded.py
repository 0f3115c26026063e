"""Subtitle tracks stored inside a video container (mov_text, SubRip, ASS in MP4 or MKV)."""

from __future__ import annotations

from pathlib import Path

from castvoice.media.probe import open_container

RawCue = tuple[float, float, str, str | None]

ASS_FIELDS_BEFORE_TEXT = 8  # ReadOrder, Layer, Style, Name, MarginL, MarginR, MarginV, Effect


def read_embedded_dialogue(path: Path, stream_index: int) -> list[RawCue]:
    """Timed dialogue of one subtitle stream, as (start, end, ASS text, speaker name) tuples.

    FFmpeg's decoders hand every text subtitle codec over as ASS dialogue events, so one reader
    serves them all; the ASS Name field is kept as the speaker.
    """
    cues: list[RawCue] = []
    with open_container(path) as container:
        stream = next(s for s in container.streams.subtitles if s.index == stream_index)
        for packet in container.demux(stream):
            if packet.pts is None or packet.duration is None:
                continue
            start = float(packet.pts * packet.time_base)
            end = start + float(packet.duration * packet.time_base)
            for subtitle in packet.decode():
                fields = subtitle.ass.decode("utf-8", "replace").split(",", ASS_FIELDS_BEFORE_TEXT)
                if len(fields) <= ASS_FIELDS_BEFORE_TEXT:
                    continue
                cues.append((start, end, fields[ASS_FIELDS_BEFORE_TEXT], fields[3] or None))
    return cues
