"""What each tier must satisfy before it is published, as Great Expectations suites in code.

Row expectations run on the rows a build adds or changes; table expectations run on
metrics of the whole audit snapshot. Every threshold comes from the ``gate`` mapping,
which the build fills from the dbt vars in ``dbt_project/dbt_project.yml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import great_expectations as gx

from udfs.scorers.perplexity import NAME as PERPLEXITY

E = gx.expectations


def _not_null(*columns: str) -> list:
    return [E.ExpectColumnValuesToNotBeNull(column=c) for c in columns]


def _lengths(column: str, low: int, high: int) -> Any:
    return E.ExpectColumnValueLengthsToBeBetween(column=column, min_value=low, max_value=high)


def row_expectations(tier: str, gate: Mapping[str, Any]) -> list:
    """Expectations on the new or changed rows of ``tier``."""
    max_chars = int(gate["max_chars"])
    languages = list(gate["languages"])
    if tier == "l1_clean":
        return [
            *_not_null("doc_id", "source", "content_hash", "text", "kept"),
            _lengths("text", 0, max_chars),
            E.ExpectColumnValuesToBeBetween(column="language_score", min_value=0, max_value=1),
        ]
    if tier == "l2_selected":
        return [
            *_not_null("doc_id", "source", "content_hash", "text", "language", "quality_score"),
            _lengths("text", int(gate["min_chars"]), max_chars),
            E.ExpectColumnValuesToBeInSet(column="language", value_set=languages),
            E.ExpectColumnValuesToBeBetween(column="quality_score", min_value=0, max_value=1),
        ]
    if tier == "l3_refined":
        return [
            *_not_null("doc_id", "source", "content_hash", "text", "text_before", "editor", "prompt_version"),
            _lengths("text", 1, max_chars),
            E.ExpectColumnValuesToBeBetween(column="edit_ratio", min_value=float(gate["min_edit_ratio"]), max_value=1),
        ]
    if tier == "l4_knowledge":
        return [
            *_not_null("qa_id", "doc_id", "question", "answer", "evidence", "verifier"),
            _lengths("question", 1, 1000),
            _lengths("answer", 1, 1000),
            E.ExpectColumnValuesToBeInSet(column="verdict", value_set=["verified"]),
            E.ExpectColumnValuesToBeBetween(column="confidence", min_value=0, max_value=1),
            E.ExpectColumnValuesToBeInSet(column="evidence_in_source", value_set=[True]),
        ]
    if tier == "scores":
        return [
            *_not_null("score_id", "content_hash", "scorer", "model", "prompt_version", "status"),
            E.ExpectColumnValuesToBeInSet(column="status", value_set=["ok", "unparsed", "failed"]),
            E.ExpectColumnValuesToBeInSet(column="score_in_range", value_set=[True]),
            E.ExpectColumnValuesToBeInSet(column="unparsed_without_raw", value_set=[False]),
        ]
    if tier == "edits":
        return [
            *_not_null("edit_id", "content_hash", "editor", "model", "prompt_version", "status"),
            E.ExpectColumnValuesToBeInSet(column="status", value_set=["ok", "unparsed", "failed"]),
        ]
    if tier == "qa":
        return [
            *_not_null("qa_key", "content_hash", "generator_model", "verifier_model", "status"),
            E.ExpectColumnValuesToBeInSet(column="status", value_set=["ok", "unparsed", "failed"]),
            E.ExpectColumnValuesToBeBetween(column="confidence", min_value=0, max_value=1),
        ]
    raise KeyError(f"no expectation suite for tier {tier!r}")


def row_frame_sql(tier: str, rows: str) -> str:
    """The SQL giving the frame the row suite checks; L4 adds whether each evidence span occurs in its source."""
    if tier == "l4_knowledge":
        return (
            f"SELECT r.*, coalesce(contains(s.text, r.evidence), false) AS evidence_in_source "
            f"FROM {rows} r LEFT JOIN tiers.l3_refined s USING (doc_id)"
        )
    if tier == "scores":  # an unparsed answer must keep what the model said; a perplexity is >= 1, the rest 0-5
        return (
            f"SELECT *, status = 'unparsed' AND raw IS NULL AS unparsed_without_raw, "
            f"CASE WHEN scorer LIKE '{PERPLEXITY}%' THEN score >= 1 ELSE score BETWEEN 0 AND 5 END AS score_in_range "
            f"FROM {rows}"
        )
    return f"SELECT * FROM {rows}"


def table_expectations(tier: str, gate: Mapping[str, Any]) -> list:
    """Expectations on one row of whole-table metrics of the audit snapshot (see ``gate.table_metrics``)."""
    min_rows = int(gate["min_rows"].get(tier, 1)) if isinstance(gate["min_rows"], Mapping) else int(gate["min_rows"])
    verified = [E.ExpectColumnValuesToBeBetween(column="verified_fraction", min_value=float(gate["min_verified"]))]
    return [
        *(verified if tier == "qa" else []),
        E.ExpectColumnValuesToBeBetween(column="row_count", min_value=min_rows),
        E.ExpectColumnValuesToBeBetween(column="retained_fraction", min_value=1 - float(gate["max_row_drop"])),
        E.ExpectColumnValuesToBeBetween(column="duplicate_keys", min_value=0, max_value=0),
        E.ExpectColumnValuesToBeBetween(column="rows_without_l0_parent", min_value=0, max_value=0),
    ]
