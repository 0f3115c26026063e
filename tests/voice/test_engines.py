"""Zero-shot cloners: Pocket TTS end to end on a tiny model built from the package's own architecture with
seeded random weights (saved and loaded the way the package loads a checkpoint), and ElevenLabs against a
local stand-in for its HTTP API."""

from __future__ import annotations

import email.parser
import io
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from castvoice.errors import CastvoiceError
from castvoice.media.decode import load_audio
from castvoice.voice.backends import get_tts
from castvoice.voice.engines.base import split_text
from castvoice.voice.engines.pocket import PROMPT_RATE, reference_prompt
from castvoice.voice.profile import load_profile, make_profile, save_profile, speaking_voice
from conftest import EVAL, castvoice

JFK = EVAL / "whisper_jfk" / "jfk.flac"
TWENTY_WORDS = ("The old lighthouse keeper climbed the narrow stairs every evening to light the lamp before the "
                "fishing ships came home.")
needs_eval = pytest.mark.skipif(not JFK.is_file(), reason="../shared/eval is not present")


@pytest.fixture(autouse=True)
def fresh_backends():
    """Backends are kept per process; these tests configure them, so each starts and ends without them."""
    get_tts.cache_clear()
    yield
    get_tts.cache_clear()


@pytest.fixture(scope="module")
def jfk_references() -> list[np.ndarray]:
    audio = load_audio(JFK)  # 16 kHz, 11 s
    return [audio[16_000 * 0 : 16_000 * 4], audio[16_000 * 4 : 16_000 * 8], audio[16_000 * 8 :]]


def test_reference_prompt_joins_the_best_references_within_the_limit():
    second = np.ones(PROMPT_RATE, np.float32)
    prompt = reference_prompt([second, 2 * second, np.ones(30 * PROMPT_RATE, np.float32), 3 * second], seconds=5)
    gap = np.zeros(round(0.2 * PROMPT_RATE), np.float32)
    np.testing.assert_array_equal(prompt, np.concatenate([second, gap, 2 * second, gap, 3 * second]))
    assert len(reference_prompt([np.ones(30 * PROMPT_RATE, np.float32)], seconds=5)) == 5 * PROMPT_RATE


# ---------------------------------------------------------------------------
# Pocket TTS
# ---------------------------------------------------------------------------


def _tokenizer(path: Path):
    """A small BPE tokenizer in the tokenizer.json format the released configs point at."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer, tokenizer.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    alphabet = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?;:'\"- ")
    trainer = trainers.BpeTrainer(vocab_size=128, special_tokens=["<unk>"], initial_alphabet=alphabet)
    tokenizer.train_from_iterator([TWENTY_WORDS] * 4, trainer)
    tokenizer.save(str(path))
    return tokenizer


@pytest.fixture(scope="module")
def pocket_config(tmp_path_factory) -> Path:
    """The package's English config shrunk to a few hundred thousand parameters, with seeded random weights
    saved as the package saves a model (its state dict as safetensors) and named in the config's weights_path."""
    pytest.importorskip("pocket_tts", reason="the pocket extra is not installed (pip install castvoice[pocket])")
    import safetensors.torch
    import torch
    import yaml
    from pocket_tts import TTSModel
    from pocket_tts.utils.config import CONFIGS_DIR

    folder = tmp_path_factory.mktemp("pocket")
    config = yaml.safe_load((CONFIGS_DIR / "english.yaml").read_text(encoding="utf-8"))
    for key in ("weights_path", "weights_path_without_voice_cloning"):
        config.pop(key)
    tokenizer = _tokenizer(folder / "tokenizer.json")
    flow_lm, mimi = config["flow_lm"], config["mimi"]
    flow_lm["flow"].update(depth=1, dim=32)
    flow_lm["transformer"].update(d_model=64, hidden_scale=2, num_heads=4, num_layers=2)
    flow_lm["lookup_table"].update(dim=64, n_bins=tokenizer.get_vocab_size(), tokenizer_path=str(folder / "tokenizer.json"))
    mimi["outer_dim"] = 64
    mimi["seanet"].update(dimension=64, n_filters=4)
    mimi["transformer"].update(d_model=64, num_heads=4, num_layers=1, dim_feedforward=128, input_dimension=64,
                               output_dimensions=[64])
    mimi["quantizer"]["output_dimension"] = 64
    blank = folder / "blank.yaml"
    blank.write_text(yaml.safe_dump(config), encoding="utf-8")
    torch.manual_seed(0)
    model = TTSModel.load_model(config=blank)  # no weights_path: the architecture with random weights
    safetensors.torch.save_file(model.state_dict(), folder / "model.safetensors")
    config["weights_path"] = str(folder / "model.safetensors")
    path = folder / "tiny_english.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
