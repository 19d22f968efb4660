"""The gate's pieces on real documents and real Great Expectations: mostly over all batches, failing rows
kept with their keys, examples cut short, the one evidence rule, and the verdict of extracted facts."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from expectations.gate import GateFailed, RowFailure, cut, validate_rows
from expectations.suites import row_expectations
from udfs.facts import check, definitional_facts
from udfs.knowledge.qa import evidence_in_source

LENGTH = "expect_column_value_lengths_to_be_between"


@pytest.fixture(scope="module")
def long_text(corpus) -> str:
    """648,000 characters of real English: State of the Union addresses end to end."""
    speeches = [json.loads(p.read_text())["text"] for p in sorted(corpus["sotu"].paths[0].glob("*.json"))[-40:]]
    return "\n\n".join(speeches)[:648_000]


def _pairs(n: int, start: int = 0) -> pd.DataFrame:
    """``n`` L4 rows that meet every row expectation."""
    return pd.DataFrame(
        [{"qa_id": f"q{i}", "doc_id": f"d{i}", "question": "What is APT?", "answer": "a package manager",
          "evidence": "APT is a package manager.", "verifier": "extractive", "verdict": "extracted",
          "evidence_in_source": True} for i in range(start, start + n)]
    )  # fmt: skip


def test_mostly_is_judged_on_the_counts_of_all_batches_together():
    suite = row_expectations("l4_knowledge", {"mostly": 0.99})
    first, second = _pairs(60), _pairs(60, start=60)
    first.loc[3, "answer"] = ""  # one bad row: 1 of 60 in its batch (98.3%), 1 of 120 overall (99.2%)
    checks, failures = validate_rows([first, second], suite, "qa_id")
    answer = next(c for c in checks if c.column == "answer" and c.expectation == LENGTH)
    assert answer.success and answer.observed.startswith("1 of 120 rows outside (99.17% inside)")
    assert failures == [RowFailure("q3", LENGTH, "answer", "")]  # kept, with its key, though the gate passes
    second.loc[7, "answer"] = ""  # 2 of 120: 98.3% overall
    checks, failures = validate_rows([first, second], suite, "qa_id")
    answer = next(c for c in checks if c.column == "answer" and c.expectation == LENGTH)
    assert not answer.success and [f.key for f in failures] == ["q3", "q67"]


def test_a_failure_shows_about_200_characters_of_a_648_kb_value(long_text):
    rows = _pairs(1)
    rows.loc[0, "answer"] = long_text
    checks, failures = validate_rows([rows], row_expectations("l4_knowledge", {"mostly": 0.99}), "qa_id")
    failed = [c for c in checks if not c.success]
    message = str(GateFailed("tiers.l4_knowledge", 1, failed, []))
    assert [c.column for c in failed] == ["answer"]
    assert len(message) < 1000, message[:2000]
    assert long_text[:200] in message and long_text[:201] not in message and "(648,000 chars)" in message
    assert failures[0].value == cut(long_text) and len(failures[0].value) < 230


def test_evidence_that_differs_from_the_source_only_in_whitespace_is_in_it():
    source = "The stable release\nis maintained by the security team.  It is updated often."
    assert evidence_in_source("The stable release is maintained by the security team.", source)
    assert evidence_in_source("updated\toften", source)
    assert not evidence_in_source("The stable release is maintained by volunteers.", source)
    assert not evidence_in_source("   ", source)


def test_definitional_facts_are_extracted_not_verified():
    text = "Debian is a free operating system developed by volunteers. It ships many packages."
    [fact] = definitional_facts(text)
    assert check(fact["answer"], fact["evidence"], text) == "extracted"
    assert check("a commercial product", fact["evidence"], text) == "unsupported"
    assert check(fact["answer"], fact["evidence"], "Another text entirely.") == "unsupported"
