"""Speaking a reply while it is written: text pieces flow in, sentences are cut from them as soon as they
end, and a worker thread synthesises each one in the character's voice into a WAV file and/or the speakers.

If speech fails (a missing sound device, a broken voice), the reply goes on as text: the error is kept in
`SpokenReply.error` and nothing more is spoken.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from castvoice.console import log
from castvoice.text.sentences import SentenceCutter
from castvoice.voice.profile import VoiceProfile, speaking_voice
from castvoice.voice.speak import AudioSink

# Words in the first spoken piece: Kokoro takes about a second for five words on 2 cores, and the reply's
# first audio waits for it.
FIRST_SPOKEN_WORDS = 3
_END = object()


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
                 began: float | None = None) -> None:
        self.profile, self.out, self.play = profile, out, play
        self.began = began if began is not None else time.perf_counter()
        self.result = SpokenReply()
        self._sentences: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._speak_all, name="reply-speech", daemon=True)

    def __enter__(self) -> ReplySpeaker:
        self._worker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._sentences.put(_END)
        self._worker.join()

    def speak_along(self, pieces: Iterator[str]) -> Iterator[str]:
        """Pass the text pieces through at once, handing each finished sentence to the speech worker."""
        cutter = SentenceCutter(FIRST_SPOKEN_WORDS)
        for piece in pieces:
            for sentence in cutter.feed(piece):
                self._sentences.put(sentence)
            yield piece
        for sentence in cutter.flush():
            self._sentences.put(sentence)

    def _speak_all(self) -> None:
        try:
            with AudioSink(self.out, self.play) as sink:
                backend, voice, speed = speaking_voice(self.profile)
                language = self.profile.state.get("language")
                while (sentence := self._sentences.get()) is not _END:
                    started = time.perf_counter()
                    for chunk in backend.stream(sentence, voice, speed, language):
                        sink.write(chunk, backend.sample_rate)
                        self.result.seconds += len(chunk) / backend.sample_rate
                        if self.result.first_audio is None:
                            self.result.first_audio = time.perf_counter() - self.began
                    self.result.synthesis_seconds += time.perf_counter() - started
        except Exception as error:  # speech is a bonus: the chat goes on as text
            self.result.error = str(error).splitlines()[0] if str(error) else type(error).__name__
            log.warning("speech stopped: %s; the reply goes on as text", self.result.error)
            while self._sentences.get() is not _END:  # let the text side finish
                pass
