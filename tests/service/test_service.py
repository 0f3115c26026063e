"""The HTTP service, run as a real server process on loopback with the real models (Whisper tiny.en, Kokoro):
every endpoint, the OpenAI client, the limits and errors, and schemathesis against /openapi.json."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import hypothesis
import numpy as np
import pytest
import schemathesis
import soundfile as sf

from castvoice.errors import CastvoiceError
from castvoice.media.decode import load_audio
from castvoice.service.process import free_port, spawn
from castvoice.service.server import make_settings
from conftest import EVAL, assert_heard

JFK = EVAL / "whisper_jfk" / "jfk.flac"  # 11 s, 1.2 MB
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
MP3_SPEECH = EVAL / "rtvc_samples" / "p240_00000.mp3"
TOKEN = "test-token-1234"
EXAMPLES = 25  # schemathesis cases per operation and mode
pytestmark = pytest.mark.skipif(not JFK.is_file(), reason="../shared/eval is not present")


@dataclass
class Server:
    url: str
    process: object
    voices: Path

    def client(self, token: str | None = TOKEN, **options) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=options.pop("timeout", 120), **options)


def start(tmp: Path, **settings) -> Server:
    port = free_port()
    voices = tmp / "voices"
    settings = {"clone_cache_dir": str(tmp / "clones"), **settings}  # not the user's cache
    process = spawn(port, voices_dir=str(voices), asr_model="tiny.en", **settings)
    return Server(f"http://127.0.0.1:{port}", process, voices)


def stop(server: Server) -> None:
    server.process.terminate()
    server.process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # a long timeout: the first Kokoro clone on a machine also builds its stock voice table (minutes)
    running = start(tmp_path_factory.mktemp("service"), token=TOKEN, preload=True, max_upload_bytes=2_000_000,
                    max_audio_seconds=30, max_text_chars=200, request_timeout=900)
    yield running
    stop(running)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    """A server as on a desktop: loopback, no token; a short search for clones keeps the tests quick."""
    running = start(tmp_path_factory.mktemp("open"), clone_budget_seconds=4, request_timeout=900)
    yield running
    stop(running)


@pytest.fixture(scope="module")
def client(server):
    with server.client() as http:
        yield http


def heard(client: httpx.Client, audio: bytes, name: str = "speech.wav") -> str:
    """What Whisper (through the service) hears in `audio`."""
    answer = client.post("/v1/transcribe", files={"file": (name, audio)}, data={"emotion": "none"})
    assert answer.status_code == 200, answer.text
    return answer.json()["text"]


def error_code(answer: httpx.Response) -> str:
    return answer.json()["error"]["code"]


def probed(audio: bytes) -> tuple[str, int, float]:
    """Container, sample rate and seconds of encoded audio, as FFmpeg reads it."""
    import av

    with av.open(io.BytesIO(audio)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return container.format.name, stream.rate, samples / stream.rate


def flac_bytes(audio: np.ndarray, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="FLAC")
    return buffer.getvalue()


# -- health and authentication ----------------------------------------------------------

def test_health_says_what_is_loaded_without_a_token(server):
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "ok" and health["auth"] is True and health["uptime_seconds"] >= 0
    assert {"asr:tiny.en", "tts:kokoro", "emotion:prosody"} <= set(health["models"]["loaded"])
    assert health["models"]["loaded"]["asr:tiny.en"]["version"]
    assert health["models"]["sensevoice"].startswith("unavailable")  # no SenseVoice model ships
    assert health["resident_bytes"] > 100e6
    assert health["queue"] == {"running": 0, "waiting": 0, "limit": 33}


def test_every_v1_route_needs_the_token(server):
    with server.client(token=None) as anonymous, server.client(token="wrong") as wrong:
        for http in (anonymous, wrong):
            for answer in (http.get("/v1/voices"), http.post("/v1/clone", data={"text": "Hi."}),
                           http.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hi.", "voice": "alloy"})):
                assert answer.status_code == 401
                assert answer.headers["www-authenticate"] == "Bearer"
                assert error_code(answer) == "invalid_api_key"


def test_a_network_facing_server_refuses_to_start_without_a_token(tmp_path):
    with pytest.raises(CastvoiceError, match="without a token"):
        make_settings("0.0.0.0", token=None, no_auth=False, voices_dir=tmp_path)
    with pytest.raises(CastvoiceError, match="without a token"):
        make_settings("myhost.example", token="", no_auth=False, voices_dir=tmp_path)
    assert make_settings("0.0.0.0", token="secret", no_auth=False, voices_dir=tmp_path).token == "secret"
    assert make_settings("0.0.0.0", token=None, no_auth=True, voices_dir=tmp_path).token is None
    assert make_settings("::1", token=None, no_auth=False, voices_dir=tmp_path).token is None


# -- speech ------------------------------------------------------------------------------

def test_clone_speaks_in_every_format(client):
    text = "The lamp is lit."
    for fmt, container in (("wav", "WAV"), ("flac", "FLAC"), ("mp3", "MP3"), ("opus", "OGG")):
        answer = client.post("/v1/clone", data={"text": text, "voice": "af_sky", "format": fmt})
        assert answer.status_code == 200, answer.text
        info = sf.info(io.BytesIO(answer.content))
        assert (info.format, info.samplerate, info.channels) == (container, 24_000, 1) and 0.5 < info.duration < 4
        if fmt == "wav":
            assert_heard(heard(client, answer.content), text)
    pcm = client.post("/v1/clone", data={"text": text, "voice": "default", "format": "pcm", "speed": "1.5"})
    assert pcm.headers["content-type"] == "audio/pcm" and len(pcm.content) % 2 == 0
    assert 0.3 < len(pcm.content) / 2 / 24_000 < info.duration  # faster than the wav at speed 1


def test_clone_streams_the_first_sentence_before_the_rest_is_made(client):
    text = "Good morning. The ships came home late last night, and the street was full of lanterns."
    chunks, first_at = [], None
    began = time.monotonic()
    with client.stream("POST", "/v1/clone", data={"text": text, "voice": "default", "stream": "true"}) as answer:
        assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
        for chunk in answer.iter_raw():
            first_at = first_at or time.monotonic() - began
            chunks.append(chunk)
    total = time.monotonic() - began
    audio, rate = sf.read(io.BytesIO(b"".join(chunks)), dtype="float32")
    assert rate == 24_000 and len(audio) / rate > 3
    assert first_at < total / 2
    assert_heard(heard(client, b"".join(chunks)), text)
    unstreamable = client.post("/v1/clone", data={"text": text, "voice": "default", "stream": "true", "format": "mp3"})
    assert unstreamable.status_code == 422 and "cannot be streamed" in unstreamable.json()["error"]["message"]


def test_clone_from_reference_audio_recognised_by_its_bytes(client):
    # an mp3 sent as "notes.txt", declared text/plain: the format is read from the bytes. Piper "clones" by
    # speaking its one voice, which keeps this quick; the Kokoro search is exercised by POST /v1/voices below.
    with MP3_SPEECH.open("rb") as reference:
        answer = client.post("/v1/clone", data={"text": "Hello from a new voice.", "backend": "piper"},
                             files={"audio": ("notes.txt", reference, "text/plain")})
    assert answer.status_code == 200, answer.text
    assert sf.info(io.BytesIO(answer.content)).samplerate == 22_050  # Piper's rate
    assert_heard(heard(client, answer.content), "Hello from a new voice.")


def test_speech_needs_reference_audio_or_a_voice(client):
    missing = client.post("/v1/clone", data={"text": "Hi."})
    assert missing.status_code == 422 and error_code(missing) == "missing_voice"
    assert missing.json()["error"]["param"] == "voice" and "audio" in missing.json()["error"]["message"]
    # OpenAI's speech API requires voice too; `default` still names the server's default voice
    openai_missing = client.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hi."})
    assert openai_missing.status_code == 422 and openai_missing.json()["error"]["param"] == "voice"
    explicit = client.post("/v1/audio/speech", json={"model": "tts-1", "input": "Good morning.", "voice": "default",
                                                     "response_format": "wav"})
    assert explicit.status_code == 200
    assert_heard(heard(client, explicit.content), "Good morning.")


def test_the_openai_route_speaks_every_openai_format(server, client):
    from openai import OpenAI

    openai = OpenAI(base_url=f"{server.url}/v1", api_key=TOKEN, max_retries=0)
    text = "The ships came home late last night."
    # Kokoro speaks at 24 kHz; Opus always decodes at 48 kHz
    for fmt, container, rate in (("mp3", "mp3", 24_000), ("opus", "ogg", 48_000), ("aac", "aac", 24_000),
                                 ("flac", "flac", 24_000), ("wav", "wav", 24_000)):
        speech = openai.audio.speech.create(model="tts-1", voice="nova", input=text, response_format=fmt)
        assert speech.response.headers["content-type"].startswith("audio/")
        assert probed(speech.content)[:2] == (container, rate), fmt
        assert 1.0 < probed(speech.content)[2] < 5, fmt
        assert_heard(heard(client, speech.content, f"speech.{fmt}"), text)
    pcm = openai.audio.speech.create(model="tts-1", voice="nova", input=text, response_format="pcm").content
    assert len(pcm) % 2 == 0 and 1.0 < len(pcm) / 2 / 24_000 < 5


def test_a_reference_is_searched_once_and_its_voice_kept_across_restarts(open_server, tmp_path):
    reference = (EVAL / "rtvc_samples" / "p260_00000.mp3").read_bytes()
    ask = {"text": "Thank you for coming."}
    answers = []

    def clone(server: Server) -> None:
        with server.client(token=None) as http:
            began = time.monotonic()
            answer = http.post("/v1/clone", data=ask, files={"audio": ("reference.mp3", reference)})
            answers.append((answer, time.monotonic() - began))

    with open_server.client(token=None) as http:
        searched = http.get("/health").json()["clones"]["searched"]
        # four at once: the voice-building queue holds three, but those waiting for the same search take no place
        threads = [threading.Thread(target=clone, args=(open_server,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [answer.status_code for answer, _ in answers] == [200] * 4, [a.text for a, _ in answers]
        first = min(seconds for _, seconds in answers)
        assert http.get("/health").json()["clones"]["searched"] == searched + 1
        clone(open_server)
        again, repeated = answers[-1]
        assert repeated < first / 3 and http.get("/health").json()["clones"]["searched"] == searched + 1
        assert all(answer.content == again.content for answer, _ in answers)
        assert_heard(heard(http, again.content), ask["text"])

    restarted = start(tmp_path, clone_cache_dir=str(open_server.voices.parent / "clones"), clone_budget_seconds=4)
    try:
        clone(restarted)
        after_restart, seconds = answers[-1]
        assert after_restart.status_code == 200 and seconds < first / 2  # loads Kokoro, but searches nothing
        with restarted.client(token=None) as http:
            assert http.get("/health").json()["clones"]["searched"] == 0
    finally:
        stop(restarted)
    same, _ = sf.read(io.BytesIO(after_restart.content))
    np.testing.assert_allclose(same, sf.read(io.BytesIO(again.content))[0], atol=1e-3)


def test_the_readme_service_examples_run(open_server, tmp_path):
    """The curl and OpenAI-client examples of the README's "The HTTP service", run as written against a server
    on loopback, with talk.wav a recording of speech."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("\n## The HTTP service\n")[1].split("\n## ")[0]
    examples = re.findall(r"```(sh|python)\n(.*?)```", section, re.S)
    assert [kind for kind, _ in examples] == ["sh", "python"]
    sf.write(tmp_path / "talk.wav", load_audio(JFK), 16_000)
    address = open_server.url.removeprefix("http://")
    ran = {}
    for kind, code in examples:
        code = code.replace("localhost:8000", address).replace("127.0.0.1:8000", address)
        command = ["bash", "-e", "-c", code] if kind == "sh" else [sys.executable, "-c", code]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr
        ran[kind] = done.stdout
    assert_heard(json.loads(ran["sh"])["text"], JFK_TEXT, 0.1)
    assert_heard(ran["python"], JFK_TEXT, 0.1)
    with open_server.client(token=None) as http:
        for file, container in (("hello.wav", "WAV"), ("hello-again.wav", "WAV"), ("hello.mp3", "MP3")):
            assert sf.info(tmp_path / file).format == container, file
            assert_heard(heard(http, (tmp_path / file).read_bytes(), file), "Hello there.")


