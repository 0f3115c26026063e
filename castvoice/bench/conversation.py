"""`castvoice bench conversation`: the chain from recording to voice on real conversation.

Each recording gets the inputs a film would have, made with no knowledge of the truth beyond what a
subtitler and a script writer have: subtitles from Whisper over the audio (no names), and a screenplay
that names the speaker of each subtitle cue (the speaker the reference turns give most of the cue's
time). Then castvoice runs as a user would run it, and everything is measured against the reference
turns (RTTM):

- attribution: lines named right, wrong and not at all with the screenplay (a line's true speaker is the
  one speaking most of its time; a line two speakers share equally is not scored); without the
  screenplay, enrollment from one 2 s solo example per speaker: the share of each speaker's lines found,
  and the precision of what was found;
- yield: per speaker, the seconds of kept clips where that speaker speaks alone, against all the
  seconds that speaker speaks alone; contamination: the share of kept clip time where another speaker
  is active;
- voice: for how many speakers with at least 10 s of solo speech `voice create` succeeds;
- clips: a kept clip is whole when its re-transcription holds every word of its text (its first and
  last words among the first and last three heard, a letter or two misheard allowed, at most one in five
  words missing: Whisper base on meeting speech mishears), and clean when no word of the neighbouring
  lines that is not in its own text is heard at its edges;
- the speech path without subtitles: line count and lengths against the reference turns, and
  attribution after each diarized speaker is named after the reference speaker it covers most.

Recordings: the 13 AMI excerpts of ../shared/eval/pyannote_ami_debug (scored inside their UEM span),
the lhotse AMI clip and the demo film.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from castvoice.bench import eval_root, report
from castvoice.console import log
from castvoice.errors import CastvoiceError
from castvoice.spans import Segment

GRID = 0.01  # seconds per frame of the truth grids
ENROLL_SECONDS = 2.0
VOICE_SOLO_SECONDS = 10.0
# A clip's re-transcription by Whisper base, on far-field meeting speech, mishears words now and then.
EDGE_WORDS = 3  # the text's first (last) word must be heard among the first (last) words
MISHEARD = 0.2
NAMES = ["ALICE", "BRUNO", "CARMEN", "DENIS", "EDITH", "FELIX", "GRETA", "HUGO", "IRENE", "JONAS"]
TARGETS = {"attribution right": ">= 98%", "wrong above 0.9 confidence": "0", "enrollment found": ">= 90% at 95% precision",
           "yield of solo speech": ">= 70%", "contamination": "< 2%", "clips whole and clean": ">= 95%",
           "voices": "every speaker with >= 10 s solo", "speech path longest line": "<= 15 s"}


@dataclass
class Recording:
    name: str
    audio: Path
    turns: list[Segment]  # reference speaker turns
    span: tuple[float, float]  # the part that is scored


class Truth:
    """Who speaks when, on a 10 ms grid."""

    def __init__(self, recording: Recording):
        self.speakers = sorted({t.speaker for t in recording.turns})
        end = max([recording.span[1]] + [t.end for t in recording.turns])
        self.active = np.zeros((len(self.speakers), round(end / GRID) + 1), bool)
        for turn in recording.turns:
            self.active[self.speakers.index(turn.speaker), self._frame(turn.start):self._frame(turn.end)] = True
        scored = np.zeros(self.active.shape[1], bool)
        scored[self._frame(recording.span[0]):self._frame(recording.span[1])] = True
        self.active &= scored
        self.scored = scored

    def _frame(self, t: float) -> int:
        return int(np.clip(round(t / GRID), 0, self.active.shape[1]))

    def window(self, start: float, end: float) -> np.ndarray:
        return self.active[:, self._frame(start):self._frame(end)]

    def main_speaker(self, start: float, end: float) -> str | None:
        """The speaker active for most of [start, end]; None where nobody speaks, or two speak equally long."""
        seconds = self.window(start, end).sum(axis=1)
        ranked = np.argsort(-seconds, kind="stable")
        if not len(seconds) or seconds[ranked[0]] == 0 or (len(seconds) > 1 and seconds[ranked[1]] == seconds[ranked[0]]):
            return None
        return self.speakers[int(ranked[0])]

    def solo(self, speaker: str) -> np.ndarray:
        own = self.active[self.speakers.index(speaker)]
        return own & (self.active.sum(axis=0) == 1)

    def solo_seconds(self, speaker: str) -> float:
        return float(self.solo(speaker).sum() * GRID)

    def first_solo(self, speaker: str, seconds: float) -> tuple[float, float] | None:
        """The first stretch of at least `seconds` where the speaker speaks alone (its first `seconds`)."""
        solo = self.solo(speaker).astype(int)
        edges = np.flatnonzero(np.diff(np.r_[0, solo, 0]))
        for a, b in zip(edges[::2], edges[1::2]):
            if (b - a) * GRID >= seconds:
                return a * GRID, a * GRID + seconds
        return None


def recordings(limit: int | None = None) -> list[Recording]:
    """The AMI excerpts, the lhotse AMI clip and the demo film, each with its reference turns."""
    from castvoice.bench.speakers import _ami_files

    found = [Recording(wav.stem, wav, turns, span) for _, wav, turns, span in _ami_files()][:limit]
    clip = eval_root() / "lhotse_ami_clip"
    wav = clip / "ES2011a.Headset-0-40s-46s.wav"
    if wav.is_file() and limit is None:
        import gzip

        rows = [json.loads(line) for line in gzip.open(clip / "ES2011a_sups.jsonl.gz", "rt", encoding="utf-8")]
        turns = [Segment(max(0.0, r["start"] - 40.0), min(6.0, r["start"] + r["duration"] - 40.0), speaker=r["speaker"])
                 for r in rows if r["start"] < 46.0 and r["start"] + r["duration"] > 40.0]
        found.append(Recording("lhotse_ami_clip", wav, turns, (0.0, 6.0)))
    if limit is None:
        from castvoice.assets import cache_dir
        from castvoice.demo.film import build

        film = build(cache_dir() / "demo-film")
        truth = json.loads((film.parent / "truth.json").read_text(encoding="utf-8"))
        turns = [Segment(s["start"], s["end"], speaker=s["character"])
                 for s in truth["segments"] + truth["interruptions"]]
        found.append(Recording("demo film", film, turns, (0.0, truth["duration"])))
    return found


def _inputs(recording: Recording, truth: Truth, folder: Path) -> tuple[Path, Path, dict[str, str]] | None:
    """Subtitles from Whisper (no names) and a screenplay naming each cue's main speaker; None when
    Whisper hears no speech to subtitle."""
    from castvoice.app.tools import transcribe
    from castvoice.text.subtitles import read_subtitles

    subs = folder / "subtitles.srt"
    if not transcribe(recording.audio, "base", "en", "srt", False, subs).strip():
        return None
    names = dict(zip(truth.speakers, NAMES)) if len(truth.speakers) <= len(NAMES) else {}
    if not names:
        raise CastvoiceError(f"{recording.name}: more speakers than the benchmark has names for")
    blocks = ["INT. MEETING ROOM - DAY"]
    for cue in read_subtitles(subs).cues:
        speaker = truth.main_speaker(cue.start, cue.end)
        if speaker is not None:
            blocks.append(f"{names[speaker]}\n{cue.text}")
    script = folder / "script.fountain"
    script.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return subs, script, names


def same_name(a: str | None, b: str | None) -> bool:
    """Character names as castvoice shows them (BRUNO in a screenplay is Bruno) against the truth's."""
    return (a or "").casefold() == (b or "").casefold()


