"""Extractive facts for L4: definitional sentences turned into question-answer pairs.

A sentence "X is a Y." whose subject X is a name yields the question "What is X?" with the answer
"a Y" and the sentence itself as evidence. The evidence is cut from the source and the answer from
the evidence, so checking one against the other proves only that the cut was made: such a pair is
``extracted``, never ``verified`` (which needs an independent pass), and var ``l4_verdicts`` decides
whether L4 publishes extracted pairs.
"""

from __future__ import annotations

import re
from typing import TypedDict

from udfs.knowledge.qa import evidence_in_source

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


def check(answer: str, evidence: str, source: str) -> str:
    """``extracted`` when the evidence occurs in the source (the shared rule) and holds the answer; else
    ``unsupported``. No confidence: nothing independent looked at the pair."""
    return "extracted" if answer and answer in evidence and evidence_in_source(evidence, source) else "unsupported"