# -- transcription -----------------------------------------------------------------------

def test_transcribe_gives_text_words_and_an_emotion_per_segment(client):
    with JFK.open("rb") as audio:
        answer = client.post("/v1/transcribe", files={"file": ("jfk.flac", audio)}, data={"words": "true"})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert_heard(found["text"], JFK_TEXT, 0.1)
    assert found["language"] == "en"
    for segment in found["segments"]:
        assert segment["emotion"]["label"] in ("HAPPY", "SAD", "ANGRY", "NEUTRAL")
        assert 0 < segment["emotion"]["confidence"] <= 1
        assert "prosody" in segment["emotion"]["source"] and "not an emotion model" in segment["emotion"]["source"]
        assert segment["words"] and segment["start"] <= segment["words"][0]["start"]
    plain = client.post("/v1/transcribe", files={"file": JFK.read_bytes()}, data={"emotion": "none"}).json()
    assert "emotion" not in plain["segments"][0] and "words" not in plain["segments"][0]
    missing = client.post("/v1/transcribe", files={"file": JFK.read_bytes()}, data={"emotion": "sensevoice"})
    assert missing.status_code == 422 and "not available" in missing.json()["error"]["message"]


def test_inline_tags_read_like_sensevoice(client):
    found = client.post("/v1/transcribe", files={"file": JFK.read_bytes()}, data={"tags": "inline"}).json()
    label = found["segments"][0]["emotion"]["label"]
    assert found["text"].startswith(f"<|en|><|{label}|> ")
    assert all(s["text"].startswith("<|en|><|") for s in found["segments"])
    assert_heard(found["text"], JFK_TEXT, 0.1)  # the words around the tags (which scoring drops)


