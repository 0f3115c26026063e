"""The dataset report: one self-contained HTML page, checked as a browser would parse it."""

from __future__ import annotations

import base64
import io
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from castvoice.dataset.report import write_report
from castvoice.dataset.types import DatasetClip
from conftest import EVAL

LJSPEECH = EVAL / "ljspeech_coqui"
pytestmark = pytest.mark.skipif(not LJSPEECH.is_dir(), reason="../shared/eval is not present")

THRESHOLDS = {"snr_db": 15, "similarity": 0.5, "min_duration": 1, "max_duration": 15}
ESCAPED_TEXT = "Tom <b>&</b> Jerry"
NOISY = "noise or music under the voice (SNR below 15 dB)"
OTHER_VOICE = "voice unlike the character's (similarity below 0.5)"
# id, movie start, seconds of speech, file rate, kept, reason, override, scores, text
CLIPS = [
    ("diane_001", 12.0, 1.4, 22_050, True, None, None,
     {"snr_db": 28.1, "clipping": 0.0, "similarity": 0.81, "cer": 0.02}, "We need to talk."),
    ("diane_002", 95.5, 2.0, 16_000, False, NOISY, None, {"snr_db": 8.2, "similarity": 0.77}, ESCAPED_TEXT),
    ("diane_003", 754.3, 2.6, 44_100, False, OTHER_VOICE, None, {"snr_db": None, "similarity": 0.21}, "Not me."),
    ("diane_004", 1210.0, 3.2, 22_050, True, None, None, {}, "No scores at all."),
    ("diane_005", 1500.2, 0.8, 22_050, True, "shorter than 1 s", "include",
     {"snr_db": 25.0, "similarity": None}, "Hm."),
    ("diane_006", 2222.0, 3.8, 22_050, False, NOISY, None, {"snr_db": 11.0, "similarity": 0.66}, "Later, then."),
    ("diane_007", 2400.0, 1.7, 22_050, False, "excluded by hand", "exclude", {"snr_db": 30.0}, "Goodbye."),
]


