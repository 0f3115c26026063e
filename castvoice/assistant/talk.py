"""One turn of talking with a character, text and voice together: the reply streams out as text while its
sentences are spoken in the character's voice."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from castvoice.assistant.chat import Conversation
from castvoice.assistant.spoken import ReplySpeaker
from castvoice.console import log
from castvoice.errors import CastvoiceError
from castvoice.voice.profile import VoiceProfile


@dataclass
class Turn:
    """One exchange as it happened, with its timings (seconds from the message to each event)."""

    message: str
    reply: str
    pieces: int  # text pieces the model streamed (about one token each)
    first_text: float | None
    done: float  # the text's end; the speech may go on after it
    audio: str | None = None
    first_audio: float | None = None
    speech_seconds: float = 0.0
    synthesis_seconds: float = 0.0
    speech_error: str | None = None

    @property
    def pieces_per_second(self) -> float:
        """Text pieces per second after the first."""
        span = self.done - (self.first_text or self.done)
        return (self.pieces - 1) / span if self.pieces > 1 and span > 0 else 0.0


def take_turn(conversation: Conversation, message: str, voice: VoiceProfile | None = None,
              out: Path | None = None, play: bool = False, echo: Callable[[str], None] | None = None) -> Turn:
    """Answer `message`: the reply's pieces go to `echo` as they come, and with a `voice` its sentences are
    spoken into the WAV file `out` and/or the speakers. Speech that fails leaves the text reply whole."""
    began = time.perf_counter()
    pieces, first_text = [], None
    stream = conversation.reply(message)
    speaker = ReplySpeaker(voice, out, play, began) if voice is not None and (out or play) else None

    def take(source) -> float:
        """Pass the pieces on; the seconds from the message to the end of the text."""
        nonlocal first_text
        for piece in source:
            if first_text is None:
                first_text = time.perf_counter() - began
            pieces.append(piece)
            if echo:
                echo(piece)
        return time.perf_counter() - began

    if speaker:
        with speaker:
            done = take(speaker.speak_along(stream))
    else:
        done = take(stream)
    turn = Turn(message, "".join(pieces).strip(), len(pieces), first_text, done)
    if speaker:
        result = speaker.result
        turn.first_audio, turn.speech_seconds, turn.speech_error = result.first_audio, result.seconds, result.error
        turn.synthesis_seconds = result.synthesis_seconds
        turn.audio = str(out) if out and result.error is None and result.seconds else None
    return turn


def heard(path: Path) -> str:
    """The words of a spoken message (any audio file), by Whisper base."""
    from castvoice.media.decode import load_audio
    from castvoice.speech.asr import get_asr

    text = get_asr("base").transcribe(load_audio(path)).text.strip()
    if not text:
        raise CastvoiceError("no speech heard in the message", path)
    log.info("heard: %s", text)
    return text


def character_voice(character: str, folders: list[Path], name: str | None = None) -> VoiceProfile | None:
    """The voice profile a character speaks in: `name` if given (it must exist), else the one named after the
    character, else None (the chat is text only)."""
    from castvoice.voice.profile import find_profile, load_profile

    try:
        return load_profile(find_profile(name or character, folders))
    except CastvoiceError:
        if name:
            raise
        log.warning("%s has no voice yet (`castvoice voice create %s`); replies are text only", character, character)
        return None


def warm_voice(profile: VoiceProfile) -> None:
    """Load the voice's TTS model and run it once, so that the first reply is not kept waiting for that.
    A voice that fails here is left for the replies to report: they go on as text."""
    from castvoice.voice.profile import speaking_voice

    try:
        backend, voice, speed = speaking_voice(profile)
        backend.synthesize("Hello.", voice, speed, profile.state.get("language"))
    except Exception as error:
        log.debug("warming the voice failed: %s", error)


def sound_device() -> bool:
    """Whether there is a sound device to play replies on."""
    try:
        import sounddevice

        sounddevice.check_output_settings(samplerate=24_000, channels=1, dtype="float32")
    except Exception:  # no PortAudio, no device, or a device that refuses: write files instead
        return False
    return True