@pytest.mark.parametrize(("line", "expected"), [
    ("I love this, it is wonderful!", "HAPPY"),
    ("I hate you, you stupid liar!", "ANGRY"),
    ("I miss her so much. She died alone.", "SAD"),
    ("The train leaves at nine from platform four.", "NEUTRAL"),
])
def test_the_emotion_estimate_follows_the_words(client, line, expected):
    speech = client.post("/v1/clone", data={"text": line, "voice": "am_michael"}).content
    found = client.post("/v1/transcribe", files={"file": ("line.wav", speech)}).json()
    assert [s["emotion"]["label"] for s in found["segments"]] == [expected] * len(found["segments"])


# -- the OpenAI client -------------------------------------------------------------------

def test_the_openai_client_speaks_and_transcribes(server, tmp_path):
    from openai import OpenAI

    openai = OpenAI(base_url=f"{server.url}/v1", api_key=TOKEN, max_retries=0)
    speech = openai.audio.speech.create(model="tts-1", voice="alloy", input="Ask not what your country can do.")
    info = sf.info(io.BytesIO(speech.content))
    assert info.format == "MP3" and info.duration > 1  # mp3 is OpenAI's default format
    wav = openai.audio.speech.create(model="tts-1", voice="default", input="Hello.", response_format="wav")
    assert sf.info(io.BytesIO(wav.content)).format == "WAV"

    with JFK.open("rb") as audio:
        assert_heard(openai.audio.transcriptions.create(model="whisper-1", file=audio).text, JFK_TEXT, 0.1)
    with JFK.open("rb") as audio:
        text = openai.audio.transcriptions.create(model="whisper-1", file=audio, response_format="text")
    assert_heard(text, JFK_TEXT, 0.1)
    for fmt, start in (("srt", "1\n00:00:00,000 --> "), ("vtt", "WEBVTT\n\n00:00:00.000 --> ")):
        with JFK.open("rb") as audio:
            assert openai.audio.transcriptions.create(model="whisper-1", file=audio, response_format=fmt).startswith(start)
    with JFK.open("rb") as audio:
        verbose = openai.audio.transcriptions.create(model="whisper-1", file=audio, response_format="verbose_json",
                                                     timestamp_granularities=["word", "segment"], language="en")
    assert verbose.language == "en" and verbose.duration == pytest.approx(11.0, abs=0.1)
    assert_heard(" ".join(w.word for w in verbose.words), JFK_TEXT, 0.1)
    assert verbose.segments[0].id == 0
    assert_heard(" ".join(s.text for s in verbose.segments), JFK_TEXT, 0.1)

    import openai as openai_module

    with pytest.raises(openai_module.UnprocessableEntityError, match="unknown voice"):
        openai.audio.speech.create(model="tts-1", voice="nobody_here", input="Hello.")


