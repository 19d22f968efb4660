"""Scorers from configuration: one ``llm`` spec picks the backend, a prompt name and version pick the task.

    {"backend": "llamacpp", "model": "smollm2-135m-instruct"}                    # the CPU default
    {"backend": "openai", "model": "...", "base_url": "http://host:8000/v1",
     "api_key_env": "OPENAI_API_KEY", "concurrency": 16, "timeout_s": 60}           # any compatible server
    {"backend": "vllm", "model": "HuggingFaceTB/SmolLM2-135M-Instruct"}          # a local GPU

Backends and judges are cached per process, so a model loads once however many batches it sees.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from udfs.scorers.backends.base import Backend
from udfs.scorers.base import ScorerId
from udfs.scorers.judge import LLMJudge
from udfs.scorers.prompts import load_prompt

BACKENDS = ("llamacpp", "openai", "vllm")
DEFAULT_LLM = {"backend": "llamacpp", "model": "smollm2-135m-instruct"}


def model_name(llm: Mapping[str, Any]) -> str:
    """The model as scorer ids record it (a .gguf path by its file stem)."""
    model = str(llm.get("model", DEFAULT_LLM["model"]))
    return model.rsplit("/", 1)[-1].removesuffix(".gguf") if model.endswith(".gguf") else model


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
    missing = {"prompt", "version"} - set(spec)
    if missing:
        raise ValueError(f"scorer config {config_json} lacks {sorted(missing)}")
    return spec


def judge_id(config_json: str) -> ScorerId:
    """The identity of the judge a config describes, without loading its model."""
    spec = _spec(config_json)
    prompt = load_prompt(spec["prompt"], spec["version"])
    return ScorerId(prompt.name, model_name(spec.get("llm") or DEFAULT_LLM), prompt.version)


@lru_cache(maxsize=8)
def judge(config_json: str) -> LLMJudge:
    """``{"prompt": "edu", "version": "v1", "llm": {...}}`` as a loaded judge."""
    spec = _spec(config_json)
    prompt = load_prompt(spec["prompt"], spec["version"])
    llm = spec.get("llm") or DEFAULT_LLM
    return LLMJudge(backend(json.dumps(llm, sort_keys=True)), prompt)
