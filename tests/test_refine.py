"""L3 editors and L4 QA, piece by piece: triage, guards on planted bad edits, strict QA reading, verdicts."""

from __future__ import annotations

import gzip
import json

import orjson
import pytest

from udfs.editors.guards import Limits, reject_reason, similarity
from udfs.editors.triage import needs_llm
from udfs.knowledge.qa import agreement, parse_qa, verdict
from udfs.repairs import repair

FURNITURE = ("Home", "Menu", "Share this", "Next page", "Log in", "Print", "Subscribe", "Top")


def furnished(text: str) -> str:
    """A real text laid out as a web page: a menu line after every two sentences."""
    sentences = [s.strip() + "." for s in text.split(". ") if s.strip()]
    lines = []
    for i, sentence in enumerate(sentences):
        if i % 2 == 0:
            lines.append(FURNITURE[(i // 2) % len(FURNITURE)])
        lines.append(sentence)
    return "\n".join(lines)


@pytest.fixture(scope="module")
def address(corpus) -> str:
    speech = json.loads(sorted(corpus["sotu"].paths[0].glob("*.json"))[-4].read_text())["text"]
    return speech[: speech.index(". ", 900) + 1]


@pytest.fixture(scope="module")
def german(corpus) -> str:
    with gzip.open(corpus["fortunes"].paths[0]) as fh:
        texts = [orjson.loads(line) for line in fh]
    return next(t["text"] for t in texts if t.get("lang_hint") == "de" and len(t["text"]) > 600)


def test_triage_sends_only_what_repairs_leave_behind(address):
    assert needs_llm(repair(address)) is None
    assert needs_llm(repair(furnished(address))) == "page_furniture"
    assert needs_llm(address + " See <b>this</b> &amp; that.") == "markup_residue"


def test_guards_reject_planted_bad_edits_and_pass_a_cleanup(address, german):
    page = repair(furnished(address))
    cleaned = "\n".join(line for line in page.splitlines() if line not in FURNITURE)
    assert reject_reason(page, cleaned) is None  # the edit an editor should make
    assert similarity(page, cleaned) > 0.8
    summary = address.split(". ")[0] + "."
    assert reject_reason(page, summary) == "too_much_removed"
    assert reject_reason(page, page + "\n" + address) == "too_much_added"
    shuffled = " ".join(sorted(cleaned.split()))
    assert reject_reason(page, shuffled) == "drifted"
    assert reject_reason(german[: len(page)], page[: len(german)]) == "language_changed"
    assert reject_reason(page, "   ") == "empty_edit"
    assert reject_reason(page, summary, Limits(min_length_ratio=0.0, min_similarity=0.0)) is None


def test_qa_answers_are_read_strictly():
    raw = "Question: What does APT install?\nAnswer: Debian packages\nEvidence: APT installs Debian packages."
    assert parse_qa(raw) == {
        "question": "What does APT install?",
        "answer": "Debian packages",
        "evidence": "APT installs Debian packages.",
    }
    assert parse_qa("Question: What?\nAnswer: this") is None  # no evidence
    assert parse_qa(raw + "\nAnswer: something else") is None  # two answers
    assert parse_qa("The question is what APT installs.") is None
    assert parse_qa(None) is None


def test_verdicts_need_evidence_in_the_source_and_agreeing_answers():
    source = "APT is the package manager of Debian.\nAPT installs Debian packages from the archive."
    qa = parse_qa("Question: What does APT install?\nAnswer: Debian packages\nEvidence: APT installs Debian packages")
    assert verdict(qa, source, "It installs Debian packages.") == ("verified", 0.6667)
    assert verdict(qa, source, "The archive.")[0] == "answers_disagree"
    invented = dict(qa, evidence="APT installs every package in the world.")
    assert verdict(invented, source, "Debian packages") == ("evidence_not_in_source", 0.0)
    assert agreement("the Debian packages", "Debian packages!") == 1.0
