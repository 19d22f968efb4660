"""Reading synthesised QA pairs strictly, and verifying them against their source.

A pair is kept only if (1) its evidence span occurs in the source (extractive check) and (2) a
second, independent pass that answers the question from the source alone agrees with the
synthesised answer (token F1, SQuAD-style normalisation).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import TypedDict

_FIELD = re.compile(r"^\s*(question|answer|evidence)\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPACES = re.compile(r"\s+")
MIN_AGREEMENT = 0.5


class QA(TypedDict):
    question: str
    answer: str
    evidence: str


def parse_qa(raw: str | None) -> QA | None:
    """``Question: … / Answer: … / Evidence: …`` (one each, in any order), or None: never guessed."""
    fields: dict[str, list[str]] = {}
    for name, value in _FIELD.findall(raw or ""):
        fields.setdefault(name.lower(), []).append(value.strip().strip('"“”'))
    if sorted(fields) != ["answer", "evidence", "question"] or any(len(v) != 1 or not v[0] for v in fields.values()):
        return None
    return QA(question=fields["question"][0], answer=fields["answer"][0], evidence=fields["evidence"][0])


def _tokens(text: str) -> list[str]:
    text = _ARTICLES.sub(" ", text.lower().translate(str.maketrans("", "", string.punctuation)))
    return _SPACES.sub(" ", text).split()


def agreement(answer: str, other: str) -> float:
    """Token F1 of two answers (lower-cased, no punctuation or articles)."""
    a, b = _tokens(answer), _tokens(other)
    common = sum((Counter(a) & Counter(b)).values())
    if not a or not b or not common:
        return 0.0
    precision, recall = common / len(a), common / len(b)
    return 2 * precision * recall / (precision + recall)


def evidence_in_source(evidence: str, source: str) -> bool:
    """The one evidence rule (ops.qa, the L4 gate, definitional facts): the span occurs in the source
    once every run of whitespace is one space, so a line break where the model wrote a space still counts."""
    span = _SPACES.sub(" ", evidence).strip()
    return bool(span) and span in _SPACES.sub(" ", source)


def verdict(qa: QA, source: str, second_answer: str | None) -> tuple[str, float]:
    """(verdict, confidence): ``verified`` or why not (``evidence_not_in_source``, ``answers_disagree``)."""
    if not evidence_in_source(qa["evidence"], source):
        return "evidence_not_in_source", 0.0
    score = agreement(qa["answer"], second_answer or "")
    return ("verified" if score >= MIN_AGREEMENT else "answers_disagree"), round(score, 4)
