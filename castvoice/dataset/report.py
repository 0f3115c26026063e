"""`report.html`: one self-contained page to judge a character's dataset before training on it.

Everything is inline (charts as SVG data URIs, each clip's audio as an MP3 data URI), so the page
opens from disk or travels by mail without the files it describes.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from castvoice.atomic import write_text_atomic
from castvoice.dataset.types import DatasetClip
from castvoice.progress import track

AUDIO_RATE = 22_050
# libsndfile's LAME in variable bit rate: about 43 kbit/s for speech at 22 kHz mono.
MP3_COMPRESSION = 0.7
KEPT_COLOUR = "#2e7d32"
DROPPED_COLOUR = "#c62828"
THRESHOLD_COLOUR = "#1f1f1f"
SCORE_ORDER = ("snr_db", "clipping", "overlap", "similarity", "rival_similarity", "voice_lines", "cer", "loudness")
NO_REASON = "no reason given"


@dataclass
class Share:
    """A group of clips in the summary and their total length."""

    kind: str  # "kept", "by hand" (the kept ones a user included), "dropped", or "reason" (one cause of dropping)
    label: str
    clips: int = 0
    seconds: float = 0.0

    @property
    def minutes(self) -> float:
        return self.seconds / 60


@dataclass
class VoiceSummary:
    """The character's voice profile, as the report shows it: how like the character it sounds, per speaker
    encoder, and (for a trained voice) how like the stock voice it started from was."""

    backend: str
    source: str
    start: str | None  # the stock voice a trained voice started from
    similarity: list[tuple[str, float | None, float]]  # (encoder, the start's similarity or None, the voice's)


def write_report(path: Path, character: str, clips: Sequence[DatasetClip], movie_duration: float,
                 movie_name: str | None = None, thresholds: dict[str, float] | None = None,
                 voice: VoiceSummary | None = None) -> Path:
    """Write one self-contained HTML page describing a character's clips (and `voice`, their voice profile);
    return its path.

    `thresholds` (e.g. snr_db, similarity, min_duration, max_duration) are drawn on the histograms.
    """
    path = Path(path)
    thresholds = dict(thresholds or {})
    ordered = sorted(clips, key=lambda clip: (clip.start, clip.end, clip.id))
    summary = summarize(ordered)
    score_keys = _score_keys(ordered)
    rows = []
    with track(f"report on {character}", total=len(ordered)) as progress:
        for clip in ordered:  # each clip's audio is encoded into the page
            rows.append(_row(clip, score_keys))
            progress.advance()
    page = _template().render(
        character=character,
        movie_name=movie_name,
        thresholds=thresholds,
        summary=summary,
        total_seconds=sum(clip.duration for clip in ordered),
        charts=_charts(ordered, [s for s in summary if s.kind in ("kept", "reason")], movie_duration, thresholds),
        score_keys=score_keys,
        rows=rows,
        voice=voice,
    )
    write_text_atomic(path, page)
    return path


def summarize(clips: Sequence[DatasetClip]) -> list[Share]:
    """Kept clips (and those of them included by hand, if any), dropped clips, then the dropped
    ones per reason, longest first."""
    kept, dropped = Share("kept", "kept"), Share("dropped", "dropped")
    by_hand = Share("by hand", "kept: included by hand")
    reasons: dict[str, Share] = {}
    for clip in clips:
        if clip.kept:
            groups = [kept, by_hand] if clip.override == "include" else [kept]
        else:
            reason = clip.reason or NO_REASON
            groups = [dropped, reasons.setdefault(reason, Share("reason", f"dropped: {reason}"))]
        for group in groups:
            group.clips += 1
            group.seconds += clip.duration
    by_reason = sorted(reasons.values(), key=lambda share: (-share.seconds, share.label))
    return [kept, *([by_hand] if by_hand.clips else []), dropped, *by_reason]


def audio_data_uri(file: Path) -> str | None:
    """A clip's audio as a mono MP3 data URI, or None when the file is missing, unreadable or empty."""
    try:
        samples, rate = sf.read(file, dtype="float32", always_2d=True)
    except sf.LibsndfileError:
        return None
    if not len(samples):
        return None
    mono = samples.mean(axis=1)
    if rate != AUDIO_RATE:
        mono = soxr.resample(mono, rate, AUDIO_RATE)
    encoded = io.BytesIO()
    sf.write(encoded, np.clip(mono, -1.0, 1.0), AUDIO_RATE, format="MP3", subtype="MPEG_LAYER_III",
             compression_level=MP3_COMPRESSION, bitrate_mode="VARIABLE")
    return "data:audio/mpeg;base64," + base64.b64encode(encoded.getvalue()).decode("ascii")


def clock(seconds: float) -> str:
    """Movie time as mm:ss; minutes go past 59 so they match the timeline's minute axis."""
    whole = max(0, int(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"


def _score_keys(clips: Sequence[DatasetClip]) -> list[str]:
    # The table has its own duration column; words (what was trimmed, what was heard) go beside the text.
    present = {key for clip in clips for key, value in clip.scores.items()
               if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))} - {"duration"}
    return [key for key in SCORE_ORDER if key in present] + sorted(present.difference(SCORE_ORDER))