def _line_truth(ws, truth: Truth) -> list[tuple[object, str | None]]:
    from castvoice.app.lines import lines

    return [(line, truth.main_speaker(line.start, line.end)) for line in lines(ws, None)]


def _attribution(ws, truth: Truth, names: dict[str, str]) -> dict:
    right = wrong = unnamed = sure_wrong = 0
    for line, speaker in _line_truth(ws, truth):
        if speaker is None:
            continue
        if line.character is None:
            unnamed += 1
        elif same_name(line.character, names[speaker]):
            right += 1
        else:
            wrong += 1
            sure_wrong += (line.confidence or 0) > 0.9
    return {"right": right, "wrong": wrong, "unnamed": unnamed, "wrong_above_0.9": sure_wrong}


def _enrollment(ws, truth: Truth, names: dict[str, str]) -> dict:
    from castvoice.app.speakers import enroll

    lines = _line_truth(ws, truth)
    found = matched = wanted = 0
    for speaker in truth.speakers:
        example = truth.first_solo(speaker, ENROLL_SECONDS)
        own = {line.id for line, who in lines if who == speaker}
        if example is None or not own:
            continue
        matches = {m.line_id for m in enroll(ws, names[speaker], [example])}
        wanted += len(own)
        found += len(own & matches)
        matched += len(matches)
    return {"enroll_lines": wanted, "enroll_found": found, "enroll_matched": matched}


def _heard_words(path: Path) -> list[str]:
    from castvoice.media.decode import load_audio
    from castvoice.speech.asr import get_asr
    from castvoice.text.normalize import words

    return words(get_asr("base").transcribe(load_audio(path), "en").text)


