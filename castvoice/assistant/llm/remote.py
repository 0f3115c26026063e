"""Models on a server: Ollama, and any OpenAI-compatible server (LM Studio, a llama.cpp server, vLLM, or
OpenAI itself), both streamed over HTTP."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from castvoice.assistant.llm.base import Message, Stream, until_stop
from castvoice.assistant.llm.settings import OLLAMA_MODEL, OLLAMA_URL, OPENAI_MODEL, OPENAI_URL, READ_SECONDS
from castvoice.errors import CastvoiceError

OLLAMA_CONTEXT = 4096  # sent as num_ctx, so that Ollama keeps as much as castvoice counts on
OPENAI_CONTEXT = 8192
# Remote servers tokenize on their side; castvoice counts on at most 3 bytes of UTF-8 per token, which
# over-counts English (about 4 characters a token), so an estimated prompt never overflows the window.
BYTES_PER_TOKEN = 3
MESSAGE_TOKENS = 4  # the role markers around one message
CONNECT_SECONDS = 5.0


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
               stop: Sequence[str] = (), avoid: Sequence[str] = ()) -> Stream:
        """`avoid` is not sent: a server's token ids are not known here."""
        room = self.context_window - self.prompt_tokens(messages)
        if room <= 0:
            raise CastvoiceError(f"the prompt takes about {self.prompt_tokens(messages)} tokens, more than "
                                 f"{self.name}'s window of {self.context_window}")
        request = self._request(messages, min(max_tokens, room), temperature, list(stop))
        return until_stop(self._pieces(*request), stop)

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
