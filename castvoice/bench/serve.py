"""`castvoice bench serve`: the HTTP service under load, as a real server process on loopback.

Requests per second and p50/p95 latency for transcription (11 s of English speech, language given) and
cloning (a short line in a stored voice) at 1, 4 and 16 concurrent clients; then the server's resident
memory (VmRSS) after the first 50 and after 500 mixed requests. The mix cycles through every kind of
request: the four model-heavy ones (transcription with words, emotion and tags; OpenAI verbose
transcription; speech in a stored voice as mp3; OpenAI speech as opus) and light ones (health, voice
list, schema, refused uploads, unknown voices and ids, a missing token), four of them per twenty.
The models are loaded before anything is timed.
"""

from __future__ import annotations

import io
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from castvoice.bench import eval_root, report
from castvoice.console import log

CONCURRENCY = (1, 4, 16)
MIN_REQUESTS = 4  # per endpoint and concurrency level: at least 4, else one per client
MEMORY_CHECKPOINTS = (50, 500)
MEMORY_CLIENTS = 4
TARGET_MEMORY_RATIO = 1.10
LINE = "Good morning."
VOICE = "bench_voice"


class Requests:
    """The requests the benchmark sends, each a function of an httpx client that returns the status."""

    def __init__(self, speech: bytes, short_speech: bytes) -> None:
        self.speech, self.short_speech = speech, short_speech

    def transcribe(self, http) -> int:
        return http.post("/v1/transcribe", files={"file": ("speech.flac", self.speech)},
                         data={"language": "en"}).status_code

    def clone(self, http) -> int:
        return http.post("/v1/clone", data={"text": LINE, "voice": VOICE}).status_code

    def mixed(self) -> list[Callable]:
        """Twenty requests: the four heavy kinds, each followed by four light ones."""
        short = ("short.flac", self.short_speech)
        heavy = [
            lambda http: http.post("/v1/transcribe", files={"file": short},
                                   data={"language": "en", "words": "true", "tags": "inline"}).status_code,
            lambda http: http.post("/v1/audio/transcriptions", files={"file": short},
                                   data={"model": "whisper-1", "language": "en", "response_format": "verbose_json",
                                         "timestamp_granularities[]": "word"}).status_code,
            lambda http: http.post("/v1/clone", data={"text": "Hi.", "voice": VOICE, "format": "mp3"}).status_code,
            lambda http: http.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hi.", "voice": "alloy",
                                                            "response_format": "opus"}).status_code,
        ]
        light = [
            lambda http: http.get("/health").status_code,
            lambda http: http.get("/v1/voices").status_code,
            lambda http: http.post("/v1/transcribe", files={"file": ("x.wav", b"not audio" * 100)}).status_code,
            lambda http: http.post("/v1/clone", data={"text": "Hi.", "voice": "nobody"}).status_code,
            lambda http: http.get("/openapi.json").status_code,
            lambda http: http.delete("/v1/voices/..%2Fvoices").status_code,
            lambda http: http.get("/v1/voices", headers={"Authorization": "Bearer wrong"}).status_code,
            lambda http: http.post("/v1/audio/speech", json={"input": "Hi.", "speed": 9}).status_code,
        ]
        return [call for n, first in enumerate(heavy) for call in (first, *light[n % 2 * 4:][:4])]


def run(out: Path | None = None, asr_model: str = "base", concurrency: tuple[int, ...] = CONCURRENCY,
        memory_requests: int = MEMORY_CHECKPOINTS[-1]) -> None:
    """Start a server, measure it, print the tables and write them as JSON to `out`."""
    from castvoice.service.process import free_port, resident_bytes, spawn

    requests = Requests(*_speech_files())
    with tempfile.TemporaryDirectory() as voices:
        port = free_port()
        server = spawn(port, voices_dir=voices, asr_model=asr_model, preload=True,
                       queue_limit=max(*concurrency, MEMORY_CLIENTS))
        try:
            url = f"http://127.0.0.1:{port}"
            _store_voice(url, Path(voices))
            loaded = resident_bytes(server.pid)
            speed = [_load_row(url, name, call, clients)
                     for name, call in (("transcribe", requests.transcribe), ("clone", requests.clone))
                     for clients in concurrency]
            memory = _memory_rows(url, requests.mixed(), server.pid, memory_requests, loaded)
        finally:
            server.terminate()
            server.wait(timeout=30)
    report({f"throughput and latency (Whisper {asr_model} on 11 s; Kokoro saying {LINE!r})": speed,
            "server resident memory": memory},
           {"memory": f"after {memory_requests} requests <= {TARGET_MEMORY_RATIO} x after {MEMORY_CHECKPOINTS[0]}"},
           out)


