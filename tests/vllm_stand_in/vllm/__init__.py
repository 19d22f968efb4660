"""A stand-in for vLLM's offline interface (``LLM``, ``SamplingParams``), for tests on machines without a GPU.

It mirrors the documented signatures the backend uses and checks how it is called: engines built,
calls that overlap, the parameters of each request. Answers are computed, not generated: with a
structured-output choice the first choice, else the start of the prompt. Faults are planted through
the messages: ``RAISE`` (the call fails), ``DROP`` (one output short), ``MALFORMED`` (an output
without completions); a model named ``unloadable`` fails to load.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from vllm.sampling_params import SamplingParams, StructuredOutputsParams

__all__ = ["LLM", "SamplingParams", "StructuredOutputsParams"]

#: what the tests read back: every engine built, and the most calls that ever ran at once
ENGINES: list[LLM] = []
STATE = {"running": 0, "max_running": 0}
_COUNT = threading.Lock()


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    logprobs: list[dict[int, Logprob]] | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput] = field(default_factory=list)


class LLM:
    def __init__(self, model: str, *, max_model_len: int | None = None, gpu_memory_utilization: float = 0.9,
                 seed: int = 0, **engine_args: object) -> None:  # fmt: skip
        if model == "unloadable":
            raise OSError(f"{model} is not a model this stand-in can load")
        self.model, self.max_model_len, self.gpu_memory_utilization = model, max_model_len, gpu_memory_utilization
        self.calls: list[list[SamplingParams]] = []
        ENGINES.append(self)

    def chat(self, messages, sampling_params=None, use_tqdm=True, **kwargs) -> list[RequestOutput]:
        with _COUNT:
            STATE["running"] += 1
            STATE["max_running"] = max(STATE["max_running"], STATE["running"])
        try:
            time.sleep(0.02)  # long enough for unserialised callers to overlap
            params = sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(messages)
            self.calls.append(params)
            text = " ".join(m["content"] for conversation in messages for m in conversation)
            if "RAISE" in text:
                raise RuntimeError("CUDA error: an illegal memory access was encountered")
            outputs = [self._answer(i, conv, p) for i, (conv, p) in enumerate(zip(messages, params, strict=True))]
            return outputs[:-1] if "DROP" in text else outputs
        finally:
            with _COUNT:
                STATE["running"] -= 1

    def _answer(self, index: int, conversation: list[dict[str, str]], params: SamplingParams) -> RequestOutput:
        prompt = conversation[-1]["content"]
        prompt_ids = list(range(len(prompt.split())))
        if "MALFORMED" in prompt:
            return RequestOutput(str(index), prompt_ids, [])
        choices = params.structured_outputs.choice if params.structured_outputs else None
        text = choices[0] if choices else " ".join(prompt.split()[: params.max_tokens])
        logprobs = None
        if params.logprobs:
            logprobs = [{0: Logprob(-0.1, 1, text), 1: Logprob(-2.5, 2, "other")}]
        return RequestOutput(str(index), prompt_ids, [CompletionOutput(0, text, [0] * len(text.split()), logprobs)])
