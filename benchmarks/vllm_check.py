"""The vLLM backend on a real GPU: a tiny model judging texts batched against one request at a time.

    python benchmarks/vllm_check.py [--model HuggingFaceTB/SmolLM2-135M-Instruct] [--docs 256]
        [--gpu-memory-utilization 0.3] [--max-model-len 2048]

Needs a GPU and the ``[vllm]`` extra, with the model already in the local Hugging Face cache (or a
local folder given as ``--model``). Everything goes through ``udfs.scorers.backends.vllm`` and the
edu judge, as a build would: the same texts scored in one batch and then one call per text. Prints
docs/s for each, their ratio, the share of answers that are exactly one of the labels, and any failures;
``--json`` prints the same as one JSON object for RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEXTS = [
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen inside chloroplasts.",
    "BUY NOW!!! limited offer click here click here free free free",
    "The French Revolution began in 1789 and reshaped ideas of citizenship across Europe.",
    "lol idk what ur talking about tbh",
]


def answer(score) -> str:
    """The text the model answered (a digit judge keeps it inside ``raw`` with the log-probabilities)."""
    return str(json.loads(score.raw)["text"]) if score.raw else ""


def run(model: str, docs: int, utilization: float, max_model_len: int) -> dict[str, object]:
    from udfs.scorers.backends.vllm import VllmBackend
    from udfs.scorers.base import OK
    from udfs.scorers.judge import LLMJudge
    from udfs.scorers.prompts import load_prompt

    judge = LLMJudge(VllmBackend(model, max_model_len, utilization), load_prompt("edu", "v1"))
    texts = [f"{TEXTS[i % len(TEXTS)]} ({i})" for i in range(docs)]
    judge.score(texts[:4])  # load the engine and warm it up outside the timings
    started = time.perf_counter()
    batched = judge.score(texts)
    batched_s = time.perf_counter() - started
    started = time.perf_counter()
    single = [judge.score([text])[0] for text in texts]
    single_s = time.perf_counter() - started
    labels = set(judge.prompt.choices)
    everything = batched + single
    n = len(everything)
    return {
        "machine": platform.node(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model,
        "docs": docs,
        "batched_docs_per_s": round(docs / batched_s, 1),
        "one_at_a_time_docs_per_s": round(docs / single_s, 1),
        "batched_speedup": round(single_s / batched_s, 1),
        "ok_share": round(sum(s.status == OK for s in everything) / n, 3),
        "constrained_share": round(sum(answer(s).strip().lower() in labels for s in everything) / n, 3),
        "failures": sorted({s.error for s in everything if s.error})[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.3)
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.model, args.docs, args.gpu_memory_utilization, args.max_model_len)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