def _score_text(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.3g}"


def _row(clip: DatasetClip, score_keys: list[str]) -> dict:
    return {
        "id": clip.id,
        "time": clock(clip.start),
        "duration": f"{clip.duration:.1f}",
        "text": clip.text,
        "normalized": clip.normalized if clip.normalized != clip.text else None,
        "trim": clip.scores.get("trim", []),
        "heard": clip.scores.get("heard"),
        "kept": clip.kept,
        "status": _status(clip),
        "scores": [_score_text(clip.scores.get(key)) for key in score_keys],
        "audio": audio_data_uri(clip.audio_file),
    }


def _status(clip: DatasetClip) -> str:
    if not clip.kept:
        return clip.reason or NO_REASON
    if clip.override == "include":
        return f"kept by hand, though: {clip.reason}" if clip.reason else "kept by hand"
    return "kept"


def _finite(values) -> np.ndarray:
    array = np.array([v for v in values if v is not None], dtype=float)
    return array[np.isfinite(array)]


def _charts(clips: Sequence[DatasetClip], shares: list[Share], movie_duration: float,
            thresholds: dict[str, float]) -> dict[str, str]:
    """Each chart as an SVG data URI."""
    import matplotlib
    # A bare Figure (no pyplot) draws without any GUI backend and is never registered in pyplot's
    # global list of figures, so nothing needs closing and the caller's matplotlib state is untouched.
    from matplotlib.figure import Figure

    style = {"svg.fonttype": "none", "svg.hashsalt": "castvoice", "font.size": 9}
    with matplotlib.rc_context(style):
        return {
            "minutes": _svg(_minutes_chart(Figure(figsize=(9, 0.6 + 0.35 * len(shares))), shares)),
            "histograms": _svg(_histograms(Figure(figsize=(11, 3.2), layout="constrained"), clips, thresholds)),
            "timeline": _svg(_timeline(Figure(figsize=(11, 1.9), layout="constrained"), clips, movie_duration)),
        }


def _svg(figure) -> str:
    buffer = io.BytesIO()
    # No metadata: it would only add a date and links to RDF vocabularies.
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _minutes_chart(figure, shares: list[Share]):
    axes = figure.subplots()
    colours = [KEPT_COLOUR if share.kind == "kept" else DROPPED_COLOUR for share in shares]
    bars = axes.barh([share.label for share in shares], [share.minutes for share in shares], color=colours)
    axes.bar_label(bars, fmt="%.2f", padding=3)
    axes.invert_yaxis()
    axes.set_xlabel("minutes")
    axes.margins(x=0.15)
    figure.tight_layout()
    return figure


def _histograms(figure, clips: Sequence[DatasetClip], thresholds: dict[str, float]):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    panels = [
        ("SNR (dB)", lambda clip: clip.scores.get("snr_db"), ["snr_db"]),
        ("duration (s)", lambda clip: clip.duration, ["min_duration", "max_duration"]),
        ("speaker similarity", lambda clip: clip.scores.get("similarity"), ["similarity"]),
    ]
    any_threshold = False
    for axes, (title, value_of, threshold_keys) in zip(figure.subplots(1, len(panels)), panels):
        kept = _finite(value_of(clip) for clip in clips if clip.kept)
        dropped = _finite(value_of(clip) for clip in clips if not clip.kept)
        missing = len(clips) - len(kept) - len(dropped)
        axes.set_title(f"{title}, {missing} without a value" if missing else title)
        if len(kept) + len(dropped):
            edges = np.histogram_bin_edges(np.concatenate([kept, dropped]), bins="auto")
            if len(edges) > 41:
                edges = np.linspace(edges[0], edges[-1], 41)
            axes.hist([kept, dropped], bins=edges, stacked=True, color=[KEPT_COLOUR, DROPPED_COLOUR])
        else:
            axes.text(0.5, 0.5, "no values", ha="center", va="center", transform=axes.transAxes, color="grey")
        for key in threshold_keys:
            if thresholds.get(key) is not None:
                axes.axvline(thresholds[key], color=THRESHOLD_COLOUR, linestyle="--", linewidth=1,
                             gid=f"threshold-{key}")
                any_threshold = True
        axes.set_ylabel("clips")
    legend = [Patch(color=KEPT_COLOUR, label="kept"), Patch(color=DROPPED_COLOUR, label="dropped")]
    if any_threshold:
        legend.append(Line2D([], [], color=THRESHOLD_COLOUR, linestyle="--", linewidth=1, label="threshold"))
    figure.legend(handles=legend, loc="outside upper center", ncols=len(legend), frameon=False)
    return figure


