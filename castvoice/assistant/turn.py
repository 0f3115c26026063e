"""One turn of talking with a character, text and voice together: the reply streams out as text while its
sentences are spoken in the character's voice.

The reply's pieces come already cut to be spoken (its first few words or clause, then whole sentences: see
castvoice.assistant.guard), and a worker thread (`ReplySpeaker`) synthesises each one as it comes into a WAV
file and/or the speakers. If speech fails (a missing sound device, a broken voice), the reply goes on as text:
the error is kept in `Turn.speech_error` and nothing more is spoken.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from castvoice.assistant.conversation import Conversation
from castvoice.console import log
from castvoice.voice.profile import VoiceProfile, speaking_voice
from castvoice.voice.speak import AudioSink

if TYPE_CHECKING:
    import numpy as np

FIRST_AUDIO_WAIT = 5.0  # seconds the text waits at most for the first audio (a voice that makes none goes on)
_END = object()


@dataclass
class Turn:
    """One exchange as it happened, with its timings (seconds from the message to each event)."""

    message: str
    reply: str
    pieces: int  # text pieces passed on (a clause or a sentence each)
    prompt: float  # the prompt built: memories, film lines and the summary found
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
              out: Path | None = None, play: bool = False, echo: Callable[[str], None] | None = None,
              mood: str | None = None, listen: Callable[[np.ndarray, int], None] | None = None) -> Turn:
    """Answer `message` (spoken with `mood`, if it was spoken): the reply's pieces go to `echo` as they come,
    and with a `voice` its sentences are spoken into the WAV file `out` and/or the speakers, each piece of
    speech also going to `listen` (samples, sample rate) as it is made. Speech that fails leaves the text
    reply whole."""
    began = time.perf_counter()
    pieces, first_text = [], None
    stream = conversation.reply(message, mood)
    prompted = time.perf_counter() - began
    speaker = ReplySpeaker(voice, out, play, began, listen) if voice is not None and (out or play or listen) else None

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
    turn = Turn(message, "".join(pieces).strip(), len(pieces), prompted, first_text, done)
    if speaker:
        result = speaker.result
        turn.first_audio, turn.speech_seconds, turn.speech_error = result.first_audio, result.seconds, result.error
        turn.synthesis_seconds = result.synthesis_seconds
        turn.audio = str(out) if out and result.error is None and result.seconds else None
    return turn


@dataclass
class SpokenReply:
    """What was spoken: seconds of speech, seconds from the start to the first audio, and any speech error."""

    seconds: float = 0.0
    first_audio: float | None = None
    synthesis_seconds: float = 0.0  # spent making the speech
    error: str | None = None


class ReplySpeaker:
    """Speaks sentences in a voice profile on a worker thread, into `out` (WAV) and/or the speakers.

        with ReplySpeaker(profile, out=Path("reply.wav")) as speaker:
            for piece in speaker.speak_along(reply_pieces):
                print(piece, end="")
        speaker.result.first_audio
    """

    def __init__(self, profile: VoiceProfile, out: Path | None = None, play: bool = False,
                 began: float | None = None, listen: Callable[[np.ndarray, int], None] | None = None) -> None:
        self.profile, self.out, self.play, self.listen = profile, out, play, listen
        self.began = began if began is not None else time.perf_counter()
        self.result = SpokenReply()
        self._sentences: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._speak_all, name="reply-speech", daemon=True)
        self._first_spoken = threading.Event()  # set once the first audio is made (or the first piece is done)

    def __enter__(self) -> ReplySpeaker:
        self._worker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._sentences.put(_END)
        self._worker.join()

    def speak_along(self, pieces: Iterator[str]) -> Iterator[str]:
        """Pass the text pieces through at once, handing each to the speech worker: each piece is spoken as it
        is (a checked reply's pieces are its first clause, then whole sentences). Once the first piece is handed
        over, the next is not asked for until its first audio is made: a local model making text and the
        synthesis of the first piece would otherwise share the cores and both be late."""
        for piece in pieces:
            if spoken := piece.strip():
                self._sentences.put(spoken)
            yield piece
            if spoken:
                self._first_spoken.wait(FIRST_AUDIO_WAIT)

    def _speak_all(self) -> None:
        try:
            with AudioSink(self.out, self.play) as sink:
                backend, voice, speed = speaking_voice(self.profile)
                language = self.profile.state.get("language")
                while (sentence := self._sentences.get()) is not _END:
                    started = time.perf_counter()
                    for chunk in backend.stream(sentence, voice, speed, language):
                        sink.write(chunk, backend.sample_rate)
                        if self.listen is not None:
                            self.listen(chunk, backend.sample_rate)
                        self.result.seconds += len(chunk) / backend.sample_rate
                        if self.result.first_audio is None:
                            self.result.first_audio = time.perf_counter() - self.began
                            self._first_spoken.set()
                    self.result.synthesis_seconds += time.perf_counter() - started
                    self._first_spoken.set()  # a first piece with nothing to say makes no audio
        except Exception as error:  # speech is a bonus: the chat goes on as text
            self._first_spoken.set()
            self.result.error = str(error).splitlines()[0] if str(error) else type(error).__name__
            log.warning("speech stopped: %s; the reply goes on as text", self.result.error)
            while self._sentences.get() is not _END:  # let the text side finish
                pass
