"""Offline vLLM on a GPU (the ``[vllm]`` extra), under the same contract as the other backends.

- No exception escapes ``chat``: a missing vLLM, an engine that fails to load, a generate call that
  raises, or an output missing for a request each come back as replies with ``error`` (the judge
  records them as ``failed``, and the next build retries them).
- One engine per process: it loads on first use with the configured ``gpu_memory_utilization`` and
  ``max_model_len``; a backend that asks for a different engine in the same process is refused per
  request, since vLLM does not hand GPU memory back reliably within a process.
- DuckDB runs UDFs on several threads: every call goes to the engine under one lock, each call's
  whole batch in one ``LLM.chat`` (vLLM batches it on the GPU).
- Label answers are constrained with ``SamplingParams(structured_outputs=StructuredOutputsParams(
  choice=...))``, the structured-output API of every vLLM the extra allows (0.11 and later; the
  older ``GuidedDecodingParams`` was removed in 0.12).

Tested only against a stand-in module with vLLM's interface (tests/test_vllm_backend.py); not run on
a GPU here. ``benchmarks/vllm_check.py`` is the check to run where vLLM and a GPU exist.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from udfs.scorers.backends.base import ChatRequest, Reply, share_wall_time


@dataclass(frozen=True)
class EngineConfig:
    """What identifies the process's one engine."""

    model: str
    max_model_len: int = 4096
    gpu_memory_utilization: float = 0.9


#: the process's engine, loaded once; the lock serialises loading and every generate call
_ENGINE: dict[str, Any] = {}
_LOCK = threading.Lock()


def _engine(config: EngineConfig):
    """The loaded engine for ``config``; raises if the process already runs a different one."""
    loaded = _ENGINE.get("config")
    if loaded is not None and loaded != config:
        raise RuntimeError(f"this process already runs a vLLM engine for {loaded}; one engine per process")
    if loaded is None:
        try:
            from vllm import LLM
        except ImportError as exc:
            raise RuntimeError("backend 'vllm' needs the [vllm] extra: pip install -e '.[vllm]' (a GPU)") from exc
        _ENGINE["llm"] = LLM(
            model=config.model,
            max_model_len=config.max_model_len,
            gpu_memory_utilization=config.gpu_memory_utilization,
            seed=0,
        )
        _ENGINE["config"] = config
    return _ENGINE["llm"]


class VllmBackend:
    """Chat completions with an in-process ``vllm.LLM``; a whole batch per engine call."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        max_model_len: int = 4096,
        gpu_memory_utilization: float = 0.9,
        choices: Sequence[str] = (),
    ) -> None:
        self.model = model
        self.config = EngineConfig(model, int(max_model_len), float(gpu_memory_utilization))
        self.choices = tuple(choices)

    def _params(self, request: ChatRequest):
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        choices = request.choices or self.choices
        constrained = StructuredOutputsParams(choice=list(choices)) if choices else None
        return SamplingParams(
            temperature=0.0,
            max_tokens=request.max_tokens,
            logprobs=request.top_logprobs or None,
            structured_outputs=constrained,
        )

    def chat(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        if not requests:
            return []
        started = time.perf_counter()
        try:
            with _LOCK:
                llm = _engine(self.config)
                outputs = llm.chat([list(r.messages) for r in requests], [self._params(r) for r in requests],
                                   use_tqdm=False)  # fmt: skip
            replies = [self._reply(output) for output in outputs]
            if len(replies) != len(requests):
                raise RuntimeError(f"{len(requests)} requests got {len(replies)} outputs")
        except Exception as exc:  # noqa: BLE001 - the contract: every failure is a reply with an error
            replies = [Reply(error=f"vllm: {type(exc).__name__}: {str(exc)[:300]}") for _ in requests]
        return share_wall_time(replies, time.perf_counter() - started)

    @staticmethod
    def _reply(output) -> Reply:
        """One request's answer; a malformed output is that request's failure, not the batch's."""
        try:
            completion = output.outputs[0]
            first = completion.logprobs[0] if completion.logprobs else {}
            top = {lp.decoded_token: lp.logprob for lp in first.values() if lp.decoded_token is not None}
            usage = {"tokens_in": len(output.prompt_token_ids or ()), "tokens_out": len(completion.token_ids or ())}
            return Reply(text=completion.text, top_logprobs=top, **usage)
        except (AttributeError, IndexError, TypeError) as exc:
            return Reply(error=f"vllm: malformed output ({type(exc).__name__}: {str(exc)[:200]})")
