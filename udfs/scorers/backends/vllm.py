"""Offline vLLM on a GPU: the whole batch goes to ``LLM.chat`` in one call (the ``[vllm]`` extra).

Imported only when a scorer config names ``backend: vllm``. Label prompts use guided decoding
(``choice``) when the installed vLLM offers it, so the answer is always one of the labels.
Not exercised by the test suite, which runs on CPU; see the README for how it was checked.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache

from udfs.scorers.backends.base import ChatRequest, Reply, share_wall_time


@lru_cache(maxsize=2)
def _load(model: str, max_model_len: int):
    try:
        from vllm import LLM
    except ImportError as exc:
        raise ImportError("backend 'vllm' needs the [vllm] extra: pip install -e '.[vllm]' (GPU machines)") from exc
    return LLM(model=model, max_model_len=max_model_len, seed=0)


class VllmBackend:
    name = "vllm"

    def __init__(self, model: str, max_model_len: int = 4096, choices: Sequence[str] = ()) -> None:
        self.model = model
        self.llm = _load(model, max_model_len)
        self.choices = tuple(choices)

    def _params(self, request: ChatRequest):
        from vllm import SamplingParams

        extra = {}
        if self.choices and not request.top_logprobs:
            try:
                from vllm.sampling_params import GuidedDecodingParams

                extra["guided_decoding"] = GuidedDecodingParams(choice=list(self.choices))
            except ImportError:  # newer vLLM renamed it; unguided answers are still parsed strictly
                pass
        return SamplingParams(
            temperature=0.0, max_tokens=request.max_tokens, logprobs=request.top_logprobs or None, **extra
        )

    def chat(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        if not requests:
            return []
        started = time.perf_counter()
        outputs = self.llm.chat(
            [list(r.messages) for r in requests], [self._params(r) for r in requests], use_tqdm=False
        )
        replies = []
        for output in outputs:
            completion = output.outputs[0]
            first = completion.logprobs[0] if completion.logprobs else {}
            top = {lp.decoded_token: lp.logprob for lp in first.values() if lp.decoded_token is not None}
            usage = {"tokens_in": len(output.prompt_token_ids or ()), "tokens_out": len(completion.token_ids or ())}
            replies.append(Reply(text=completion.text, top_logprobs=top, **usage))
        return share_wall_time(replies, time.perf_counter() - started)
