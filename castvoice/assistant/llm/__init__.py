"""Language models behind one chat interface with streamed text, chosen by a spec string and loaded once.

Specs: `embedded[:NAME]` (an instruction model shipped inside PyPI packages: `smollm2`, `qwen0.5b` or
`qwen1.5b`, see `settings.EMBEDDED`; alone, the default chosen by `castvoice bench persona`), `gguf:PATH` (any
local GGUF file), `ollama[:MODEL][@URL]` (an Ollama server) and `openai[:MODEL][@URL]` (any OpenAI-compatible server:
LM Studio, a llama.cpp server, vLLM, or OpenAI itself). GGUF files run in-process on llama.cpp (cyllama).
Defaults for the spec and its options can come from a TOML file (see `settings.load_settings`).

    base      Message, LLMBackend, Stream, complete
    settings  LLMSettings, load_settings, parse_spec
    gguf      GgufLLM (llama.cpp in this process)
    remote    OllamaLLM, OpenAILLM
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from functools import cache

from castvoice.assistant.llm.base import LLMBackend
from castvoice.assistant.llm.gguf import GgufLLM
from castvoice.assistant.llm.remote import OllamaLLM, OpenAILLM
from castvoice.assistant.llm.settings import DEFAULT_SPEC, LLMSettings, Spec, load_settings, parse_spec

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
