"""Build the demo film: dialogue spoken by Kokoro and Piper voices over a music bed, a simple video track,
an SRT without names, a screenplay with names, and the ground truth of who speaks when."""

from __future__ import annotations

import hashlib
import json
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from castvoice.atomic import atomic_path, write_text_atomic
from castvoice.console import log
from castvoice.demo.script import CAST, INTERRUPTIONS, MUSIC_SWELLS, SCENES
from castvoice.progress import track
from castvoice.text.sentences import split_sentences

RATE = 48_000
FPS = 10
SIZE = (320, 180)
SCENE_COLOURS = [(20, 30, 70), (90, 50, 20), (40, 90, 110), (70, 60, 50), (10, 10, 40)]


@dataclass
class TruthSegment:
    """One subtitle-sized piece of speech in the demo film (a line may hold two)."""

    cue: int  # SRT cue number, 1-based; a dialogue-dash cue holds two segments
    line: int  # dialogue line index over the whole script
    scene: int
    character: str
    text: str
    start: float  # where the speech really is
    end: float


def _sentences(text: str) -> list[str]:
    """Split a long line at sentence ends so it is subtitled as two cues, as films usually are."""
    parts: list[str] = []
    for sentence in split_sentences(text):
        if parts and len(parts[-1]) <= 20:  # a short opening sentence stays with the next
            parts[-1] += " " + sentence
        else:
            parts.append(sentence)
    return parts if len(text) > 45 else [text]


def _speech(text: str, character: str, cache: Path) -> np.ndarray:
    """One character's speech for one sentence at 48 kHz, cached on disk by its inputs."""
    import soxr

    from castvoice.voice.backends import get_tts

    who = CAST[character]
    key = hashlib.sha256(f"{who.engine}|{who.voice}|{who.speed}|{text}".encode()).hexdigest()[:20]
    path = cache / f"{key}.npy"
    if not path.exists():
        tts = get_tts(who.engine)
        audio = tts.synthesize(text, who.voice, who.speed)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, soxr.resample(audio, tts.sample_rate, RATE).astype(np.float32))
    return np.load(path)


def _speech_span(audio: np.ndarray) -> tuple[int, int]:
    """First and last sample where the speech is within 40 dB of its peak."""
    loud = np.flatnonzero(np.abs(audio) > np.abs(audio).max() * 0.01)
    return int(loud[0]), int(loud[-1]) + 1


def _music_bed(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A slow chord progression with soft pink noise, stereo."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (196.0, 246.9, 311.1)]
    bed = np.zeros((2, n), np.float32)
    bar = 4.0
    for k, chord in enumerate(chords * int(seconds // (bar * len(chords)) + 1)):
        lo, hi = int(k * bar * RATE), min(n, int((k + 1) * bar * RATE))
        if lo >= n:
            break
        seg = t[lo:hi] - t[lo]
        envelope = np.minimum(1.0, seg / 0.5) * np.exp(-seg / 6.0)
        for channel, detune in enumerate((1.0, 1.003)):
            bed[channel, lo:hi] += sum(
                np.sin(2 * np.pi * f * detune * seg) * envelope / (i + 1) for i, f in enumerate(chord)
            )
    spectrum = np.fft.rfft(rng.standard_normal((2, n)), axis=1)
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.shape[1]), 1))
    pink = np.fft.irfft(spectrum, n=n, axis=1)
    bed = bed / np.abs(bed).max() + 0.5 * pink / np.abs(pink).max()
    return bed.astype(np.float32)


def _swell_gain(seconds: float, swells: list[dict], boost_db: float = 22.0, ramp: float = 0.6) -> np.ndarray:
    """Music gain over time: 1, rising by `boost_db` over each swell's span (with `ramp`-second slopes)."""
    t = np.arange(int(seconds * RATE)) / RATE
    boost = np.zeros_like(t)
    for swell in swells:
        rise = np.clip((t - swell["start"] + ramp) / ramp, 0, 1) * np.clip((swell["end"] + ramp - t) / ramp, 0, 1)
        boost = np.maximum(boost, rise)
    return (10 ** (boost * boost_db / 20)).astype(np.float32)


