"""Sound around a chat: the voice a character answers in (found, and warmed before the first reply), the
sound device replies play on, and the words of a spoken message."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from castvoice.console import log
from castvoice.errors import CastvoiceError
from castvoice.voice.profile import VoiceProfile


@dataclass
class Heard:
    """A spoken message: its words, by Whisper base, and how it sounds (the emotion estimate)."""

    text: str
    mood: str  # HAPPY, SAD, ANGRY or NEUTRAL


def heard(path: Path) -> Heard:
    """The words of a spoken message (any audio file) and its mood."""
    from castvoice.media.decode import load_audio
    from castvoice.speech.asr import get_asr
    from castvoice.speech.emotion import mood_of_speech

    audio = load_audio(path)
    text = get_asr("base").transcribe(audio).text.strip()
    if not text:
        raise CastvoiceError("no speech heard in the message", path)
    mood = mood_of_speech(audio, text).label
    log.info("heard (%s): %s", mood.lower(), text)
    return Heard(text, mood)


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
