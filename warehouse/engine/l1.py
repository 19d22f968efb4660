"""The Ray Data job behind L1 with ``engine: ray``: extraction, language ID and the quality rules.

The driver works out, from keys alone, which documents have no result for the current operator
versions; the workers read the L0 snapshot themselves (``ray.data.read_iceberg``), run the operators
and write Parquet data files; the driver commits each file as one chunk to ``ops.measures`` with
``commit_with_retry`` (never Ray's ``write_iceberg``). A killed job loses only uncommitted chunks:
run again, it measures only documents still without a result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import EqualTo

from warehouse.engine.job import DEFAULT_POOL, Job, JobStats, Pool, only_todo, run_jobs
from warehouse.engine.plan import EXTRACT, FLAGS, L1Plan
from warehouse.engine.worker import Measurer
from warehouse.tables import L0_RAW, L1_CLEAN, MEASURES


def _keys(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> list[str]:
    return [row[0] for row in con.execute(sql, params).fetchall()]


def pending_documents(con: duckdb.DuckDBPyConnection, plan: L1Plan) -> list[str]:
    """L0 documents with no extraction result of this version in ops.measures (nor, unless a full
    refresh, in L1 itself)."""
    in_l1 = "" if plan.full_refresh else "AND doc_id NOT IN (SELECT doc_id FROM tiers.l1_clean WHERE extractor = $v)"
    return _keys(
        con,
        f"""SELECT doc_id FROM {L0_RAW.name} WHERE doc_id NOT IN
            (SELECT input_hash FROM {MEASURES.name} WHERE operator = $op AND version = $v) {in_l1}""",
        {"op": EXTRACT, "v": plan.extractor},
    )


def stored_flags(con: duckdb.DuckDBPyConnection, plan: L1Plan) -> frozenset[str]:
    """Flag keys ops.measures holds for the rule profiles in play."""
    keys = sorted({key for _, key in [*plan.rules.values(), plan.default_rules]})
    return frozenset(
        _keys(
            con,
            f"""SELECT input_hash || chr(31) || version FROM {MEASURES.name}
                WHERE operator = $op AND list_contains($k, version)""",
            {"op": FLAGS, "k": keys},
        )
    )


def stale_flags(con: duckdb.DuckDBPyConnection, plan: L1Plan) -> frozenset[str]:
    """Flag keys of English L1 texts judged under other rules than their source's now (l1_rules changed)."""
    if plan.full_refresh:
        return frozenset()
    profiles = pa.table({"source": list(plan.rules), "rules_key": [key for _, key in plan.rules.values()]})
    con.register("_th_profiles", profiles)
    try:
        return frozenset(
            _keys(
                con,
                f"""SELECT DISTINCT l1.content_hash || chr(31) || coalesce(p.rules_key, $default)
                    FROM {L1_CLEAN.name} l1 LEFT JOIN _th_profiles p USING (source)
                    WHERE l1.language = 'en' AND l1.extractor = $v
                      AND l1.quality_rules IS DISTINCT FROM coalesce(p.rules_key, $default)
                      AND l1.doc_id IN (SELECT doc_id FROM {L0_RAW.name})""",
                {"default": plan.default_rules[1], "v": plan.extractor},
            )
        )
    finally:
        con.unregister("_th_profiles")


def run_l1(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    catalog_kwargs: dict[str, str],
    plan: L1Plan,
    pool: Pool = DEFAULT_POOL,
    *,
    on_chunk: Callable[[JobStats], None] | None = None,
) -> JobStats:
    """Measure what L1 will need and ``ops.measures`` lacks; ``con`` sees the lake as the model does.

    Ray must be connected (:func:`warehouse.engine.job.connect`). ``on_chunk`` runs after each committed chunk."""
    import ray

    plan = replace(plan, flagged=stored_flags(con, plan))
    documents = pending_documents(con, plan)
    rejudge = stale_flags(con, plan) - plan.flagged
    jobs = []
    if documents:
        snapshot = catalog.load_table(L0_RAW.name).metadata.current_snapshot_id
        source = ray.data.read_iceberg(
            table_identifier=L0_RAW.name, catalog_kwargs=catalog_kwargs, snapshot_id=snapshot,
        ).select_columns(["doc_id", "source", "content", "content_type"])  # fmt: skip
        source = source.map_batches(
            only_todo, fn_kwargs={"column": "doc_id", "todo": pa.array(documents)}, batch_format="pyarrow"
        )
        jobs.append(
            Job(source, Measurer, {"catalog_kwargs": catalog_kwargs, "plan": plan, "mode": "extract"}, "measured")
        )
    if rejudge:
        source = ray.data.read_iceberg(
            table_identifier=L1_CLEAN.name, catalog_kwargs=catalog_kwargs, row_filter=EqualTo("language", "en"),
        ).select_columns(["content_hash", "text", "source"])  # fmt: skip
        flags = {"catalog_kwargs": catalog_kwargs, "plan": replace(plan, todo=rejudge), "mode": "flags"}
        jobs.append(Job(source, Measurer, flags, "rejudged"))
    total = len(documents) + len(rejudge)
    return run_jobs(catalog, MEASURES, jobs, total, pool, label="Ray: L1 operators", on_chunk=on_chunk)
