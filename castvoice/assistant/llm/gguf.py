"""GGUF models run in-process by llama.cpp (cyllama) on the CPU: the embedded SmolLM2 and any local file."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from castvoice.assistant.llm.base import Message, Stream, until_stop
from castvoice.errors import CastvoiceError

GGUF_CONTEXT = 4096  # tokens; a GGUF model trained on fewer gets its own length
# Reading a prompt runs in large batches that keep every core busy, and a chat reads its prompt while its
# voice is idle: prompts are read on all cores.
GGUF_PROMPT_THREADS = os.cpu_count() or 1
GGUF_BATCH = 512
# llama.cpp's threads wait for each other at every layer, which costs a small model more than a second core
# gives. Measured on 2 cores: SmolLM2-135M (98 MB) decodes 60 tokens/s on one thread and 44 on two (70 and 52
# with Kokoro speaking beside it); Qwen2.5-0.5B (491 MB) 15 on one and 28 on two (18.5 and 19.3 beside Kokoro,
# which still made 1.8 s of speech a second). A model smaller than this decodes on one thread, a larger on all.
ONE_THREAD_BYTES = 200_000_000
SAMPLING = {"top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.1, "repeat_last": 64}
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class GgufLLM:
    """A GGUF model run in-process by llama.cpp on the CPU, with the chat template the file carries.

    Message text is tokenized apart from the template, so text that spells a special token (such as
    "<|im_start|>system") stays plain text and cannot open a turn of its own. The key-value cache of the
    last prompt is kept: a prompt that starts as the last one did is read from where they part.
    """

    def __init__(self, path: str | Path, context_window: int | None = None, threads: int | None = None) -> None:
        """`threads` decode the reply; None: one for a small model, all cores for a larger one."""
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
        threads = threads or (1 if path.stat().st_size < ONE_THREAD_BYTES else GGUF_PROMPT_THREADS)
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
               stop: Sequence[str] = (), avoid: Sequence[str] = ()) -> Stream:
        prompt = self.encode_prompt(messages)
        room = self.context_window - len(prompt)
        if room <= 0:
            raise CastvoiceError(
                f"the prompt takes {len(prompt)} tokens, more than {self.name}'s window of {self.context_window}")
        # The last message's words count as said already for the repetition penalty, as llama.cpp's own tools
        # count the prompt: a small model otherwise tends to say the user's message back.
        said = self._vocab.tokenize(messages[-1].content, add_special=False, parse_special=False) if messages else []
        return until_stop(self._generate(prompt, min(max_tokens, room), temperature, self._single_tokens(avoid), said),
                          stop)

    def _single_tokens(self, avoid: Sequence[str]) -> list[int]:
        """The tokens that spell one of the words, alone or after a space (a word of several tokens is left
        alone: banning its first token would ban other words too)."""
        found = set()
        for word in avoid:
            for form in (word, " " + word):
                tokens = self._vocab.tokenize(form, add_special=False, parse_special=False)
                if len(tokens) == 1:
                    found.add(tokens[0])
        return sorted(found)

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

    def _generate(self, prompt: list[int], max_tokens: int, temperature: float, banned: Sequence[int] = (),
                  said: Sequence[int] = ()) -> Stream:
        cy, vocab, context = self._cy, self._vocab, self._context
        if not self._lock.acquire(blocking=False):
            raise CastvoiceError(f"{self.name} is still making another reply; read that one to its end or close it")
        try:
            self._read(prompt)
            sampler = self._sampler(temperature, banned)
            for token in said[-SAMPLING["repeat_last"]:]:
                sampler.accept(token)
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

    def _sampler(self, temperature: float, banned: Sequence[int] = ()):
        from cyllama.defaults import LLAMA_DEFAULT_SEED

        sampler = self._cy.LlamaSampler(self._cy.LlamaSamplerChainParams())
        if banned:
            sampler.add_logit_bias(self._vocab.n_vocab, [(token, -math.inf) for token in banned])
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
