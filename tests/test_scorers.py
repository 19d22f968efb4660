"""Scorers against real backends: llama.cpp on CPU, and llama_cpp.server over HTTP behind a fault-injecting proxy."""

from __future__ import annotations

import json
import math

import pytest

from udfs.scorers import config as scorer_config
from udfs.scorers.backends.base import Reply
from udfs.scorers.backends.llamacpp import LlamaCppBackend
from udfs.scorers.backends.openai import OpenAIBackend
from udfs.scorers.base import FAILED, OK, UNPARSED
from udfs.scorers.judge import LLMJudge
from udfs.scorers.prompts import PROMPTS, load_prompt

EDU = load_prompt("edu", "v1")
DOMAIN = load_prompt("domain", "v1")


@pytest.fixture(scope="module")
def texts(corpus) -> dict[str, str]:
    """Real documents of different worth: an address, an e-mail, a handbook page, a fortune."""
    sotu = sorted(corpus["sotu"].paths[0].glob("*.json"))[-3]
    spam = sorted(corpus["spamassassin"].paths[0].glob("*/*.json"))[7]
    from udfs.extract import extract_html

    page = sorted(corpus["debian_handbook"].paths[0].glob("en-US/sect.*.html"))[5]
    return {
        "address": json.loads(sotu.read_text())["text"][:1500],
        "email": json.loads(spam.read_text())["text"][:1500],
        "handbook": extract_html(page.read_text()).text[:1500],
    }


# -- strict reading of answers --------------------------------------------------------------------


def test_digit_answer_is_the_expected_value_of_the_digit_probabilities():
    reply = Reply(text="3", top_logprobs={"3": math.log(0.5), "4": math.log(0.3), " 2": math.log(0.1), "A": -1.0})
    score = EDU.read(reply)
    assert score.status == OK and score.label == "3"
    assert score.score == pytest.approx((3 * 0.5 + 4 * 0.3 + 2 * 0.1) / 0.9, abs=1e-4)
    assert json.loads(score.raw)["text"] == "3"


def test_answers_that_are_not_in_the_required_form_are_unparsed_with_their_raw_text():
    assert EDU.read(Reply(text="The", top_logprobs={"The": -0.1, "I": -2.5, "3": -4.0})).status == UNPARSED
    assert EDU.read(Reply(text="Score: 3")).status == UNPARSED  # without log-probabilities: a bare digit only
    assert EDU.read(Reply(text=" 4.")).score == 4.0
    unparsed = DOMAIN.read(Reply(text="Technology and science"))
    assert unparsed.status == UNPARSED and "Technology and science" in unparsed.raw
    assert DOMAIN.read(Reply(text=" Politics.")).label == "politics"
    assert EDU.read(Reply(error="HTTP 500")).status == FAILED


def test_unknown_prompt_version_names_the_prompts_there_are():
    with pytest.raises(FileNotFoundError, match="edu-v1"):
        load_prompt("edu", "v9")


def test_prompt_dirs_from_the_environment_come_first(tmp_path, monkeypatch):
    (tmp_path / "edu-v2.toml").write_text((PROMPTS / "edu-v1.toml").read_text().replace("strict", "kind"))
    monkeypatch.setenv("TIERHOUSE_PROMPT_DIRS", str(tmp_path))
    assert load_prompt("edu", "v2").system.startswith("You are a kind teacher")
    assert not (PROMPTS / "edu-v2.toml").exists()


# -- llama.cpp on CPU -----------------------------------------------------------------------------


def test_llamacpp_judges_real_documents_and_loads_the_model_once(texts):
    edu = scorer_config.judge(json.dumps({"prompt": "edu", "version": "v1"}))
    domain = scorer_config.judge(json.dumps({"prompt": "domain", "version": "v1"}))
    assert edu.backend is domain.backend and isinstance(edu.backend, LlamaCppBackend)
    assert edu.id == scorer_config.judge_id(json.dumps({"prompt": "edu", "version": "v1"}))
    scores = edu.score(list(texts.values()))
    assert [s.status for s in scores] == [OK] * 3
    assert all(0 <= s.score <= 5 for s in scores)
    labels = domain.score(list(texts.values()))
    assert all(s.status in (OK, UNPARSED) and s.raw for s in labels)
    assert all(s.label in DOMAIN.choices for s in labels if s.status == OK)
    # deterministic: the same text, the same score
    assert edu.score([texts["address"]])[0].score == scores[0].score


# -- an OpenAI-compatible server over HTTP --------------------------------------------------------


def test_openai_backend_against_llama_cpp_server_matches_the_cpu_backend(llm_server, texts):
    judge = LLMJudge(OpenAIBackend("smollm2-135m-instruct", llm_server, concurrency=4), EDU)
    over_http = judge.score(list(texts.values()))
    assert [s.status for s in over_http] == [OK] * 3 and all(0 <= s.score <= 5 for s in over_http)
