"""What each tier must satisfy before it is published, as Great Expectations suites in code.

Row expectations run on the rows a build adds or changes; table expectations run on
metrics of the whole audit snapshot; distribution checks (expectations/drift.py) compare the new
rows with main, per source. Every threshold comes from the ``gate`` mapping,
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


def _mostly(expectations: list, share: float) -> list:
    """Every row expectation tolerates ``1 - share`` of the new rows failing (they are recorded)."""
    for e in expectations:
        e.mostly = share
    return expectations


def row_expectations(tier: str, gate: Mapping[str, Any]) -> list:
    """Expectations on the new or changed rows of ``tier``.

    None repeats a filter of the tier's own model (those cannot fail): they are invariants an
    operator can break (a fuzzy-dedup verdict without its reason, an unparsed score without its
    answer, an answer longer than any answer) and, for L4, the evidence rule ops.qa uses, applied to
    the L3 text the pair is published against.
    """
    suites = {
        "l1_clean": [
            *_not_null("doc_id", "source", "content_hash", "text", "kept"),
            E.ExpectColumnValuesToBeInSet(column="kept_matches_reasons", value_set=[True]),
        ],
        "l2_selected": _not_null("doc_id", "source", "content_hash", "text", "language", "quality_score"),
        "l3_refined": [
            *_not_null("doc_id", "source", "content_hash", "text", "text_before", "editor", "prompt_version"),
            E.ExpectColumnValueLengthsToBeBetween(column="text", min_value=1),
        ],
        "l4_knowledge": [
            *_not_null("qa_id", "doc_id", "question", "answer", "evidence", "verifier", "verdict"),
            _lengths("question", 1, 1000),
            _lengths("answer", 1, 1000),
            E.ExpectColumnValuesToBeInSet(column="evidence_in_source", value_set=[True]),
        ],
        "scores": [
            *_not_null("score_id", "content_hash", "scorer", "model", "prompt_version", "status"),
            E.ExpectColumnValuesToBeInSet(column="status", value_set=["ok", "unparsed", "failed"]),
            E.ExpectColumnValuesToBeInSet(column="score_in_range", value_set=[True]),
            E.ExpectColumnValuesToBeInSet(column="unparsed_without_raw", value_set=[False]),
        ],
        "edits": [
            *_not_null("edit_id", "content_hash", "editor", "model", "prompt_version", "status"),
            E.ExpectColumnValuesToBeInSet(column="status", value_set=["ok", "unparsed", "failed"]),
        ],
        "qa": [
            *_not_null("qa_key", "content_hash", "generator_model", "verifier_model", "status"),
            E.ExpectColumnValuesToBeInSet(column="status", value_set=["ok", "unparsed", "failed"]),
        ],
    }
    if tier not in suites:
        raise KeyError(f"no expectation suite for tier {tier!r}")
    return _mostly(suites[tier], float(gate["mostly"]))


def row_frame_sql(tier: str, rows: str) -> str:
    """The SQL giving the frame the row suite checks, with the derived columns some checks read."""
    if tier == "l1_clean":  # the fuzzy-dedup operator edits kept and reject_reasons after the SQL
        return f"SELECT *, kept = (len(reject_reasons) = 0) AS kept_matches_reasons FROM {rows}"
    if tier == "l4_knowledge":  # the one evidence rule (udfs/knowledge/qa.py), as ops.qa applies it
        return (
            f"SELECT r.*, coalesce(th_evidence_in_source(r.evidence, s.text), false) AS evidence_in_source "
            f"FROM {rows} r LEFT JOIN tiers.l3_refined s USING (doc_id)"
        )
    if tier == "scores":  # an unparsed answer must keep what the model said; a perplexity is >= 1, the rest 0-5
        return (
            f"SELECT *, status = 'unparsed' AND raw IS NULL AS unparsed_without_raw, "
            f"CASE WHEN scorer LIKE '{PERPLEXITY}%' THEN score >= 1 ELSE score BETWEEN 0 AND 5 END AS score_in_range "
            f"FROM {rows}"
        )
    return f"SELECT * FROM {rows}"


#: Where the rows of each table come from: a tier row from an L0 document, a cached LLM result from a text.
_PARENTS = {
    "scores": "SELECT content_hash FROM tiers.l1_clean",
    "edits": "SELECT th_content_hash(th_repair(text)) FROM tiers.l2_selected",
    "qa": "SELECT content_hash FROM tiers.l3_refined",
}


def orphans_sql(tier: str, audit: str, added: str) -> str:
    """Rows without a parent. Tiers: every row of the audit snapshot, by doc_id in L0. Caches (scores,
    edits, QA), which keep results for texts that have left: the new rows, by their text's hash."""
    if tier in _PARENTS:
        return f"SELECT count(*) FROM {added} WHERE content_hash NOT IN ({_PARENTS[tier]})"
    return f"SELECT count(*) FROM {audit} t WHERE t.doc_id NOT IN (SELECT doc_id FROM tiers.l0_raw)"


def _per_tier(value: Any, tier: str, default: float) -> float:
    """A gate var given as one number, or per tier ({l1_clean: 1, default: ...})."""
    if isinstance(value, Mapping):
        return float(value.get(tier, value.get("default", default)))
    return float(value)


def table_expectations(tier: str, gate: Mapping[str, Any]) -> list:
    """Expectations on one row of whole-table metrics of the audit snapshot (see ``publish.table_metrics``)."""
    floor = gate.get("min_verified")
    verified = tier == "qa" and floor is not None
    return [
        *([E.ExpectColumnValuesToBeBetween(column="verified_fraction", min_value=float(floor))] if verified else []),
        E.ExpectColumnValuesToBeBetween(column="row_count", min_value=_per_tier(gate["min_rows"], tier, 1)),
        E.ExpectColumnValuesToBeBetween(
            column="retained_fraction", min_value=1 - _per_tier(gate["max_row_drop"], tier, 0.5)
        ),
        E.ExpectColumnValuesToBeBetween(column="duplicate_keys", min_value=0, max_value=0),
        E.ExpectColumnValuesToBeBetween(column="rows_without_parent", min_value=0, max_value=0),
    ]