def _speech_files() -> tuple[bytes, bytes]:
    """JFK's 11 s (as FLAC) and its first 3 s."""
    import soundfile as sf

    from castvoice.media.decode import load_audio

    jfk = eval_root() / "whisper_jfk" / "jfk.flac"
    short = io.BytesIO()
    sf.write(short, load_audio(jfk)[: 3 * 16_000], 16_000, format="FLAC")
    return jfk.read_bytes(), short.getvalue()


def _store_voice(url: str, folder: Path) -> None:
    """A stored voice for the clone requests: a Kokoro stock style as a profile, so no search is timed."""
    import httpx

    from castvoice.voice.profile import VoiceProfile, save_profile
    from castvoice.voice.backends import get_tts

    profile = VoiceProfile(VOICE, "kokoro", {"speed": 1.0, "language": "en-us"},
                           {"style": get_tts("kokoro").style("am_michael")})
    with tempfile.TemporaryDirectory() as tmp:
        path = save_profile(profile, Path(tmp))
        answer = httpx.post(f"{url}/v1/voices", data={"name": VOICE}, files={"profile": path.read_bytes()}, timeout=60)
    answer.raise_for_status()


def _load_row(url: str, name: str, call: Callable, clients: int) -> dict:
    """`clients` clients sending `call` at once, MIN_REQUESTS or one each, whichever is more."""
    total = max(MIN_REQUESTS, clients)
    latencies, statuses, wall = _drive(url, [call], total, clients)
    log.info("%s, %d clients: %d requests in %.1f s", name, clients, total, wall)
    return {"endpoint": name, "clients": clients, "requests": total, "requests/s": round(total / wall, 2),
            "p50 s": round(float(np.percentile(latencies, 50)), 2), "p95 s": round(float(np.percentile(latencies, 95)), 2),
            "failed": sum(s >= 500 or s == 0 for s in statuses)}


def _memory_rows(url: str, calls: list[Callable], pid: int, total: int, loaded: int | None) -> list[dict]:
    """Resident memory after loading, after the first MEMORY_CHECKPOINTS[0] mixed requests and after `total`."""
    from castvoice.service.process import resident_bytes

    _, first_statuses, first_wall = _drive(url, calls, MEMORY_CHECKPOINTS[0], MEMORY_CLIENTS)
    early = resident_bytes(pid)
    log.info("mixed requests: %d in %.1f s", MEMORY_CHECKPOINTS[0], first_wall)
    _, rest_statuses, rest_wall = _drive(url, calls, total - MEMORY_CHECKPOINTS[0], MEMORY_CLIENTS)
    late = resident_bytes(pid)
    statuses = first_statuses + rest_statuses
    mib = 1024 * 1024
    return [
        {"after": "models loaded", "requests": 0, "MiB": round(loaded / mib)},
        {"after": f"first {MEMORY_CHECKPOINTS[0]} mixed requests", "requests": MEMORY_CHECKPOINTS[0],
         "MiB": round(early / mib)},
        {"after": f"{total} mixed requests", "requests": total, "MiB": round(late / mib),
         f"x after {MEMORY_CHECKPOINTS[0]}": round(late / early, 3),
         "requests/s": round(total / (first_wall + rest_wall), 2),
         "failed": sum(s >= 500 or s == 0 for s in statuses)},
    ]


def _drive(url: str, calls: list[Callable], total: int, clients: int) -> tuple[list[float], list[int], float]:
    """Send `total` requests from `clients` threads (each with its own connection), taking `calls` in turn;
    return each request's latency and status (0 for a failed connection) and the wall time."""
    import httpx

    counter = iter(range(total))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: list[int] = []

    def client() -> None:
        with httpx.Client(base_url=url, timeout=600) as http:
            while True:
                with lock:
                    number = next(counter, None)
                if number is None:
                    return
                began = time.perf_counter()
                try:
                    status = calls[number % len(calls)](http)
                except httpx.TransportError:
                    status = 0
                with lock:
                    latencies.append(time.perf_counter() - began)
                    statuses.append(status)

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses, time.perf_counter() - began