# -- stored voices -----------------------------------------------------------------------

def stock_profile_file(tmp_path: Path, name: str) -> Path:
    """A .cvoice file as `castvoice voice export` writes it, holding a Kokoro stock style."""
    from castvoice.voice.profile import VoiceProfile, save_profile
    from castvoice.voice.backends import get_tts

    style = get_tts("kokoro").style("bf_emma")
    profile = VoiceProfile(name, "kokoro", {"speed": 1.0, "nearest": "bf_emma", "language": "en-gb"}, {"style": style},
                           [load_audio(JFK)[:32_000]], {"campplus": 0.5}, "test")
    return save_profile(profile, tmp_path)


def test_stored_voices_are_created_listed_used_and_deleted(client, server, tmp_path):
    with stock_profile_file(tmp_path, "exported").open("rb") as profile:
        created = client.post("/v1/voices", data={"name": "Dr. Lee"}, files={"profile": ("lee.cvoice", profile)})
    assert created.status_code == 201, created.text
    assert created.json()["id"] == "dr_lee" and created.json()["backend"] == "kokoro"
    assert (server.voices / "dr_lee.cvoice").is_file()
    assert "dr_lee" in [v["id"] for v in client.get("/v1/voices").json()["voices"]]

    spoken = client.post("/v1/clone", data={"text": "Good evening.", "voice": "dr_lee"})
    assert spoken.status_code == 200
    assert_heard(heard(client, spoken.content), "Good evening.")
    from openai import OpenAI

    openai = OpenAI(base_url=f"{server.url}/v1", api_key=TOKEN, max_retries=0)
    assert openai.audio.speech.create(model="tts-1", voice={"id": "dr_lee"}, input="Hello.").content

    with stock_profile_file(tmp_path / "again", "exported").open("rb") as profile:
        taken = client.post("/v1/voices", data={"name": "dr lee"}, files={"profile": profile})
    assert taken.status_code == 409 and error_code(taken) == "voice_exists"
    assert client.delete("/v1/voices/dr_lee").status_code == 204
    assert client.delete("/v1/voices/dr_lee").status_code == 404
    assert client.post("/v1/clone", data={"text": "Hi.", "voice": "dr_lee"}).status_code == 422


