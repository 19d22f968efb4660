"""Instant, deterministic operators in the LLM's place, and the faults the gate tests plant in operators.

The suite makes no LLM call unless a test asks (about a second a call on 2 cores). The gate tests
need an edu judge and an editor that answer hundreds of texts per build, so these stand in for
SmolLM2 behind the same ``th_judge`` UDF, the same prompts, cache and guards: only the answer is
computed here. Every other operator (extraction, language ID, rules, dedup, guards) is the real one.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence

import pytest

from udfs import extract, langid
from udfs.scorers import config as scorer_config
from udfs.scorers.base import OK, Score

_TERMINAL = (".", "!", "?", ":", ";", '"', ")")


def edu_estimate(text: str) -> float:
    """A 0-5 rating from length and the share of letters (long prose high, short or symbol-heavy text low)."""
    words = len(text.split())
    letters = len(re.sub(r"[^\w]|\d|_", "", text)) / max(len(text), 1)
    return round(5 * min(1.0, math.log1p(words) / math.log(400)) * min(1.0, letters / 0.8), 3)


def tidy(text: str, question: str = "") -> str:
    """What a good editor does to page furniture: drop the short lines that are not sentences."""
    lines = [line for line in text.splitlines() if len(line.split()) > 3 or line.strip().endswith(_TERMINAL)]
    return "\n".join(lines) if lines else text


Answer = Callable[[str, str], Score]  # (text, question) -> what the LLM would have answered


class _StandIn:
    """A scorer with the real prompt's identity whose answer is ``answer(text, question)``."""

    def __init__(self, config: str, answer: Answer) -> None:
        self.id = scorer_config.judge_id(config)
        self.answer = answer

    def score(self, texts: Sequence[str], questions: Sequence[str] | None = None) -> list[Score]:
        return [self.answer(t, q) for t, q in zip(texts, questions or [""] * len(texts), strict=True)]


def judged(score: Callable[[str], float]) -> Answer:
    return lambda text, question: Score(OK, score(text), None, json.dumps({"stand_in": True}))


def written(write: Callable[[str, str], str]) -> Answer:
    """A generator's answer (an edit, a QA pair, a verifier's answer) as raw text."""
    return lambda text, question: Score(OK, None, None, write(text, question))


def install(monkeypatch: pytest.MonkeyPatch, **answers: Answer) -> None:
    """Answer the prompts named (``edu``, ``cleanup``, ``qa``, ``answer``) with these; any other is refused."""

    def judge(config: str):
        prompt = json.loads(config).get("prompt")
        if prompt not in answers:
            raise AssertionError(f"these tests make no LLM call; prompt {prompt!r} was asked")
        return _StandIn(config, answers[prompt])

    monkeypatch.setattr(scorer_config, "judge", judge)


# -- planted faults -------------------------------------------------------------------------------


def broken_extractor(monkeypatch: pytest.MonkeyPatch, share: float = 0.3) -> None:
    """The extractor returns empty text for ``share`` of HTML pages (chosen by a hash of the page)."""
    real = extract.extract

    def faulty(content: str, content_type: str) -> extract.Extracted:
        if content_type == "text/html" and (hash_share(content) < share):
            return extract.Extracted("", error="no_main_text")
        return real(content, content_type)

    monkeypatch.setattr(extract, "extract", faulty)


def hash_share(text: str) -> float:
    """A stable number in [0, 1) per text."""
    import xxhash

    return xxhash.xxh64_intdigest(text.encode()) / 2**64


def undetermined_language_for(monkeypatch: pytest.MonkeyPatch, texts: list[str]) -> None:
    """Language ID answers ``und`` for every one of ``texts`` (a whole source's new documents)."""
    real = langid.identify
    words = {" ".join(t.split()) for t in texts}

    def faulty(text: str) -> tuple[str, float]:
        return ("und", 0.0) if " ".join(text.split()) in words else real(text)

    monkeypatch.setattr(langid, "identify", faulty)


def constant(value: float) -> Callable[[str], Score]:
    """A degenerate scorer: the same score for every text."""
    return judged(lambda text: value)


def _quoted_line(text: str) -> str:
    """The first line that is a sentence of eight words or more (else the whole text)."""
    return next((line for line in text.splitlines() if len(line.split()) >= 8 and line.endswith(".")), text)


def qa_pair(text: str, question: str = "") -> str:
    """A generator's QA pair: a question about the first full sentence, its last words as the answer."""
    evidence = _quoted_line(text)
    return f"Question: How does the sentence end?\nAnswer: {reader(text)}\nEvidence: {evidence}"


def reader(text: str, question: str = "") -> str:
    """A verifier that reads the answer from the source itself: the first full sentence's last four words."""
    return " ".join(_quoted_line(text).rstrip(".").split()[-4:])


def first_sentence(text: str, question: str = "") -> str:
    """An editor gone wrong: it summarises a page as its first sentence (the guards must reject it)."""
    body = tidy(text)
    return body[: body.index(". ") + 1] if ". " in body else body[: len(body) // 4]