def pocket(pocket_config, monkeypatch):
    monkeypatch.setenv("CASTVOICE_POCKET_CONFIG", str(pocket_config))
    return get_tts("pocket")


@pytest.mark.slow
@needs_eval
def test_pocket_clones_a_voice_into_a_profile_that_speaks_and_streams(pocket, jfk_references, tmp_path):
    profile = make_profile("Jfk", "pocket", jfk_references, 0, "jfk.flac")
    prompt = profile.arrays["prompt"]
    assert prompt.dtype == np.float32 and 10.5 < len(prompt) / PROMPT_RATE < 11.5  # 11 s of speech and two pauses
    assert profile.state == {"model": str(profile.state["model"]), "language": "en-us", "speed": 1.0,
                             "prompt_seconds": round(len(prompt) / PROMPT_RATE, 2)}

    again = load_profile(save_profile(profile, tmp_path))
    np.testing.assert_array_equal(again.arrays["prompt"], prompt)
    tts, voice, speed = speaking_voice(again)
    assert tts is pocket and speed == 1.0 and tts.sample_rate == 24_000
    np.testing.assert_array_equal(voice, prompt)

    speech = tts.synthesize("Good morning, Mr. Hale.", voice)
    frame = round(24_000 / 12.5)  # Mimi decodes one 80 ms frame at a time
    assert speech.dtype == np.float32 and speech.ndim == 1 and np.isfinite(speech).all()
    assert len(speech) > 0 and len(speech) % frame == 0 and len(speech) / tts.sample_rate < 10

    text = " ".join([TWENTY_WORDS] * 4)
    began = time.perf_counter()
    stream = tts.stream(text, voice)
    first = next(stream)
    first_after = time.perf_counter() - began
    chunks = [first, *stream]
    total = time.perf_counter() - began
    assert len(chunks) == len(split_text(text)) >= 5
    assert all(c.dtype == np.float32 and c.ndim == 1 and len(c) % frame == 0 for c in chunks)
    assert first_after < total / 2


@pytest.mark.slow
def test_pocket_refuses_bad_voices_speed_and_language(pocket):
    with pytest.raises(CastvoiceError, match="at least 1 s"):
        pocket.synthesize("Hello.", np.zeros(8_000, np.float32))
    with pytest.raises(CastvoiceError, match="mono 16 kHz audio, not an array of shape"):
        pocket.stream("Hello.", np.zeros((2, 32_000), np.float32))
    with pytest.raises(CastvoiceError, match="unknown pocket voice 'nobody'; voices include"):
        pocket.stream("Hello.", "nobody")
    with pytest.raises(CastvoiceError, match="cannot use this voice"):  # catalogue voices need the released weights
        pocket.stream("Hello.", "alba")
    with pytest.raises(CastvoiceError, match="use speed 1.0"):
        pocket.stream("Hello.", np.zeros(32_000, np.float32), speed=1.2)
    with pytest.raises(CastvoiceError, match="pocket does not speak 'de'"):
        pocket.stream("Hallo.", np.zeros(32_000, np.float32), language="de")


@pytest.mark.slow
def test_pocket_without_its_weights_fails_with_one_clear_line(pocket_config, tmp_path):
    from castvoice.voice.engines.pocket import PocketTTS

    missing = tmp_path / "missing.yaml"
    missing.write_text(pocket_config.read_text().replace("model.safetensors", "gone.safetensors"))
    with pytest.raises(CastvoiceError, match=r"Pocket TTS could not load its weights .*needs the network once") as error:
        PocketTTS(missing)
    assert "\n" not in str(error.value)


