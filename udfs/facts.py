"""Extractive facts for L4: definitional sentences turned into question-answer pairs.

A sentence "X is a Y." in the source yields the question "What is X?" with the answer
"a Y" and the sentence itself as evidence. Answers are spans of the source, so the
extractive verifier can always check them.
"""

from __future__ import annotations

import re
from typing import TypedDict

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_DEFINITION = re.compile(
    r"^(?:The |An? )?(?P<subject>[A-Z][\w\-./+ ]{1,60}?) (?P<verb>is|are) (?P<answer>(?:a|an|the) [^.;:!?]{8,160})\.$"
)


class Fact(TypedDict):
    question: str
    answer: str
    evidence: str


def definitional_facts(text: str, limit: int = 3) -> list[Fact]:
    """Up to ``limit`` (question, answer, evidence) triples from sentences of the form "X is a Y."."""
    facts: list[Fact] = []
    for paragraph in text.split("\n"):
        for sentence in _SENTENCE_END.split(paragraph.strip()):
            match = _DEFINITION.match(sentence.strip())
            if not match:
                continue
            subject, verb = match["subject"].strip(), match["verb"]
            question = f"What {verb} {subject}?"
            facts.append(Fact(question=question, answer=match["answer"], evidence=sentence.strip()))
            if len(facts) == limit:
                return facts
    return facts


def verify(answer: str, evidence: str, source: str) -> tuple[str, float]:
    """Extractive check: the evidence must occur in the source and contain the answer."""
    if evidence and evidence in source and answer in evidence:
        return "verified", 1.0
    return "unsupported", 0.0