def _timeline(figure, clips: Sequence[DatasetClip], movie_duration: float):
    axes = figure.subplots()
    lanes = [(1, "kept", KEPT_COLOUR, [c for c in clips if c.kept]),
             (0, "dropped", DROPPED_COLOUR, [c for c in clips if not c.kept])]
    for y, label, colour, lane in lanes:
        # The edge line keeps a few-second line visible on a two-hour axis.
        axes.broken_barh([(c.start / 60, c.duration / 60) for c in lane], (y - 0.35, 0.7),
                         facecolors=colour, edgecolors=colour, linewidth=0.6)
    axes.set_yticks([y for y, *_ in lanes], [f"{label} ({len(lane)})" for _, label, _, lane in lanes])
    axes.set_ylim(-0.6, 1.6)
    end = max([movie_duration, *(c.end for c in clips)])
    axes.set_xlim(0, max(end, 1) / 60)
    axes.set_xlabel("movie time (minutes)")
    axes.grid(axis="x", alpha=0.3)
    return figure


@cache
def _template():
    import jinja2

    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
    environment.filters["minutes"] = lambda seconds: f"{seconds / 60:.2f}"
    return environment.from_string(TEMPLATE)


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ character }} – voice dataset{% if movie_name %} – {{ movie_name }}{% endif %}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; color: #1f1f1f; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; }
h1 { margin-bottom: 0.1em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
th { background: #f4f4f4; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.kept .status { color: #2e7d32; }
tr.dropped .status { color: #c62828; }
tr.dropped td { background: #fdf3f3; }
tr.reason td:first-child, tr.by-hand td:first-child { padding-left: 2em; }
.normalized, .heard { color: #777; font-size: 0.9em; }
.trim { color: #8a5a00; font-size: 0.9em; }
img.chart { max-width: 100%; height: auto; display: block; margin: 0.5em 0 1.5em; }
audio { height: 2em; width: 14em; }
</style>
</head>
<body>
<h1>{{ character }}</h1>
<p class="sub">Voice dataset{% if movie_name %} from {{ movie_name }}{% endif %}:
{{ rows | length }} lines, {{ total_seconds | minutes }} minutes in all.
{% if thresholds %}Thresholds:
{% for key, value in thresholds | dictsort %}{{ key }} {{ value }}{{ ", " if not loop.last }}{% endfor %}.
{% endif %}</p>

<h2>Summary</h2>
<table id="summary">
<thead><tr><th>Status</th><th class="num">Clips</th><th class="num">Minutes</th><th class="num">Share</th></tr></thead>
<tbody>
{% for share in summary %}
<tr class="{{ share.kind | replace(" ", "-") }}">
<td>{{ share.label }}</td>
<td class="num">{{ share.clips }}</td>
<td class="num">{{ share.seconds | minutes }}</td>
<td class="num">{{ "%.0f%%" | format(100 * share.seconds / total_seconds) if total_seconds else "–" }}</td>
</tr>
{% endfor %}
</tbody>
</table>
<img class="chart" alt="Minutes kept and dropped by reason" src="{{ charts.minutes }}">

<h2>Scores</h2>
<img class="chart" alt="SNR, duration and speaker similarity of kept and dropped clips" src="{{ charts.histograms }}">

<h2>Timeline</h2>
<img class="chart" alt="The character's lines over the movie, kept and dropped" src="{{ charts.timeline }}">

{% if voice %}
<h2>Voice</h2>
<p>A {{ voice.backend }} voice made from {{ voice.source }}{% if voice.start %}, trained from the stock voice
{{ voice.start }}{% endif %}. Similarity to the character's references (probe sentences, by speaker encoder):</p>
<table id="voice">
<thead><tr><th>Encoder</th>{% if voice.start %}<th class="num">{{ voice.start }}</th>{% endif %}
<th class="num">This voice</th></tr></thead>
<tbody>
{% for encoder, before, after in voice.similarity %}
<tr><td>{{ encoder }}</td>{% if voice.start %}<td class="num">{{ "%.3f" | format(before) if before is not none else "–" }}</td>{% endif %}
<td class="num">{{ "%.3f" | format(after) }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}

<h2>Clips</h2>
{% if rows %}
<table id="clips">
<thead><tr><th>Clip</th><th>Time</th><th class="num">Seconds</th><th>Text</th><th>Status</th>
{% for key in score_keys %}<th class="num">{{ key }}</th>{% endfor %}<th>Audio</th></tr></thead>
<tbody>
{% for row in rows %}
<tr id="clip-{{ row.id }}" class="{{ 'kept' if row.kept else 'dropped' }}">
<td>{{ row.id }}</td>
<td>{{ row.time }}</td>
<td class="num">{{ row.duration }}</td>
<td>{{ row.text }}{% if row.normalized %}<div class="normalized">{{ row.normalized }}</div>{% endif %}
{% for note in row.trim %}<div class="trim">{{ note }}</div>{% endfor %}
{% if row.heard is not none %}<div class="heard">heard: {{ row.heard }}</div>{% endif %}</td>
<td class="status">{{ row.status }}</td>
{% for score in row.scores %}<td class="num">{{ score }}</td>{% endfor %}
<td>{% if row.audio %}<audio controls preload="none" src="{{ row.audio }}"></audio>
{% else %}audio missing{% endif %}</td>
</tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>No clips.</p>
{% endif %}
</body>
</html>
"""