@pytest.mark.slow
@needs_eval
def test_voice_create_speak_export_and_import_with_pocket(pocket_config, tmp_path):
    env = {"CASTVOICE_POCKET_CONFIG": str(pocket_config), "CASTVOICE_VOICES": str(tmp_path / "library")}
    made = castvoice("voice", "create", "Jfk", "--from", JFK, "--backend", "pocket", cwd=tmp_path, env=env)
    assert "voice Jfk (pocket) saved" in made.stdout
    out = tmp_path / "line.wav"
    castvoice("speak", "--voice", "Jfk", "The lamp is lit again. Ships can come home tonight.", "-o", out,
              cwd=tmp_path, env=env)
    info = sf.info(out)
    assert info.samplerate == 24_000 and info.channels == 1 and info.duration > 0.2
    exported = tmp_path / "jfk.cvoice"
    castvoice("voice", "export", "Jfk", exported, cwd=tmp_path, env=env)
    assert load_profile(exported).backend == "pocket"
    castvoice("voice", "import", exported, "--replace", cwd=tmp_path, env=env)


@pytest.mark.slow
@needs_eval
def test_pocket_default_weights_offline_fail_with_one_line(tmp_path):
    pytest.importorskip("pocket_tts", reason="the pocket extra is not installed (pip install castvoice[pocket])")
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "CASTVOICE_VOICES": str(tmp_path / "library")}
    done = castvoice("voice", "create", "Jfk", "--from", JFK, "--backend", "pocket", cwd=tmp_path, env=env, check=False)
    assert done.returncode == 2
    assert "Pocket TTS could not load its weights for 'english'" in done.stderr and "kyutai/pocket-tts" in done.stderr
    assert not (tmp_path / "library").exists()


# ---------------------------------------------------------------------------
# ElevenLabs, against a local stand-in for its API
# ---------------------------------------------------------------------------

GOOD_KEY = "sk-test-good"
VOICE_ID = "cvTestVoice01"
SPEECH = np.round(16_000 * np.sin(np.arange(4_801) / 24_000 * 2 * np.pi * 220)).astype("<i2")  # 0.2 s of PCM