def _heard_as(word: str, heard: list[str]) -> bool:
    """`word` is among `heard`, allowing a misheard letter or two (Whisper's spelling varies), or is two
    words heard written as one ("username" heard as "user name")."""
    from castvoice.dataset.checks import same_word

    return any(same_word(word, h) for h in heard) or word in {a + b for a, b in zip(heard, heard[1:])}


def _whole_and_clean(text: str, heard: list[str], neighbours: set[str]) -> tuple[bool, bool]:
    """Whole: the text's first and last words are heard near the clip's start and end, and at most
    MISHEARD of its words are missing; clean: no word of the neighbouring lines (not in its own text)
    is heard at its edges."""
    from castvoice.text.normalize import words

    said = words(text)
    if not said:
        return not heard, True
    edges = heard[:EDGE_WORDS], heard[-EDGE_WORDS:]
    missing = sum(not _heard_as(word, heard) for word in said)
    whole = _heard_as(said[0], edges[0]) and _heard_as(said[-1], edges[1]) and missing <= MISHEARD * len(said)
    foreign = (neighbours - set(said)) & set(heard[:2] + heard[-2:])
    return whole, not foreign


def _dataset(ws, truth: Truth, names: dict[str, str]) -> tuple[dict, list[dict]]:
    from castvoice.app.dataset import clean
    from castvoice.app.lines import characters, lines
    from castvoice.text.normalize import words

    every_line = lines(ws, None)
    order = {line.id: i for i, line in enumerate(every_line)}
    totals = Counter()
    rows = []
    present = {c.name.casefold() for c in characters(ws) if c.name}
    for speaker in truth.speakers:
        name = names[speaker]
        solo = truth.solo(speaker)
        kept_solo = np.zeros_like(solo)
        kept_seconds = other_seconds = 0.0
        clips = clean(ws, name) if name.casefold() in present else []
        for clip in (c for c in clips if c.kept):
            window = slice(round(clip.start / GRID), round(clip.end / GRID))
            kept_solo[window] |= solo[window]
            active = truth.active[:, window]
            mine = truth.speakers.index(speaker)
            kept_seconds += clip.duration
            other_seconds += float(np.delete(active, mine, axis=0).any(axis=0).sum() * GRID)
            position = order[clip.line_id]
            near = [every_line[i] for i in (position - 1, position + 1) if 0 <= i < len(every_line)]
            neighbours = {w for line in near if not same_name(line.character, clip.character) for w in words(line.text)}
            whole, clean_edges = _whole_and_clean(clip.text, _heard_words(clip.audio_file), neighbours)
            totals["clips"] += 1
            totals["whole"] += whole
            totals["clean"] += clean_edges
            totals["whole_and_clean"] += whole and clean_edges
        for clip in (c for c in clips if not c.kept):
            window = slice(round(clip.start / GRID), round(clip.end / GRID))
            lost = float((solo[window] & ~kept_solo[window]).sum() * GRID)
            totals[f"lost: {_reason_kind(clip.reason or 'excluded')}"] += lost
        row = {"speaker": name, "solo_s": round(float(solo.sum() * GRID), 1),
               "kept_solo_s": round(float(kept_solo.sum() * GRID), 1), "kept_s": round(kept_seconds, 1),
               "other_voice_s": round(other_seconds, 2)}
        rows.append(row)
        totals["solo"] += row["solo_s"]
        totals["kept_solo"] += row["kept_solo_s"]
        totals["kept"] += kept_seconds
        totals["other"] += other_seconds
    return dict(totals), rows


def _reason_kind(reason: str) -> str:
    """An exclusion reason without the words and figures particular to its clip."""
    import re

    return re.sub(r'\s*\(.*?\)|[“"].*?[”"]\s*', '', reason).strip()


def _voices(ws, truth: Truth, names: dict[str, str]) -> dict:
    from castvoice.app.voices import create_voice

    eligible = made = 0
    failures = []
    for speaker in truth.speakers:
        if truth.solo_seconds(speaker) < VOICE_SOLO_SECONDS:
            continue
        eligible += 1
        try:
            create_voice(ws.root, names[speaker], budget_minutes=0.05, replace=True)
            made += 1
        except CastvoiceError as error:
            failures.append(f"{names[speaker]}: {error}")
    return {"voice_eligible": eligible, "voice_made": made, "voice_failures": failures}


