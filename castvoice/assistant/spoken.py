"""Speaking a reply while it is written: text pieces flow in, sentences are cut from them as soon as they
end, and a worker thread synthesises each one in the character's voice into a WAV file and/or the speakers.

If speech fails (a missing sound device, a broken voice), the reply goes on as text: the error is kept in
`SpokenReply.error` and nothing more is spoken.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from castvoice.console import log
from castvoice.voice.profile import VoiceProfile, speaking_voice

_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s")
_CLAUSE_END = re.compile(r"[,;:—–]\s")
_WORD_END = re.compile(r"\S\s")
_END = object()
# Words in the first spoken piece: Kokoro takes about a second for five words on 2 cores, and the reply's
# first audio waits for it.
FIRST_SPOKEN_WORDS = 3


class SentenceCutter:
    """Cuts whole sentences from text fed piece by piece, each as soon as it ends. The first piece is cut
    sooner, so that speech starts early: at a clause end or once it holds FIRST_SPOKEN_WORDS whole words."""

    def __init__(self) -> None:
        self.buffer, self.first = "", True

    def feed(self, piece: str) -> list[str]:
        """The sentences that `piece` completes."""
        self.buffer += piece
        done = []
        while end := self._end():
            sentence, self.buffer = self.buffer[:end].strip(), self.buffer[end:]
            if sentence:
                self.first = False
                done.append(sentence)
        return done

    def flush(self) -> list[str]:
        """What is left, as a last sentence."""
        rest, self.buffer = self.buffer.strip(), ""
        return [rest] if rest else []

    def _end(self) -> int | None:
        if end := _SENTENCE_END.search(self.buffer):
            return end.end()
        if not self.first:
            return None
        if clause := _CLAUSE_END.search(self.buffer):
            return clause.end()
        words = list(_WORD_END.finditer(self.buffer))
        return words[FIRST_SPOKEN_WORDS - 1].end() if len(words) >= FIRST_SPOKEN_WORDS else None


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
        cutter = SentenceCutter()
        for piece in pieces:
            for sentence in cutter.feed(piece):
                self._sentences.put(sentence)
            yield piece
        for sentence in cutter.flush():
            self._sentences.put(sentence)

    def _speak_all(self) -> None:
        try:
            with self._sinks() as sinks:
                backend, voice, speed = speaking_voice(self.profile)
                language = self.profile.state.get("language")
                while (sentence := self._sentences.get()) is not _END:
                    started = time.perf_counter()
                    for chunk in backend.stream(sentence, voice, speed, language):
                        chunk = np.asarray(chunk, dtype=np.float32)
                        for write in sinks(backend.sample_rate):
                            write(chunk)
                        self.result.seconds += len(chunk) / backend.sample_rate
                        if self.result.first_audio is None:
                            self.result.first_audio = time.perf_counter() - self.began
                    self.result.synthesis_seconds += time.perf_counter() - started
        except Exception as error:  # speech is a bonus: the chat goes on as text
            self.result.error = str(error).splitlines()[0] if str(error) else type(error).__name__
            log.warning("speech stopped: %s; the reply goes on as text", self.result.error)
            while self._sentences.get() is not _END:  # let the text side finish
                pass

    @contextlib.contextmanager
    def _sinks(self):
        """A function of the sample rate giving the writers, opened on first use (the rate comes with the voice)."""
        import soundfile as sf

        from castvoice.atomic import atomic_path
        from castvoice.voice.speak import open_speaker

        with contextlib.ExitStack() as stack:
            writers: list = []

            def sinks(rate: int) -> list:
                if not writers:
                    if self.out is not None:
                        tmp = stack.enter_context(atomic_path(self.out))
                        writers.append(stack.enter_context(
                            sf.SoundFile(tmp, "w", rate, 1, "PCM_16", format="WAV")).write)
                    if self.play:
                        writers.append(stack.enter_context(open_speaker(rate)).write)
                return writers

            yield sinks
