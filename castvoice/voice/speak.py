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
    import soundfile as sf

    backend, voice, speed = speaking_voice(profile)
    language = profile.state.get("language")
    began = time.perf_counter()
    first_audio, samples = None, 0
    with contextlib.ExitStack() as stack:
        sinks = []
        if out is not None:
            tmp = stack.enter_context(atomic_path(out))
            sinks.append(stack.enter_context(sf.SoundFile(tmp, "w", backend.sample_rate, 1, "PCM_16", format="WAV")).write)
        if play:
            sinks.append(stack.enter_context(open_speaker(backend.sample_rate)).write)
        for chunk in backend.stream(text, voice, speed, language):
            chunk = np.asarray(chunk, dtype=np.float32)
            for write in sinks:
                write(chunk)
            samples += len(chunk)
            if first_audio is None:
                first_audio = time.perf_counter() - began
    return SpeakResult(samples / backend.sample_rate, first_audio or 0.0)


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
