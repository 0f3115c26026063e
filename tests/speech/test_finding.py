"""Finding characters by voice on the demo film: speakers, naming, enrollment, voice naming, flags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from castvoice.workspace import copy_workspace
from conftest import castvoice, segment_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def unnamed_workspace(demo, tmp_path_factory) -> Path:
    """The demo film ingested with its unnamed subtitles only: no screenplay."""
    root = tmp_path_factory.mktemp("finding") / "ws"
    castvoice("ingest", demo / "demo.mp4", "--subs", demo / "demo.srt", "-w", root)
    return root


def _copy(ws: Path, tmp_path: Path) -> Path:
    copy_workspace(ws, tmp_path / "ws")
    return tmp_path / "ws"


def _all_lines(ws: Path) -> list[dict]:
    return json.loads(castvoice("lines", "--json", "-w", ws).stdout)


def test_speakers_are_found_with_sample_clips(unnamed_workspace, truth):
    rows = json.loads(castvoice("speakers", "--json", "-w", unnamed_workspace).stdout)
    assert len(rows) == len({g["character"] for g in truth})
    for row in rows:
        assert Path(row["sample"]).is_file() and row["seconds"] > 10 and row["lines"] > 5
        assert row["name"] is None


def test_naming_a_speaker_names_its_lines(unnamed_workspace, truth, tmp_path):
    ws = _copy(unnamed_workspace, tmp_path)
    rows = json.loads(castvoice("speakers", "--json", "-w", ws).stdout)
    done = castvoice("name", rows[0]["label"], "Someone", "-w", ws)
    assert f"{rows[0]['lines']} lines named" in done.stdout
    named = json.loads(castvoice("lines", "someone", "--json", "-w", ws).stdout)
    assert len(named) == rows[0]["lines"]
    voices = {segment_for(truth, line["start"], line["end"])["character"] for line in named}
    assert len(voices) == 1, "one diarized speaker should be one character"
    assert all(line["source"] == "speaker" for line in named)


def test_enrollment_from_three_seconds_finds_the_character(unnamed_workspace, truth, tmp_path):
    ws = _copy(unnamed_workspace, tmp_path)
    for character in sorted({g["character"] for g in truth}):
        example = next(g for g in truth if g["character"] == character and g["end"] - g["start"] >= 3)
        found = json.loads(castvoice("enroll", character, "--at", f"{example['start']:.2f}-{example['start'] + 3:.2f}",
                                     "--json", "-w", ws).stdout)
        correct = sum(segment_for(truth, m["start"], m["end"])["character"] == character for m in found)
        total = sum(g["character"] == character for g in truth)
        print(f"{character}: {correct}/{total} found, {len(found) - correct} wrong")
        assert correct / total >= 0.9 and correct / len(found) >= 0.9
        assert all(0.5 <= m["similarity"] <= 1 for m in found)


def test_enrollment_from_a_recording(unnamed_workspace, demo, truth, tmp_path):
    import soundfile as sf

    from castvoice.media.decode import load_audio

    ws = _copy(unnamed_workspace, tmp_path)
    example = next(g for g in truth if g["character"] == "OLIVER" and g["end"] - g["start"] >= 3)
    audio = load_audio(demo / "demo.mp4")
    sample = tmp_path / "oliver.wav"
    sf.write(sample, audio[int(example["start"] * 16000) : int(example["end"] * 16000)], 16000)
    found = json.loads(castvoice("enroll", "Oliver", "--sample", sample, "--json", "-w", ws).stdout)
    assert sum(segment_for(truth, m["start"], m["end"])["character"] == "OLIVER" for m in found) >= 0.9 * len(found)


def _screenplay_variant(demo: Path, tmp_path: Path, edit) -> Path:
    lines = (demo / "demo.screenplay.txt").read_text().split("\n")
    path = tmp_path / "variant.screenplay.txt"
    path.write_text("\n".join(edit(lines)))
    return path


def test_voice_names_lines_the_screenplay_lacks_and_flags_a_wrong_name(demo, truth, unnamed_workspace, tmp_path):
    def edit(lines: list[str]) -> list[str]:
        out, deleted, renamed = [], False, False
        i = 0
        while i < len(lines):
            line = lines[i]
            if not deleted and "Smugglers, wreckers" in " ".join(lines[i + 1 : i + 3]) and line.strip() == "DIANE":
                while i < len(lines) and lines[i].strip():  # drop the whole speech
                    i += 1
                deleted = True
                continue
            if not renamed and line.strip() == "OLIVER" and "Sugar is in the blue tin" in " ".join(lines[i + 1 : i + 3]):
                line, renamed = line.replace("OLIVER", "MARCUS"), True
            out.append(line)
            i += 1
        assert deleted and renamed
        return out

    ws = _copy(unnamed_workspace, tmp_path)
    castvoice("ingest", demo / "demo.mp4", "--subs", demo / "demo.srt",
              "--script", _screenplay_variant(demo, tmp_path, edit), "-w", ws)
    lines = _all_lines(ws)
    dropped = next(line for line in lines if line["text"].startswith("Smugglers, wreckers"))
    assert (dropped["character"], dropped["source"]) == ("Diane", "voice")
    wrong = next(line for line in lines if line["text"].startswith("Sugar is in the blue tin"))
    assert wrong["character"] == "Marcus" and wrong["flag"] == "voice sounds like Oliver"
    flagged = [line for line in lines if line["flag"]]
    assert flagged == [wrong]


def test_enroll_needs_an_example(unnamed_workspace):
    done = castvoice("enroll", "Diane", "-w", unnamed_workspace, check=False)
    assert done.returncode == 2 and "--at" in done.stderr


def _plain_screenplay(blocks) -> str:
    text, scene = [], None
    for block in blocks:
        if block.scene != scene:
            text += [f"INT. SCENE {block.scene} - DAY", ""]
            scene = block.scene
        text += [" " * 25 + block.character, " " * 10 + block.text, ""]
    return "\n".join(text)


@pytest.mark.parametrize("seed", [1, 6])
def test_perturbed_screenplay_with_voice_names_every_line(demo, truth, unnamed_workspace, tmp_path, seed):
    """10% of the dialogue deleted, 10% paraphrased, two scenes swapped: text names the rest and
    voice names the lines whose dialogue was deleted."""
    from castvoice.text.screenplay import read_screenplay
    from perturb import perturb

    kept, deleted = perturb(read_screenplay(demo / "demo.screenplay.txt").blocks, seed)
    script = tmp_path / "perturbed.screenplay.txt"
    script.write_text(_plain_screenplay(kept))
    ws = _copy(unnamed_workspace, tmp_path)
    castvoice("ingest", demo / "demo.mp4", "--subs", demo / "demo.srt", "--script", script, "-w", ws)
    lines = _all_lines(ws)
    right = sum((line["character"] or "").upper() == segment_for(truth, line["start"], line["end"])["character"]
                for line in lines)
    print(f"seed {seed}: {right}/{len(truth)} named correctly, {sum(l['source'] == 'voice' for l in lines)} by voice")
    assert right / len(truth) >= 0.9
    assert any(line["source"] == "voice" for line in lines)


CALL = [("ANNA", "af_heart", "Hello?"), ("BETH", "bf_emma", "Hello?"),
        ("ANNA", "af_heart", "Is that you, Beth? The line is terrible tonight, I can hardly hear a thing."),
        ("BETH", "bf_emma", "Yes, it is me. I am calling from the station, the last train has gone."),
        ("ANNA", "af_heart", "Then stay where you are and I will drive down to fetch you in half an hour."),
        ("BETH", "bf_emma", "Thank you. I will wait by the clock under the big glass roof.")]


def _phone_call(folder: Path) -> tuple[Path, Path, Path, list[tuple[str, float, float]]]:
    """Two voices taking turns, opening with the same word: the audio, unnamed SRT, a screenplay and the truth."""
    import soundfile as sf

    from castvoice.voice.backends import get_tts

    tts = get_tts("kokoro")
    gap = np.zeros(int(0.5 * tts.sample_rate), np.float32)
    audio, truth, srt, script = [gap], [], [], ["INT. HALL - NIGHT", ""]
    at = len(gap) / tts.sample_rate
    for index, (who, voice, text) in enumerate(CALL, 1):
        speech = tts.synthesize(text, voice, 1.0)
        end = at + len(speech) / tts.sample_rate
        truth.append((who, at, end))
        stamp = lambda t: f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}:{int(t % 60):02d},{int(t % 1 * 1000):03d}"  # noqa: E731
        srt += [str(index), f"{stamp(at)} --> {stamp(end)}", text, ""]
        script += [who, text, ""]
        audio += [speech, gap]
        at = end + len(gap) / tts.sample_rate
    sf.write(folder / "call.wav", np.concatenate(audio), tts.sample_rate)
    (folder / "call.srt").write_text("\n".join(srt))
    (folder / "call.fountain").write_text("\n".join(script))
    return folder / "call.wav", folder / "call.srt", folder / "call.fountain", truth


def test_the_voice_decides_between_identical_lines(tmp_path):
    """Both speakers open with "Hello?": the screenplay cannot tell the two apart, their voices can."""
    audio, srt, script, truth = _phone_call(tmp_path)
    castvoice("ingest", audio, "--subs", srt, "--script", script, "-w", tmp_path / "ws")
    lines = _all_lines(tmp_path / "ws")
    assert [line["character"] for line in lines] == ["Anna", "Beth", "Anna", "Beth", "Anna", "Beth"]
    hellos = lines[:2]
    assert all(line["evidence"] in ("voice", "text+voice") and line["confidence"] >= 0.8 for line in hellos)
    assert all(line["evidence"] == "text" for line in lines[2:])


def test_a_screenplay_whose_names_match_no_voice_is_reported(demo, unnamed_workspace, tmp_path):
    """Names dealt to the dialogue at random: every character's lines mix the three voices."""
    import random

    from castvoice.text.screenplay import read_screenplay

    blocks = read_screenplay(demo / "demo.screenplay.txt").blocks
    names = sorted({b.character for b in blocks})
    deal = random.Random(0)
    for block in blocks:
        block.character = deal.choice(names)
    script = tmp_path / "dealt.screenplay.txt"
    script.write_text(_plain_screenplay(blocks))
    ws = _copy(unnamed_workspace, tmp_path)
    done = castvoice("ingest", demo / "demo.mp4", "--subs", demo / "demo.srt", "--script", script, "-w", ws)
    assert done.stderr.count("do not share one voice") == len(names)


def test_a_cue_inside_another_is_kept_and_cleaned_with_a_reason(tmp_path):
    """A cue in the middle of another's time: the aligner squeezes it shorter than any word; ingest still
    names it and `clean` gives it a reason."""
    audio, srt, script, truth = _phone_call(tmp_path)
    start = truth[2][1] + 1.0

    def stamp(t: float) -> str:
        seconds, millis = divmod(round(t * 1000), 1000)
        return f"00:00:{seconds:02d},{millis:03d}"

    srt.write_text(srt.read_text() + f"\n\n7\n{stamp(start)} --> {stamp(start + 0.05)}\nOh.\n")
    castvoice("ingest", audio, "--subs", srt, "--script", script, "-w", tmp_path / "ws")
    lines = _all_lines(tmp_path / "ws")
    assert len(lines) == len(CALL) + 1
    clips = json.loads(castvoice("review", "Anna", "--json", "-w", tmp_path / "ws").stdout)
    assert all(clip["kept"] or clip["reason"] for clip in clips)