class Page(HTMLParser):
    """Tags, table cells, and <audio> sources of a page, as the stdlib parser sees them."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.tables: dict[str | None, list[dict]] = {}
        self._table = self._row = self._cell = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "table":
            self._table = attributes.get("id")
            self.tables[self._table] = []
        elif tag == "tr":
            self._row = {"id": attributes.get("id"), "cells": [], "audio": []}
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "audio":
            self._row["audio"].append(attributes)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._row["cells"].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self.tables[self._table].append(self._row)
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def body_rows(self, table: str) -> list[dict]:
        return self.tables[table][1:]

    def summary(self) -> dict[str, tuple[int, float]]:
        """Summary table: status label -> (clips, minutes)."""
        return {row["cells"][0]: (int(row["cells"][1]), float(row["cells"][2])) for row in self.body_rows("summary")}


def speech(seconds: float, offset: float) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(LJSPEECH / "LJ001-0001.flac", dtype="float32")
    first = int(offset * rate)
    return audio[first:first + int(seconds * rate)], rate


def make_clips(folder: Path) -> list[DatasetClip]:
    clips = []
    for number, (clip_id, start, seconds, rate, kept, reason, override, scores, text) in enumerate(CLIPS):
        audio, source_rate = speech(seconds, offset=number * 0.9)
        file = folder / f"{clip_id}.wav"
        sf.write(file, soxr.resample(audio, source_rate, rate) if rate != source_rate else audio, rate)
        clips.append(DatasetClip(id=clip_id, line_id=number, character="Diane", start=start, end=start + seconds,
                                 text=text, normalized=text.lower(), language="en", audio_file=file, kept=kept,
                                 reason=reason, override=override, scores=scores))
    return clips


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[DatasetClip]:
    return make_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="module")
def page(clips, tmp_path_factory) -> tuple[str, Page]:
    path = tmp_path_factory.mktemp("report") / "report.html"
    # Given out of movie order: the page sorts them.
    written = write_report(path, "Diane", clips[::-1], movie_duration=2700, movie_name="Demo", thresholds=THRESHOLDS)
    assert written == path
    html = path.read_text(encoding="utf-8")
    return html, Page(html)


def decode_audio(source: str) -> tuple[np.ndarray, int]:
    header, _, payload = source.partition(",")
    assert header == "data:audio/mpeg;base64"
    return sf.read(io.BytesIO(base64.b64decode(payload, validate=True)))


def chart_svgs(parsed: Page) -> list[str]:
    prefix = "data:image/svg+xml;base64,"
    sources = [a["src"] for tag, a in parsed.tags if tag == "img" and a.get("src", "").startswith(prefix)]
    return [base64.b64decode(s.removeprefix(prefix), validate=True).decode("utf-8") for s in sources]


def assert_self_contained(html: str, parsed: Page):
    for tag, attributes in parsed.tags:
        assert tag not in ("link", "script", "iframe", "object", "embed"), tag
        for name in ("src", "href"):
            if name in attributes:
                assert attributes[name].startswith(("data:", "#")), (tag, attributes[name][:80])
    assert 'src="http' not in html and 'href="http' not in html and "url(http" not in html


def test_every_clip_has_a_row_in_movie_order_with_its_audio(clips, page):
    _, parsed = page
    rows = parsed.body_rows("clips")
    assert [row["id"] for row in rows] == [f"clip-{clip.id}" for clip in clips]
    for clip, row in zip(clips, rows):
        assert row["cells"][0] == clip.id
        assert len(row["audio"]) == 1 and "controls" in row["audio"][0]
        audio, rate = decode_audio(row["audio"][0]["src"])
        assert rate in (22_050, 24_000) and audio.ndim == 1
        assert len(audio) / rate == pytest.approx(clip.duration, abs=0.06), clip.id
        assert np.sqrt(np.mean(audio**2)) > 0.01  # speech, not silence
    times = {row["cells"][0]: row["cells"][1] for row in rows}
    assert times["diane_001"] == "00:12" and times["diane_003"] == "12:34" and times["diane_006"] == "37:02"


def test_summary_shows_minutes_kept_and_dropped_per_reason(clips, page):
    _, parsed = page
    summary = parsed.summary()
    kept = [c for c in clips if c.kept]
    dropped = [c for c in clips if not c.kept]
    assert summary["kept"] == (len(kept), pytest.approx(sum(c.duration for c in kept) / 60, abs=0.005))
    assert summary["dropped"] == (len(dropped), pytest.approx(sum(c.duration for c in dropped) / 60, abs=0.005))
    for reason in {c.reason for c in dropped}:
        of_reason = [c for c in dropped if c.reason == reason]
        assert summary[f"dropped: {reason}"] == (len(of_reason),
                                                 pytest.approx(sum(c.duration for c in of_reason) / 60, abs=0.005))
    assert summary["kept: included by hand"] == (1, pytest.approx(0.8 / 60, abs=0.005))
    statuses = {row["cells"][0]: row["cells"][4] for row in parsed.body_rows("clips")}
    assert statuses == {"diane_001": "kept", "diane_002": NOISY, "diane_003": OTHER_VOICE, "diane_004": "kept",
                        "diane_005": "kept by hand, though: shorter than 1 s", "diane_006": NOISY,
                        "diane_007": "excluded by hand"}


def test_scores_are_shown_and_missing_ones_marked(page):
    _, parsed = page
    header = parsed.tables["clips"][0]["cells"]
    rows = {row["cells"][0]: dict(zip(header, row["cells"])) for row in parsed.body_rows("clips")}
    assert rows["diane_001"]["snr_db"] == "28.1" and rows["diane_001"]["similarity"] == "0.81"
    assert rows["diane_003"]["snr_db"] == "–" and rows["diane_004"]["cer"] == "–"


def test_charts_are_inline_and_nothing_is_fetched(page):
    html, parsed = page
    svgs = chart_svgs(parsed)
    assert len(svgs) == 3 and all("<svg" in svg for svg in svgs)
    histograms = next(svg for svg in svgs if "speaker similarity" in svg)
    assert all(word in histograms for word in ("SNR", "duration", "kept", "dropped", "threshold"))
    assert all(f'id="threshold-{key}"' in histograms for key in THRESHOLDS)
    assert any("movie time (minutes)" in svg for svg in svgs)
    assert_self_contained(html, parsed)


def test_text_with_markup_is_escaped(page):
    html, parsed = page
    texts = {row["cells"][0]: row["cells"][3] for row in parsed.body_rows("clips")}
    assert texts["diane_002"].startswith(ESCAPED_TEXT)
    assert "b" not in {tag for tag, _ in parsed.tags}
    assert "Tom &lt;b&gt;&amp;&lt;/b&gt; Jerry" in html


def test_zero_clips(tmp_path):
    path = tmp_path / "new" / "folder" / "report.html"
    assert write_report(path, "Nobody", [], movie_duration=600) == path
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temporary file left behind
    html = path.read_text(encoding="utf-8")
    parsed = Page(html)
    assert parsed.summary() == {"kept": (0, 0.0), "dropped": (0, 0.0)}
    assert "clips" not in parsed.tables and "No clips." in html
    svgs = chart_svgs(parsed)
    assert len(svgs) == 3 and not any("threshold" in svg for svg in svgs)
    assert_self_contained(html, parsed)


def test_all_dropped_without_scores_or_audio(clips, tmp_path):
    dropped = [replace(c, kept=False, reason="unchecked", override=None, scores={"snr_db": None, "similarity": None})
               for c in clips]
    dropped.append(replace(clips[0], id="diane_999", start=2500.0, end=2502.0, audio_file=tmp_path / "gone.wav",
                           kept=False, reason=None, scores={}))
    path = write_report(tmp_path / "report.html", "Diane", dropped, movie_duration=2400, thresholds=THRESHOLDS)
    html = path.read_text(encoding="utf-8")
    parsed = Page(html)
    summary = parsed.summary()
    assert summary["kept"] == (0, 0.0)
    assert summary["dropped"][0] == len(dropped)
    assert summary["dropped: unchecked"][0] == len(clips) and summary["dropped: no reason given"][0] == 1
    rows = {row["cells"][0]: row for row in parsed.body_rows("clips")}
    assert all(len(rows[c.id]["audio"]) == 1 for c in clips)
    assert rows["diane_999"]["audio"] == [] and rows["diane_999"]["cells"][-1] == "audio missing"
    assert len(chart_svgs(parsed)) == 3


def test_audio_is_compressed(tmp_path):
    """Twenty 4 s lines stay near 30 kB each (WAV at the same rate would be 176 kB)."""
    audio, rate = speech(4.0, offset=1.0)
    sf.write(tmp_path / "line.wav", audio, rate)
    lines = [DatasetClip(id=f"line_{i:02d}", line_id=i, character="Diane", start=10.0 * i, end=10.0 * i + 4,
                         text="Line.", normalized="line.", language="en", audio_file=tmp_path / "line.wav", kept=True)
             for i in range(20)]
    path = write_report(tmp_path / "report.html", "Diane", lines, movie_duration=300)
    assert path.stat().st_size < 20 * 40_000