def test_voice_ids_match_in_any_case(client, tmp_path):
    with stock_profile_file(tmp_path, "exported").open("rb") as profile:
        created = client.post("/v1/voices", data={"name": "Sheila"}, files={"profile": ("s.cvoice", profile)})
    assert created.status_code == 201 and created.json()["id"] == "sheila"
    lower = client.post("/v1/clone", data={"text": "Good evening.", "voice": "sheila"})
    for spelling in ("Sheila", "SHEILA"):
        answer = client.post("/v1/clone", data={"text": "Good evening.", "voice": spelling})
        assert answer.status_code == 200, answer.text
        assert answer.content == lower.content  # the stored voice, not a stock or default one
    default = client.post("/v1/clone", data={"text": "Good evening.", "voice": "default"})
    assert default.content != lower.content
    speech = client.post("/v1/audio/speech", json={"model": "tts-1", "input": "Good evening.", "voice": "Sheila",
                                                   "response_format": "wav"})
    assert speech.status_code == 200 and speech.content == lower.content
    assert client.delete("/v1/voices/Sheila").status_code == 204
    assert client.delete("/v1/voices/sheila").status_code == 404


def test_a_voice_is_cloned_from_uploaded_references(client):
    with MP3_SPEECH.open("rb") as one, (EVAL / "rtvc_samples" / "p260_00000.mp3").open("rb") as two:
        created = client.post("/v1/voices", data={"name": "Visitor", "budget_seconds": "5"},
                              files=[("references", ("a.mp3", one)), ("references", ("b.mp3", two))])
    assert created.status_code == 201, created.text
    voice = created.json()
    assert voice["id"] == "visitor" and voice["references"] == 2 and voice["source"] == "uploaded: a.mp3, b.mp3"
    spoken = client.post("/v1/clone", data={"text": "Thank you for coming.", "voice": "visitor"})
    assert_heard(heard(client, spoken.content), "Thank you for coming.")
    assert client.delete("/v1/voices/visitor").status_code == 204


