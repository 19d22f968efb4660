"""Extractive facts for L4: definitional sentences turned into question-answer pairs.

A sentence "X is a Y." whose subject X is a name yields the question "What is X?" with the answer
"a Y" and the sentence itself as evidence. Answers are spans of the source, so the
extractive verifier can always check them.
"""

from __future__ import annotations

import re
from typing import TypedDict

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# The subject is a name: up to five capitalised words ("Debian", "APT", "Debian GNU/Linux").
_DEFINITION = re.compile(
    r"^(?P<subject>[A-Z][\w\-./+]*(?: [A-Z0-9][\w\-./+]*){0,4}) (?P<verb>is|are) "
    r"(?P<answer>(?:a|an|the) [^.;:!?]{8,160})\.$"
)
_NOT_NAMES = {"It", "Its", "This", "That", "These", "Those", "They", "He", "She", "There", "Here", "The", "A", "An",
              "What", "Which", "Who", "We", "You", "I", "Our", "My", "His", "Her", "Their", "One", "Each"}  # fmt: skip


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
            if not match or match["subject"].split()[0] in _NOT_NAMES:
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
