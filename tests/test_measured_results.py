"""What the models' Ray branches read back from ``ops.measures``: which of several results for a key
counts, and a QA pair whose verifier answer is not there yet. The rows are planted in the real Iceberg
table; the SQL is the models' own macros, compiled by dbt and run in DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
from conftest import query
from dbt.adapters.duckdb.connections import DuckDBConnectionManager
from dbt.cli.main import dbtRunner

from warehouse.build import default_project_dir, parsed_project
from warehouse.catalog import open_catalog
from warehouse.tables import MEASURES, ensure_table

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _plant(settings, rows: list[dict]) -> None:
    full = [{"measured_at": T0, **row} for row in rows]
    ensure_table(open_catalog(settings), MEASURES).append(pa.Table.from_pylist(full, schema=MEASURES.schema))


def _compiled(sql: str) -> str:
    """``sql`` as dbt compiles it in the project (its macros expanded, sources resolved)."""
    project = default_project_dir()
    args = ["--quiet", "compile", "--inline", sql, "--project-dir", str(project), "--profiles-dir", str(project)]
    try:
        result = dbtRunner(manifest=parsed_project(project)).invoke(args)
    finally:
        DuckDBConnectionManager.close_all_connections()
    assert result.success, result.exception
    return result.result.results[0].node.compiled_code


def test_a_usable_result_wins_over_a_later_failed_one(settings):
    """The job retries a failed call only while no usable result exists, so a later failure beside a
    usable one can be planted but never replaces it; among failures, or among usable ones, the latest."""
    key = "edu\x1fsmollm2\x1fv1"
    later = T0 + timedelta(minutes=5)
    judged = {"operator": "th_judge", "version": key}
    _plant(settings, [
        {**judged, "input_hash": "usable-then-failed", "status": "ok", "score": 3.0},
        {**judged, "input_hash": "usable-then-failed", "status": "failed", "error": "timeout", "measured_at": later},
        {**judged, "input_hash": "failed-twice", "status": "failed", "error": "first"},
        {**judged, "input_hash": "failed-twice", "status": "failed", "error": "second", "measured_at": later},
        {**judged, "input_hash": "rescored", "status": "ok", "score": 1.0},
        {**judged, "input_hash": "rescored", "status": "ok", "score": 4.0, "measured_at": later},
        {**judged, "input_hash": "rescored", "version": "other", "status": "ok", "score": 9.0},
        {"operator": "th_classify", "version": key, "input_hash": "rescored", "status": "ok", "score": 7.0},
    ])  # fmt: skip
    sql = _compiled("select content_hash, r.status, r.score, r.error from {{ measured_scores('th_judge') }} "
                    f"where version = '{key}' order by 1")  # fmt: skip
    assert query(settings, sql) == [
        ("failed-twice", "failed", None, "second"),
        ("rescored", "ok", 4.0, None),
        ("usable-then-failed", "ok", 3.0, None),
    ]


def test_a_pair_without_its_verifier_answer_is_not_decided(settings):
    """ops.qa's Ray branch joins each parsed pair to the verifier's stored answer. A pair whose answer is
    missing must be left out (the next build asks), not passed on with no answer: the model would
    then record a verdict the verifier never gave."""
    verifier = {"name": "answer", "model": "smollm2", "prompt_version": "v1"}
    pair = {"question": "What is apt?", "answer": "a package manager", "evidence": "apt installs packages"}
    (md5,) = query(settings, f"SELECT md5('{pair['question']}')")[0]
    asked = f"answer\x1fsmollm2\x1fv1\x1f{md5}"  # how ops.qa keys an answer: verifier, question
    _plant(settings, [{"operator": "th_ask", "version": asked, "input_hash": "answered", "status": "ok",
                       "raw": "a package manager"}])  # fmt: skip
    parsed = (
        "select * from (values ('answered', {v}, {qa}), ('unanswered', {v}, {qa}), ('unparsed', {v}, null))"
        " t(content_hash, v, qa)"
    ).format(v=_struct(verifier), qa=_struct(pair))
    sql = _compiled(f"with parsed as ({parsed}) select content_hash, a.raw from ({{{{ measured_answers('parsed') }}}})")
    assert sorted(query(settings, sql), key=str) == [("answered", "a package manager"), ("unparsed", None)]


def _struct(fields: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in fields.items()) + "}"
