"""Finding characters by voice on the demo film: speakers, naming, enrollment, voice naming, flags."""

from __future__ import annotations

import json
from pathlib import Path

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