# -- limits and bad input ----------------------------------------------------------------

def test_too_big_uploads_are_refused_with_413(client):
    too_big = b"\0" * 2_100_000
    answer = client.post("/v1/transcribe", files={"file": ("big.wav", too_big)})
    assert answer.status_code == 413 and error_code(answer) == "file_too_large"
    head = b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
    chunked = client.post("/v1/transcribe", content=iter([head, *[too_big[:1_000_000]] * 3, b"\r\n--x--\r\n"]),
                          headers={"content-type": "multipart/form-data; boundary=x"})
    assert chunked.request.headers["transfer-encoding"] == "chunked"  # no length declared: counted as it arrives
    assert chunked.status_code == 413
    long_audio = flac_bytes(np.zeros(31 * 16_000, np.float32))  # small file, 31 s: over max_audio_seconds
    answer = client.post("/v1/transcribe", files={"file": ("quiet.flac", long_audio)})
    assert answer.status_code == 413 and error_code(answer) == "audio_too_long"


def test_what_is_not_audio_is_refused_with_415(client, tmp_path):
    for name, content in (("speech.wav", b"RIFF not really a wave file" * 50), ("page.mp3", b"<html></html>"),
                          ("empty.flac", b"")):
        answer = client.post("/v1/transcribe", files={"file": (name, content, "audio/wav")})
        assert answer.status_code == 415, (name, answer.text)
        assert "not audio that can be decoded" in answer.json()["error"]["message"]
    assert client.post("/v1/clone", data={"text": "Hi."}, files={"audio": ("a.wav", b"junk")}).status_code == 415


def test_too_long_text_and_bad_options_are_refused_with_422(client):
    long_text = "word " * 50  # 250 characters; this server takes 200
    answer = client.post("/v1/clone", data={"text": long_text, "voice": "default"})
    assert answer.status_code == 422 and error_code(answer) == "text_too_long"
    answer = client.post("/v1/audio/speech", json={"model": "tts-1", "input": long_text, "voice": "alloy"})
    assert answer.status_code == 422 and answer.json()["error"]["param"] == "input"
    for data in ({"text": "Hi.", "speed": "9"}, {"text": "Hi.", "format": "aiff"}, {"text": "Hi.", "backend": "xtts"},
                 {"text": "😀 ✨"}, {"text": "😀 ✨", "stream": "true"}, {"text": "Hi.", "language": "tlh"}):
        answer = client.post("/v1/clone", data={"voice": "default", **data})
        assert answer.status_code == 422, (data, answer.text)
        assert answer.json()["error"]["message"]
    assert client.post("/v1/transcribe", files={"file": JFK.read_bytes()}, data={"model": "large-v3"}).status_code == 422
    unknown = client.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hi.", "voice": "alloy",
                                                    "response_format": "aiff"})
    assert unknown.status_code == 422 and unknown.json()["error"]["param"] == "response_format"
    assert all(fmt in unknown.json()["error"]["message"] for fmt in ("mp3", "opus", "aac", "flac", "wav", "pcm"))