def _speech_path(recording: Recording, truth: Truth, folder: Path) -> dict:
    from castvoice.app.ingest import ingest
    from castvoice.app.lines import lines
    from castvoice.app.speakers import name_speaker, speakers

    result = ingest(recording.audio, workspace=folder / "speech", language="en")
    ws = result.workspace
    found = lines(ws, None)
    by_speaker: dict[str, Counter] = {}
    for line in found:
        who = truth.main_speaker(line.start, line.end)
        if line.speaker and who:
            by_speaker.setdefault(line.speaker, Counter())[who] += line.end - line.start
    for label in [s.label for s in speakers(ws)]:
        if label in by_speaker:
            name_speaker(ws, label, by_speaker[label].most_common(1)[0][0])
    right = wrong = 0
    for line in lines(ws, None):
        who = truth.main_speaker(line.start, line.end)
        if who is not None and line.character is not None:
            right += same_name(line.character, who)
            wrong += not same_name(line.character, who)
    lengths = [line.end - line.start for line in found]
    turns = [t.end - t.start for t in recording.turns
             if t.end > recording.span[0] and t.start < recording.span[1]]
    return {"asr_lines": len(found), "asr_median_s": round(statistics.median(lengths), 2) if lengths else None,
            "asr_longest_s": round(max(lengths), 2) if lengths else None, "ref_turns": len(turns),
            "ref_median_s": round(statistics.median(turns), 2) if turns else None,
            "asr_named_right": right, "asr_named_wrong": wrong}


def measure(recording: Recording, folder: Path) -> tuple[dict, list[dict]]:
    """Every figure for one recording, worked out in `folder`."""
    from castvoice.app.ingest import ingest

    truth = Truth(recording)
    inputs = _inputs(recording, truth, folder)
    if inputs is None:
        return {"recording": recording.name, "speakers": len(truth.speakers),
                "note": "no speech heard to subtitle: left out"}, []
    subs, script, names = inputs
    with_script = ingest(recording.audio, subs, script, workspace=folder / "script", language="en").workspace
    row = {"recording": recording.name, "speakers": len(truth.speakers), **_attribution(with_script, truth, names)}
    without_script = ingest(recording.audio, subs, workspace=folder / "enroll", language="en").workspace
    row.update(_enrollment(without_script, truth, names))
    totals, speaker_rows = _dataset(with_script, truth, names)
    row.update({f"dataset_{k}": round(v, 2) for k, v in totals.items()})
    row.update(_voices(with_script, truth, names))
    row.update(_speech_path(recording, truth, folder))
    for speaker_row in speaker_rows:
        speaker_row["recording"] = recording.name
    return row, speaker_rows


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def summary(rows: list[dict]) -> dict:
    """The figures the targets speak of, over all recordings."""
    total = Counter()
    for row in rows:
        total.update({k: v for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    named = total["right"] + total["wrong"] + total["unnamed"]
    return {
        "attribution right": _share(total["right"], named),
        "attribution wrong": _share(total["wrong"], named),
        "wrong above 0.9 confidence": total["wrong_above_0.9"],
        "enrollment found": _share(total["enroll_found"], total["enroll_lines"]),
        "enrollment precision": _share(total["enroll_found"], total["enroll_matched"]),
        "yield of solo speech": _share(total["dataset_kept_solo"], total["dataset_solo"]),
        "contamination": _share(total["dataset_other"], total["dataset_kept"]),
        "clips whole and clean": _share(total["dataset_whole_and_clean"], total["dataset_clips"]),
        "voices": f"{total['voice_made']} of {total['voice_eligible']}",
        "speech path longest line": f"{max((r.get('asr_longest_s') or 0) for r in rows):.1f} s",
        "speech path lines / reference turns": f"{total['asr_lines']} / {total['ref_turns']}",
        "speech path named right": _share(total["asr_named_right"], total["asr_named_right"] + total["asr_named_wrong"]),
    }


def run(out: Path | None = None, limit: int | None = None) -> None:
    """Measure every recording (the first `limit` AMI excerpts only, when given) and print the tables."""
    rows, speaker_rows = [], []
    for recording in recordings(limit):
        log.info("conversation: %s", recording.name)
        with tempfile.TemporaryDirectory(prefix="castvoice-conversation-") as folder:
            row, speakers = measure(recording, Path(folder))
        rows.append(row)
        speaker_rows += speakers
    ami = [r for r in rows if r["recording"] not in ("lhotse_ami_clip", "demo film")]
    summaries = [{"set": "AMI excerpts", **summary(ami)}]
    summaries += [{"set": r["recording"], **summary([r])} for r in rows if r not in ami]
    lost = Counter()
    for row in ami:
        lost.update({k.removeprefix("dataset_lost: "): v for k, v in row.items() if k.startswith("dataset_lost: ")})
    excluded = [{"reason": k, "solo_s": round(v, 1)} for k, v in lost.most_common()]
    report({"per recording": [{k: v for k, v in r.items() if not k.startswith("dataset_lost")} for r in rows],
            "per speaker": speaker_rows, "summary": summaries,
            "AMI solo speech in excluded clips, by reason": excluded}, TARGETS, out)