def _script_digest() -> str:
    """What the film is built from; a film built from another script is rebuilt."""
    source = repr((sorted(CAST.items()), SCENES, sorted(INTERRUPTIONS.items()), sorted(MUSIC_SWELLS), RATE))
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _built_script(truth: Path) -> str | None:
    try:
        return json.loads(truth.read_text()).get("script")
    except (OSError, ValueError):
        return None


def _srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _screenplay(title: str) -> str:
    """The script in the standard plain-text layout, including lines the film cut."""
    out = [" " * 25 + title.upper(), "", "", "FADE IN:", ""]
    for heading, action, lines in SCENES:
        out += [heading, "", *textwrap.wrap(action, 60), ""]
        for character, parenthetical, text, _spoken in lines:
            out.append(" " * 25 + character + (" (O.S.)" if parenthetical == "O.S." else ""))
            if parenthetical and parenthetical != "O.S.":
                out.append(" " * 18 + f"({parenthetical})")
            out += [" " * 10 + row for row in textwrap.wrap(text, 35)]
            out.append("")
    out += [" " * 50 + "FADE OUT.", ""]
    return "\n".join(out)


FILES = {"film": "demo.mp4", "subtitles": "demo.srt", "screenplay": "demo.screenplay.txt", "ground truth": "truth.json"}


def build(out_dir: Path, seed: int = 7) -> Path:
    """Write demo.mp4, demo.srt, demo.screenplay.txt and truth.json into `out_dir`; return the film."""
    from castvoice.assets import cache_dir

    out_dir.mkdir(parents=True, exist_ok=True)
    film = out_dir / FILES["film"]
    if film.exists() and _built_script(out_dir / FILES["ground truth"]) == _script_digest():
        log.info("demo film already built: %s", film)
        return film
    rng = np.random.default_rng(seed)
    tts_cache = cache_dir() / "demo-tts"
    tts_cache.mkdir(parents=True, exist_ok=True)

    spoken = [
        (scene, line_no, character, text)
        for scene, (_h, _a, lines) in enumerate(SCENES)
        for line_no, (character, _p, text, is_spoken) in enumerate(lines)
        if is_spoken
    ]
    pieces: list[tuple[int, int, str, str, np.ndarray]] = []
    with track("speaking the demo lines", total=len(spoken)) as progress:
        for line_index, (scene, _n, character, text) in enumerate(spoken):
            for sentence in _sentences(text):
                pieces.append((scene, line_index, character, sentence, _speech(sentence, character, tts_cache)))
            progress.advance()

    # Lay the speech out in time.
    cursor, segments, placed = 1.5, [], []
    for k, (scene, line_index, character, sentence, audio) in enumerate(pieces):
        if k and pieces[k - 1][0] != scene:
            cursor += 1.5
        elif k and pieces[k - 1][1] == line_index:
            cursor -= rng.uniform(0.25, 0.45)  # sentences of one line follow closely
        first, last = _speech_span(audio)
        start = round(cursor * RATE)
        placed.append((start, audio))
        segments.append(TruthSegment(0, line_index, scene, character, sentence,
                                (start + first) / RATE, (start + last) / RATE))
        cursor += len(audio) / RATE + rng.uniform(0.4, 0.9)
    duration = cursor + 1.5

    speech = np.zeros(int(duration * RATE), np.float32)
    for start, audio in placed:
        speech[start : start + len(audio)] += audio
    level = 0.1 / np.sqrt(np.mean(np.concatenate([a for _, a in placed]) ** 2))  # -20 dBFS speech
    interruptions = []
    for seg in segments:
        if (who_text := INTERRUPTIONS.get((seg.character, seg.text))) is not None:
            who, text = who_text
            audio = _speech(text, who, tts_cache)
            first, last = _speech_span(audio)
            start = round((seg.start + 0.35 * (seg.end - seg.start)) * RATE) - first
            speech[start : start + len(audio)] += audio[: len(speech) - start]
            interruptions.append({"line": seg.line, "character": who, "text": text,
                                  "start": (start + first) / RATE, "end": (start + last) / RATE})
    speech *= level
    swells = [{"line": seg.line, "start": seg.start, "end": seg.end}
              for seg in segments if (seg.character, seg.text) in MUSIC_SWELLS]
    music = _music_bed(duration, rng) * 0.02 * _swell_gain(duration, swells)  # about 20 dB under the dialogue
    mix = speech[None, :] + music
    mix *= 0.9 / max(0.9, np.abs(mix).max())

    cues = _subtitle_cues(segments, rng)
    _encode(film, mix, duration)
    write_text_atomic(out_dir / FILES["subtitles"], "\n".join(
        f"{n}\n{_srt_time(s)} --> {_srt_time(e)}\n{text}\n" for n, (s, e, text) in enumerate(cues, 1)))
    write_text_atomic(out_dir / FILES["screenplay"], _screenplay("The Dark Lamp"))
    truth = {
        "script": _script_digest(),
        "duration": duration,
        "characters": {name: asdict(c) for name, c in CAST.items()},
        "segments": [asdict(s) for s in segments],
        "interruptions": interruptions,  # speech over a line, in no subtitle or screenplay
        "music_swells": swells,  # lines the music drowns out
    }
    write_text_atomic(out_dir / FILES["ground truth"], json.dumps(truth, indent=1))
    log.info("demo film written: %s (%.0f s, %d lines, %d cues)", film, duration, len(spoken), len(cues))
    return film