class FakeElevenLabs(BaseHTTPRequestHandler):
    """Answers the three endpoints castvoice uses; records every request it gets."""

    protocol_version = "HTTP/1.1"
    requests: list[dict] = []

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _handle(self):
        url = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.requests.append({"method": self.command, "path": url.path, "query": urllib.parse.parse_qs(url.query),
                              "headers": dict(self.headers), "body": body})
        if self.headers.get("xi-api-key") != GOOD_KEY:
            return self._json(401, {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})
        if (self.command, url.path) == ("POST", "/v1/voices/add"):
            return self._json(200, {"voice_id": VOICE_ID, "requires_verification": False})
        if (self.command, url.path) == ("GET", "/v1/voices"):
            return self._json(200, {"voices": [{"voice_id": VOICE_ID, "name": "Jfk"}]})
        if (self.command, url.path) == ("POST", f"/v1/text-to-speech/{VOICE_ID}/stream"):
            return self._stream_pcm(SPEECH.tobytes())
        return self._json(404, {"detail": {"status": "voice_not_found", "message": "A voice with that id was not found."}})

    def _json(self, status: int, payload: dict):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream_pcm(self, pcm: bytes):
        self.send_response(200)
        self.send_header("Content-Type", "audio/pcm")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(pcm), 1001):  # odd sizes: samples are cut across chunks
            piece = pcm[start : start + 1001]
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def elevenlabs_api(tmp_path, monkeypatch):
    """The stand-in's address, named as `url` in a config file that has no key, and its request log."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeElevenLabs)
    FakeElevenLabs.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "config.toml"
    config.write_text(f'[elevenlabs]\nurl = "http://127.0.0.1:{server.server_port}"\n', encoding="utf-8")
    monkeypatch.setenv("CASTVOICE_CONFIG", str(config))
    monkeypatch.delenv("ELEVENLABS_API_KEY", raising=False)
    yield FakeElevenLabs.requests
    server.shutdown()
    server.server_close()


def _form_parts(request: dict) -> list:
    head = f"Content-Type: {request['headers']['Content-Type']}\r\n\r\n".encode()
    return email.parser.BytesParser().parsebytes(head + request["body"]).get_payload()


def test_elevenlabs_is_never_contacted_without_a_key(elevenlabs_api, tmp_path):
    references = [np.zeros(48_000, np.float32)]
    with pytest.raises(CastvoiceError, match="ElevenLabs is not configured: set ELEVENLABS_API_KEY"):
        make_profile("Jfk", "elevenlabs", references, 0, "test")
    with pytest.raises(CastvoiceError, match="ElevenLabs is not configured"):
        get_tts("elevenlabs")
    sample = tmp_path / "me.wav"
    sf.write(sample, np.zeros(48_000, np.float32), 16_000)
    done = castvoice("voice", "create", "Me", "--from", sample, "--backend", "elevenlabs", cwd=tmp_path,
                     env={"CASTVOICE_VOICES": str(tmp_path / "library")}, check=False)
    assert done.returncode == 2 and "ElevenLabs is not configured" in done.stderr
    assert elevenlabs_api == []  # nothing was sent


def test_elevenlabs_clones_a_voice_and_streams_its_speech(elevenlabs_api, monkeypatch, tmp_path):
    monkeypatch.setenv("ELEVENLABS_API_KEY", GOOD_KEY)
    references = [np.full(32_000, 0.25, np.float32), np.full(48_000, -0.25, np.float32)]
    profile = make_profile("Jfk", "elevenlabs", references, 0, "test")
    assert profile.state == {"voice": VOICE_ID, "model": "eleven_multilingual_v2", "speed": 1.0, "language": "en-us"}
    added = elevenlabs_api[0]
    assert (added["method"], added["path"], added["headers"]["xi-api-key"]) == ("POST", "/v1/voices/add", GOOD_KEY)
    parts = {(p.get_param("name", header="content-disposition"), p.get_filename()): p.get_payload(decode=True)
             for p in _form_parts(added)}
    assert parts[("name", None)] == b"Jfk"
    uploads = [sf.read(io.BytesIO(data), dtype="float32") for (field, file), data in parts.items() if field == "files"]
    assert [(len(audio), rate) for audio, rate in uploads] == [(32_000, 16_000), (48_000, 16_000)]

    tts, voice, speed = speaking_voice(load_profile(save_profile(profile, tmp_path)))
    assert (tts.name, voice, speed, tts.sample_rate) == ("elevenlabs", VOICE_ID, 1.0, 24_000)
    assert tts.voices() == [VOICE_ID]
    chunks = list(tts.stream(TWENTY_WORDS, voice))
    assert len(chunks) == len(split_text(TWENTY_WORDS)) == 2
    for chunk in chunks:  # 16-bit PCM decoded across chunk boundaries
        assert chunk.dtype == np.float32
        np.testing.assert_array_equal(chunk, SPEECH / np.float32(32_768))
    spoken = [r for r in elevenlabs_api if r["path"].endswith("/stream")]
    assert [json.loads(r["body"]) for r in spoken] == [
        {"text": piece, "model_id": "eleven_multilingual_v2"} for piece in split_text(TWENTY_WORDS)]
    assert all(r["query"] == {"output_format": ["pcm_24000"]} for r in spoken)


def test_elevenlabs_names_a_refused_key_and_an_unknown_voice_in_one_line(elevenlabs_api, monkeypatch):
    monkeypatch.setenv("ELEVENLABS_API_KEY", "sk-test-revoked")
    tts = get_tts("elevenlabs")
    with pytest.raises(CastvoiceError, match=r"ElevenLabs refused the API key \(401\): Invalid API key"):
        tts.synthesize("Hello.", VOICE_ID)
    get_tts.cache_clear()
    monkeypatch.setenv("ELEVENLABS_API_KEY", GOOD_KEY)
    with pytest.raises(CastvoiceError, match="ElevenLabs answered 404: A voice with that id was not found"):
        get_tts("elevenlabs").synthesize("Hello.", "nobody")
    with pytest.raises(CastvoiceError, match="an ElevenLabs voice is a voice id"):
        get_tts("elevenlabs").stream("Hello.", np.zeros(16_000, np.float32))
