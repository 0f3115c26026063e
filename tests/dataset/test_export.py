"""Dataset export: every trainer's layout, read back the way the trainers read it, and safe replacement."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import soxr

from castvoice.dataset.export import FORMATS, MARKER, export_dataset, train_eval_split
from castvoice.dataset.types import DatasetClip
from castvoice.errors import CastvoiceError, InputError
from castvoice.text.normalize import spoken_text
from conftest import EVAL

JFK = EVAL / "whisper_jfk" / "jfk.flac"
pytestmark = pytest.mark.skipif(not JFK.is_file(), reason="../shared/eval is not present")

SPEAKER = "Dr. Kennedy"
# id, seconds of jfk.flac, rate of the cleaned file, kept, reason, text
SOURCES = [
    ("jfk_001", (0.3, 2.4), 16_000, True, None, "And so my fellow Americans,"),
    ("jfk_002", (3.2, 5.0), 48_000, True, None, "ask not what your country"),
    ("jfk_003", (5.0, 6.6), 16_000, False, "noise or music under the voice", "can do for you,"),
    ("jfk_004", (7.8, 10.6), 16_000, True, None, 'ask what "you|can"\ndo for your country in 1961.'),
]
KEPT = ["jfk_001", "jfk_002", "jfk_004"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[DatasetClip]:
    """Real speech cut from jfk.flac (44.1 kHz stereo) into mono files at rates no trainer uses."""
    folder = tmp_path_factory.mktemp("cleaned")
    speech, rate = sf.read(JFK, dtype="float32")
    speech = speech.mean(axis=1)
    made = []
    for number, (clip_id, (start, end), clip_rate, kept, reason, text) in enumerate(SOURCES):
        audio = soxr.resample(speech[int(start * rate): int(end * rate)], rate, clip_rate)
        path = folder / f"{clip_id}.flac"
        sf.write(path, audio, clip_rate)
        made.append(DatasetClip(
            id=clip_id, line_id=number, character=SPEAKER, start=100 + start, end=100 + end, text=text,
            normalized=spoken_text(text), language="en", audio_file=path, kept=kept, reason=reason,
            scores={"snr_db": 24.5 - number, "similarity": float("nan"), "cer": None},
        ))
    return made


def source_seconds(clip: DatasetClip) -> float:
    return sf.info(clip.audio_file).duration


def one_field(text: str) -> str:
    """`text` as a `|`-separated file must hold it: no `|`, line break or double quote."""
    return " ".join(text.replace("|", " ").replace('"', "").split())


def expected_text(clip: DatasetClip) -> str:
    return one_field(clip.normalized)


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def check_wav(path: Path, clip: DatasetClip, rate: int) -> None:
    info = sf.info(path)
    assert (info.format, info.subtype, info.channels, info.samplerate) == ("WAV", "PCM_16", 1, rate)
    assert info.duration == pytest.approx(source_seconds(clip), abs=0.001)
    audio, _ = sf.read(path, dtype="float32")
    assert np.sqrt(np.mean(audio**2)) > 0.01  # speech, not silence


def check_summary(summary, out: Path, fmt: str, clips: list[DatasetClip]) -> None:
    kept = [c for c in clips if c.kept]
    assert (summary.format, summary.out, summary.clips) == (fmt, out, len(kept))
    assert summary.seconds == pytest.approx(sum(source_seconds(c) for c in kept), abs=0.005)
    assert summary.files == files_under(out)
    assert json.loads((out / MARKER).read_text())["format"] == fmt
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary folder left beside it


def kept_clips(clips):
    return [c for c in clips if c.kept]


def test_ljspeech(clips, tmp_path):
    out = tmp_path / "lj"
    summary = export_dataset(clips, out, "ljspeech", SPEAKER)
    assert files_under(out) == sorted([MARKER, "metadata.csv", *(f"wavs/{i}.wav" for i in KEPT)])
    lines = (out / "metadata.csv").read_text(encoding="utf-8").splitlines()
    kept = kept_clips(clips)
    assert lines == [f"{c.id}|{one_field(c.text)}|{expected_text(c)}" for c in kept]  # no header
    assert lines[2] == ("jfk_004|ask what you can do for your country in 1961.|"
                        "ask what you can do for your country in nineteen sixty-one.")
    for clip in kept:
        check_wav(out / "wavs" / f"{clip.id}.wav", clip, 22_050)
    check_summary(summary, out, "ljspeech", clips)


def test_f5_read_as_prepare_csv_wavs_reads_it(clips, tmp_path):
    out = tmp_path / "f5"
    summary = export_dataset(clips, out, "f5", SPEAKER)
    assert files_under(out) == sorted([MARKER, "metadata.csv", *(f"wavs/{i}.wav" for i in KEPT)])
    metadata = out / "metadata.csv"
    assert metadata.read_text(encoding="utf-8").splitlines()[0] == "audio_file|text"
    with open(metadata, newline="", encoding="utf-8-sig") as file:  # as prepare_csv_wavs.py opens it
        reader = csv.reader(file, delimiter="|")
        next(reader)
        rows = [(metadata.parent / row[0].strip(), row[1].strip()) for row in reader]
    kept = kept_clips(clips)
    assert rows == [(out / "wavs" / f"{c.id}.wav", expected_text(c)) for c in kept]
    for (wav, _), clip in zip(rows, kept):
        check_wav(wav, clip, 24_000)
    check_summary(summary, out, "f5", clips)


def test_xtts_read_as_the_coqui_formatter_reads_it(clips, tmp_path):
    out = tmp_path / "xtts"
    summary = export_dataset(clips, out, "xtts", SPEAKER)
    assert files_under(out) == sorted(
        [MARKER, "metadata_eval.csv", "metadata_train.csv", *(f"wavs/{i}.wav" for i in KEPT)])
    parts = {}
    for name in ("metadata_train.csv", "metadata_eval.csv"):
        assert (out / name).read_text(encoding="utf-8").splitlines()[0] == "audio_file|text|speaker_name"
        frame = pd.read_csv(out / name, sep="|")  # TTS.tts.datasets.formatters.coqui
        assert list(frame.columns) == ["audio_file", "text", "speaker_name"]
        assert set(frame.speaker_name) == {SPEAKER}
        parts[name] = list(frame.itertuples())
    train, held_out = parts["metadata_train.csv"], parts["metadata_eval.csv"]
    assert (len(train), len(held_out)) == (2, 1)
    by_file = {f"wavs/{c.id}.wav": c for c in clips}
    assert sorted(row.audio_file for row in train + held_out) == [f"wavs/{i}.wav" for i in KEPT]
    for row in train + held_out:
        clip = by_file[row.audio_file]
        assert row.text == expected_text(clip)
        check_wav(out / row.audio_file, clip, 22_050)
    check_summary(summary, out, "xtts", clips)


def test_gpt_sovits_list_read_as_its_preprocessing_reads_it(clips, tmp_path):
    out = tmp_path / "sovits"
    summary = export_dataset(clips, out, "gpt-sovits", SPEAKER)
    assert files_under(out) == sorted([MARKER, "dr_kennedy.list", *(f"wavs/{i}.wav" for i in KEPT)])
    lines = (out / "dr_kennedy.list").read_text(encoding="utf-8").strip("\n").split("\n")
    kept = kept_clips(clips)
    assert len(lines) == len(kept)
    for line, clip in zip(lines, kept):
        wav_name, speaker, language, text = line.split("|")  # 1-get-text.py
        assert Path(wav_name) == out / "wavs" / f"{clip.id}.wav" and Path(wav_name).is_absolute()
        assert (speaker, language, text) == (SPEAKER, "en", expected_text(clip))
        check_wav(Path(wav_name), clip, 32_000)
    check_summary(summary, out, "gpt-sovits", clips)


def test_gpt_sovits_refuses_a_language_it_cannot_train(clips, tmp_path):
    german = [replace(c, language="de") for c in clips]
    with pytest.raises(CastvoiceError, match="GPT-SoVITS trains only zh, ja, en, ko, yue"):
        export_dataset(german, tmp_path / "sovits", "gpt-sovits", SPEAKER)
    assert list(tmp_path.iterdir()) == []


def test_piper_read_as_piper_train_preprocess_reads_it(clips, tmp_path):
    out = tmp_path / "piper"
    summary = export_dataset(clips, out, "piper", SPEAKER)
    assert files_under(out) == sorted([MARKER, "metadata.csv", *(f"wav/{i}.wav" for i in KEPT)])
    with open(out / "metadata.csv", encoding="utf-8") as file:
        rows = list(csv.reader(file, delimiter="|"))
    kept = kept_clips(clips)
    assert rows == [[c.id, expected_text(c)] for c in kept]  # no header, two columns
    for clip in kept:
        check_wav(out / "wav" / f"{clip.id}.wav", clip, 22_050)
    check_summary(summary, out, "piper", clips)


def test_fish(clips, tmp_path):
    out = tmp_path / "fish"
    summary = export_dataset(clips, out, "fish", SPEAKER)
    assert files_under(out) == sorted(
        [MARKER, *(f"dr_kennedy/{i}.wav" for i in KEPT), *(f"dr_kennedy/{i}.lab" for i in KEPT)])
    for clip in kept_clips(clips):
        assert (out / "dr_kennedy" / f"{clip.id}.lab").read_text(encoding="utf-8") == expected_text(clip)
        check_wav(out / "dr_kennedy" / f"{clip.id}.wav", clip, 44_100)
    check_summary(summary, out, "fish", clips)


def test_jsonl_lists_every_clip_and_score_but_writes_only_kept_audio(clips, tmp_path):
    out = tmp_path / "jsonl"
    summary = export_dataset(clips, out, "jsonl", SPEAKER)
    assert files_under(out) == sorted([MARKER, "clips.jsonl", *(f"wavs/{i}.wav" for i in KEPT)])
    records = [json.loads(line) for line in (out / "clips.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == [c.id for c in clips]
    for record, clip in zip(records, clips):
        assert set(record) == {*vars(clip), "duration"}
        assert (record["text"], record["normalized"], record["kept"], record["reason"]) == (
            clip.text, clip.normalized, clip.kept, clip.reason)
        assert record["scores"] == {"snr_db": clip.scores["snr_db"], "similarity": None, "cer": None}  # NaN -> null
        assert record["duration"] == pytest.approx(clip.duration, abs=0.001)
        if clip.kept:
            assert record["audio_file"] == f"wavs/{clip.id}.wav"
            check_wav(out / record["audio_file"], clip, sf.info(clip.audio_file).samplerate)  # its own rate
        else:
            assert record["audio_file"] is None and record["reason"] == "noise or music under the voice"
    check_summary(summary, out, "jsonl", clips)


def test_xtts_split_for_few_and_many_clips(clips):
    one, two, three = clips[:1], clips[:2], clips[:3]
    assert train_eval_split(one) == (one, one)
    train, held_out = train_eval_split(two)
    assert train == two and len(held_out) == 1 and held_out[0] in two
    train, held_out = train_eval_split(three)
    assert len(train) == 2 and len(held_out) == 1 and held_out[0] not in train
    assert sorted(c.id for c in train + held_out) == sorted(c.id for c in three)

    forty = [replace(clips[0], id=f"line_{n:03d}") for n in range(40)]
    train, held_out = train_eval_split(forty)
    assert (len(train), len(held_out)) == (34, 6)
    assert {c.id for c in train}.isdisjoint(c.id for c in held_out)
    assert [c.id for c in train] == [c.id for c in forty if c not in held_out]  # order kept
    shuffled = random.Random(7).sample(forty, len(forty))
    assert {c.id for c in train_eval_split(shuffled)[1]} == {c.id for c in held_out}  # order does not matter


def test_xtts_export_with_one_clip_has_a_non_empty_eval_set(clips, tmp_path):
    export_dataset(clips[:1], tmp_path / "one", "xtts", SPEAKER)
    for name in ("metadata_train.csv", "metadata_eval.csv"):
        assert list(pd.read_csv(tmp_path / "one" / name, sep="|").audio_file) == ["wavs/jfk_001.wav"]


def test_refuses_a_folder_castvoice_did_not_write(clips, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(CastvoiceError, match="not written by castvoice") as error:
        export_dataset(clips, out, "ljspeech", SPEAKER)
    assert error.value.path == str(out)
    assert files_under(out) == ["notes.txt"] and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    (tmp_path / "file").write_text("")
    with pytest.raises(CastvoiceError, match="not a folder"):
        export_dataset(clips, tmp_path / "file", "ljspeech", SPEAKER)


def test_an_empty_folder_is_used(clips, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    export_dataset(clips, out, "piper", SPEAKER)
    assert (out / "metadata.csv").is_file()


def test_a_previous_export_is_replaced_whole(clips, tmp_path):
    out = tmp_path / "dataset"
    export_dataset(clips, out, "ljspeech", SPEAKER)
    summary = export_dataset(clips[:2], out, "piper", SPEAKER)
    assert files_under(out) == sorted([MARKER, "metadata.csv", "wav/jfk_001.wav", "wav/jfk_002.wav"])
    assert summary.files == files_under(out)
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]


def test_a_failed_export_leaves_the_previous_one_untouched(clips, tmp_path):
    out = tmp_path / "dataset"
    export_dataset(clips, out, "ljspeech", SPEAKER)
    before = {name: (out / name).read_bytes() for name in files_under(out)}
    missing = replace(clips[0], id="jfk_005", audio_file=tmp_path / "gone.wav")
    with pytest.raises(InputError, match="cannot read the clip's audio"):
        export_dataset([*clips, missing], out, "fish", SPEAKER)
    assert {name: (out / name).read_bytes() for name in files_under(out)} == before
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]


def test_refuses_bad_requests(clips, tmp_path):
    with pytest.raises(CastvoiceError, match="unknown dataset format 'wav2vec'; choose from ljspeech, f5"):
        export_dataset(clips, tmp_path / "x", "wav2vec", SPEAKER)
    with pytest.raises(CastvoiceError, match="no kept clips"):
        export_dataset([c for c in clips if not c.kept], tmp_path / "x", "ljspeech", SPEAKER)
    with pytest.raises(CastvoiceError, match="not a unique file name"):
        export_dataset([*clips, clips[0]], tmp_path / "x", "ljspeech", SPEAKER)
    assert list(tmp_path.iterdir()) == []
    assert set(FORMATS) == {"ljspeech", "f5", "xtts", "gpt-sovits", "piper", "fish", "jsonl"}
