"""Scorers from configuration: one ``llm`` spec picks the backend, a prompt name and version pick the task.

    {"backend": "llamacpp", "model": "smollm2-135m-instruct"}                    # the CPU default
    {"backend": "openai", "model": "...", "base_url": "http://host:8000/v1",
     "api_key_env": "OPENAI_API_KEY", "concurrency": 16, "timeout_s": 60}           # any compatible server
    {"backend": "vllm", "model": "HuggingFaceTB/SmolLM2-135M-Instruct"}          # a local GPU

A scorer config is ``{"prompt": "edu", "version": "v1", "llm": {...}}`` for an LLM judge, or
``{"scorer": "perplexity", "version": "v1", "model": "gemma-3-270m", "max_tokens": 256}`` for
perplexity under a base model (llama.cpp: it needs the log-likelihood of every token).

Backends and judges are cached per process, so a model loads once however many batches it sees.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from udfs.scorers import perplexity
from udfs.scorers.backends.base import Backend
from udfs.scorers.base import Scorer, ScorerId, model_label
from udfs.scorers.judge import LLMJudge
from udfs.scorers.prompts import load_prompt

BACKENDS = ("llamacpp", "openai", "vllm")
DEFAULT_LLM = {"backend": "llamacpp", "model": "smollm2-135m-instruct"}


def model_name(llm: Mapping[str, Any]) -> str:
    """The model as scorer ids record it (a .gguf path by its file stem)."""
    return model_label(str(llm.get("model", DEFAULT_LLM["model"])))


@lru_cache(maxsize=8)
def backend(llm_json: str) -> Backend:
    llm = dict(json.loads(llm_json))
    kind = llm.pop("backend", "llamacpp")
    if kind == "llamacpp":
        from udfs.scorers.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(**llm)
    if kind == "openai":
        from udfs.scorers.backends.openai import OpenAIBackend

        return OpenAIBackend(**llm)
    if kind == "vllm":
        from udfs.scorers.backends.vllm import VllmBackend

        return VllmBackend(**llm)
    raise ValueError(f"unknown LLM backend {kind!r}; choose one of {BACKENDS}")


def _spec(config_json: str) -> dict[str, Any]:
    spec = json.loads(config_json)
    required = {"version"} if spec.get("scorer") == perplexity.NAME else {"prompt", "version"}
    missing = required - set(spec)
    if missing:
        raise ValueError(f"scorer config {config_json} lacks {sorted(missing)}")
    return spec


def _perplexity_args(spec: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(spec) - {"scorer", "version", "model", "max_tokens", "min_labels", "retrain_share"}
    if unknown:
        raise ValueError(f"perplexity config has unknown keys {sorted(unknown)}; it takes model, version, max_tokens")
    return {
        "model": spec.get("model", perplexity.DEFAULT_MODEL),
        "version": spec["version"],
        "max_tokens": int(spec.get("max_tokens", perplexity.MAX_TOKENS)),
    }


def judge_id(config_json: str) -> ScorerId:
    """The identity of the scorer a config describes, without loading its model."""
    spec = _spec(config_json)
    if spec.get("scorer") == perplexity.NAME:
        return perplexity.perplexity_id(**_perplexity_args(spec))
    prompt = load_prompt(spec["prompt"], spec["version"])
    return ScorerId(prompt.name, model_name(spec.get("llm") or DEFAULT_LLM), prompt.version)


def is_numeric(config_json: str) -> bool:
    """Whether the scorer answers with a number (a rating, a perplexity) rather than a label or text."""
    spec = _spec(config_json)
    return spec.get("scorer") == perplexity.NAME or load_prompt(spec["prompt"], spec["version"]).answer == "digit"


@lru_cache(maxsize=8)
def judge(config_json: str) -> Scorer:
    """A loaded scorer: an LLM judge (prompt through a backend), or a perplexity scorer."""
    spec = _spec(config_json)
    if spec.get("scorer") == perplexity.NAME:
        return perplexity.PerplexityScorer(**_perplexity_args(spec))
    prompt = load_prompt(spec["prompt"], spec["version"])
    llm = spec.get("llm") or DEFAULT_LLM
    return LLMJudge(backend(json.dumps(llm, sort_keys=True)), prompt)