def test_voice_ids_cannot_reach_outside_the_store(client, server):
    outside = stock_profile_file(server.voices.parent, "outside")  # a profile next to the store, not in it
    for voice in ("../outside", "..", "outside/../outside", "/etc/passwd", "Outside", "outside.cvoice"):
        answer = client.post("/v1/clone", data={"text": "Hi.", "voice": voice})
        assert answer.status_code == 422 and error_code(answer) == "unknown_voice", voice
    for path in ("/v1/voices/..%2Foutside", "/v1/voices/%2E%2E", "/v1/voices/Outside", "/v1/voices/a.b"):
        assert client.delete(path).status_code in (404, 422), path
    assert outside.is_file()
    assert client.delete("/v1/voices/no_such_voice").status_code == 404
    assert error_code(client.delete("/v1/voices/a.b")) == "invalid_voice_id"


def test_a_full_queue_answers_503_timeouts_504_and_a_gone_client_stops_its_work(tmp_path):
    slow = start(tmp_path, workers=1, queue_limit=1, request_timeout=10, preload=True)
    text = "The old keeper climbed the stairs. " * 30  # more than 10 s of synthesis on any CPU
    answers = {}

    def ask(key: str) -> None:
        with slow.client(token=None) as http:
            answers[key] = http.post("/v1/clone", data={"text": text, "voice": "default"})

    try:
        with slow.client(token=None) as http:
            threads = [threading.Thread(target=ask, args=(key,)) for key in ("first", "second")]
            for thread in threads:
                thread.start()
                time.sleep(0.3)
            assert wait_for(lambda: http.get("/health").json()["queue"] == {"running": 1, "waiting": 1, "limit": 2})
            turned_away = http.post("/v1/clone", data={"text": "Hi.", "voice": "default"})
            assert turned_away.status_code == 503 and int(turned_away.headers["retry-after"]) >= 1
            assert error_code(turned_away) == "server_busy"
            for thread in threads:
                thread.join()
            assert answers["first"].status_code == answers["second"].status_code == 504
            assert wait_for(lambda: http.get("/health").json()["queue"]["running"] == 0, seconds=5)

            with slow.client(token=None, timeout=1.5) as impatient, pytest.raises(httpx.ReadTimeout):
                impatient.post("/v1/clone", data={"text": text, "voice": "default"})  # hangs up after 1.5 s
            # the work stops at its next sentence, long before the 10 s timeout would end it
            assert wait_for(lambda: http.get("/health").json()["queue"]["running"] == 0, seconds=3.5)
    finally:
        stop(slow)


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


# -- the schema --------------------------------------------------------------------------

def test_the_schema_lists_every_endpoint(server):
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert set(paths) == {"/health", "/v1/clone", "/v1/transcribe", "/v1/audio/speech", "/v1/audio/transcriptions",
                          "/v1/voices", "/v1/voices/{voice_id}"}


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_no_request_makes_a_server_error(server, mode):
    """Schemathesis generates requests for every operation from /openapi.json, valid ones and broken ones;
    none may get a 5xx answer."""
    from schemathesis.checks import not_a_server_error

    api = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    for found in api.get_all_operations():
        operation = found.ok()

        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))
        def no_server_error(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=[not_a_server_error], timeout=60)

        try:
            no_server_error()
        except hypothesis.errors.Unsatisfiable:
            assert mode == schemathesis.GenerationMode.NEGATIVE  # an operation without inputs has no invalid request