def _subtitle_cues(segments: list[TruthSegment], rng: np.random.Generator) -> list[tuple[float, float, str]]:
    """Subtitle cues as a subtitler times them: early or late by a little, and one two-speaker
    exchange merged into one cue with dialogue dashes."""
    cues: list[tuple[float, float, str]] = []
    k = 0
    while k < len(segments):
        seg = segments[k]
        nxt = segments[k + 1] if k + 1 < len(segments) else None
        start = seg.start + rng.uniform(-0.3, 0.1)
        if nxt and len(seg.text) + len(nxt.text) < 40 and nxt.character != seg.character and nxt.scene == seg.scene:
            end = nxt.end + rng.uniform(0.05, 0.3)
            text = f"- {seg.text}\n- {nxt.text}"
            seg.cue = nxt.cue = len(cues) + 1
            k += 2
        else:
            end = seg.end + rng.uniform(-0.1, 0.35)
            text = "\n".join(textwrap.wrap(seg.text, 42))
            seg.cue = len(cues) + 1
            k += 1
        if cues:
            start = max(start, cues[-1][1] + 0.04)
        following = segments[k] if k < len(segments) else None
        if following:
            end = min(end, following.start - 0.05)
        cues.append((start, end, text))
    return cues


def _encode(path: Path, audio: np.ndarray, duration: float) -> None:
    """Mux a plain H.264 picture (a colour per scene, a moving bar) with AAC audio into MP4."""
    import av

    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as container:
            video = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "32"})
            video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
            sound = container.add_stream("aac", rate=RATE, layout="stereo")
            for index in range(int(duration * FPS)):
                picture = np.empty((SIZE[1], SIZE[0], 3), np.uint8)
                picture[:] = SCENE_COLOURS[min(len(SCENE_COLOURS) - 1, int(index / FPS / duration * 5))]
                picture[-12:, : int(SIZE[0] * index / (duration * FPS))] = 230
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                container.mux(video.encode(frame))
            container.mux(video.encode(None))
            block = 1024
            for offset in range(0, audio.shape[1], block):
                chunk = np.ascontiguousarray(audio[:, offset : offset + block])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate = RATE
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
