"""Speaking text in a voice profile: synthesis streams sentence by sentence into a file and/or the
speakers, so the first audio is out before the rest of the text is synthesised."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from castvoice.atomic import atomic_path
from castvoice.errors import CastvoiceError
from castvoice.voice.profile import VoiceProfile, speaking_voice


@dataclass
class SpeakResult:
    seconds: float  # of speech
    first_audio: float  # seconds from the start until the first audio was written or played


def speak_to(profile: VoiceProfile, text: str, out: Path | None, play: bool = False) -> SpeakResult:
    """Synthesise `text` in the profile's voice into the WAV file `out` and/or the speakers."""
    backend, voice, speed = speaking_voice(profile)
    language = profile.state.get("language")
    began = time.perf_counter()
    first_audio, samples = None, 0
    with AudioSink(out, play) as sink:
        for chunk in backend.stream(text, voice, speed, language):
            sink.write(chunk, backend.sample_rate)
            samples += len(chunk)
            if first_audio is None:
                first_audio = time.perf_counter() - began
    return SpeakResult(samples / backend.sample_rate, first_audio or 0.0)


class AudioSink:
    """Where speech goes: a 16-bit WAV file (written aside and renamed into place when complete) and/or the
    sound device. Both open at the first chunk, when the voice's sample rate is known.

        with AudioSink(Path("line.wav"), play=False) as sink:
            for chunk in chunks:
                sink.write(chunk, 24_000)
    """

    def __init__(self, out: Path | None = None, play: bool = False) -> None:
        self.out, self.play = out, play
        self._stack = contextlib.ExitStack()
        self._writers: list | None = None

    def __enter__(self) -> AudioSink:
        self._stack.__enter__()
        return self

    def __exit__(self, *exc) -> bool | None:
        return self._stack.__exit__(*exc)

    def write(self, chunk: np.ndarray, rate: int) -> None:
        if self._writers is None:
            self._writers = self._open(rate)
        chunk = np.asarray(chunk, dtype=np.float32)
        for write in self._writers:
            write(chunk)

    def _open(self, rate: int) -> list:
        import soundfile as sf

        writers = []
        if self.out is not None:
            tmp = self._stack.enter_context(atomic_path(self.out))
            writers.append(self._stack.enter_context(sf.SoundFile(tmp, "w", rate, 1, "PCM_16", format="WAV")).write)
        if self.play:
            writers.append(self._stack.enter_context(open_speaker(rate)).write)
        return writers


@contextlib.contextmanager
def open_speaker(rate: int):
    """A blocking output stream to the default sound device."""
    try:
        import sounddevice
    except OSError as error:  # PortAudio missing
        raise CastvoiceError(f"--play needs the PortAudio library (Debian: libportaudio2): {error}") from None
    try:
        stream = sounddevice.OutputStream(samplerate=rate, channels=1, dtype="float32")
    except sounddevice.PortAudioError as error:
        raise CastvoiceError(f"no sound device to play on ({error}); write a file with -o instead") from None
    with stream:
        yield stream
