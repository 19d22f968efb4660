"""The vLLM backend's contract, against a stand-in module with vLLM's interface (no GPU here).

The stand-in (tests/vllm_stand_in) is put on ``sys.path`` only for these tests. What it cannot show:
that a real engine loads, fits the memory it is given, or answers well; benchmarks/vllm_check.py is
the check for a GPU.
"""

from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path

import pytest

from udfs.scorers.backends import vllm as backend_module
from udfs.scorers.backends.base import ChatRequest
from udfs.scorers.backends.vllm import VllmBackend
from udfs.scorers.base import FAILED, OK
from udfs.scorers.judge import LLMJudge
from udfs.scorers.prompts import load_prompt

STAND_IN = Path(__file__).parent / "vllm_stand_in"


@pytest.fixture
def stand_in(monkeypatch):
    """The stand-in ``vllm`` importable, and a process with no engine loaded yet."""
    monkeypatch.syspath_prepend(str(STAND_IN))
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(backend_module, "_ENGINE", {})
    module = importlib.import_module("vllm")
    module.ENGINES.clear()
    module.STATE.update(running=0, max_running=0)
    return module


def request(text: str, **kwargs) -> ChatRequest:
    return ChatRequest(({"role": "user", "content": text},), **kwargs)


def test_judge_answers_constrained_to_its_labels(stand_in):
    backend = VllmBackend("tiny-model", max_model_len=2048, gpu_memory_utilization=0.35)
    judge = LLMJudge(backend, load_prompt("edu", "v1"))
    scores = judge.score(["The mitochondria is the powerhouse of the cell.", "buy now!!!"])
    assert [s.status for s in scores] == [OK, OK]
    assert {s.backend for s in scores} == {"vllm"}
    (engine,) = stand_in.ENGINES
    assert (engine.max_model_len, engine.gpu_memory_utilization) == (2048, 0.35)
    (params,) = engine.calls  # the whole batch in one engine call
    wanted = judge.prompt.request("x").choices
    assert [p.structured_outputs.choice for p in params] == [list(wanted)] * 2
    assert {p.temperature for p in params} == {0.0}


def test_free_text_is_not_constrained(stand_in):
    (reply,) = VllmBackend("tiny-model").chat([request("rewrite this sentence please", max_tokens=3)])
    assert reply.text == "rewrite this sentence" and reply.error is None
    assert stand_in.ENGINES[0].calls[0][0].structured_outputs is None


@pytest.mark.parametrize(
    ("model", "texts", "expected"),
    [
        ("unloadable", ["fine"], "OSError: unloadable is not a model"),
        ("tiny-model", ["fine", "RAISE"], "RuntimeError: CUDA error"),
        ("tiny-model", ["fine", "DROP"], "2 requests got 1 outputs"),
    ],
)
def test_every_failure_is_a_failed_score(stand_in, model, texts, expected):
    scores = LLMJudge(VllmBackend(model), load_prompt("edu", "v1")).score(texts)
    assert [s.status for s in scores] == [FAILED] * len(texts)
    assert all(expected in s.error for s in scores)


def test_a_malformed_output_fails_only_its_request(stand_in):
    replies = VllmBackend("tiny-model").chat([request("fine"), request("MALFORMED")])
    assert replies[0].error is None and replies[0].text
    assert "malformed output" in replies[1].error


def test_without_vllm_installed_the_scores_fail(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # what a CPU machine without the extra has
    monkeypatch.setattr(backend_module, "_ENGINE", {})
    (score,) = LLMJudge(VllmBackend("tiny-model"), load_prompt("edu", "v1")).score(["a text"])
    assert score.status == FAILED and "[vllm] extra" in score.error


def test_one_engine_per_process(stand_in):
    first, same = VllmBackend("tiny-model"), VllmBackend("tiny-model")
    assert first.chat([request("a")])[0].error is None and same.chat([request("b")])[0].error is None
    assert len(stand_in.ENGINES) == 1
    (refused,) = VllmBackend("other-model").chat([request("c")])
    assert "already runs a vLLM engine" in refused.error and len(stand_in.ENGINES) == 1


def test_calls_from_many_threads_are_serialised(stand_in):
    backend = VllmBackend("tiny-model")
    results: list = []
    threads = [threading.Thread(target=lambda i=i: results.extend(backend.chat([request(f"doc {i}")])))
               for i in range(8)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and all(r.error is None for r in results)
    assert stand_in.STATE["max_running"] == 1 and len(stand_in.ENGINES) == 1
