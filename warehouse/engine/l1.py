"""The Ray Data job behind L1 with ``engine: ray``: extraction, language ID and the quality rules.

The driver works out, from keys alone, which documents have no result for the current operator
versions; the workers read the L0 snapshot themselves (``ray.data.read_iceberg``), run the operators
and write Parquet data files; the driver commits each file as one chunk to ``ops.measures`` with
``commit_with_retry`` (never Ray's ``write_iceberg``). A killed job loses only uncommitted chunks:
run again, it measures only documents still without a result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import EqualTo

from warehouse.catalog import commit_with_retry
from warehouse.engine.plan import EXTRACT, FLAGS, L1Plan
from warehouse.engine.worker import Measurer, only_todo
from warehouse.progress import progress_bar
from warehouse.tables import L0_RAW, L1_CLEAN, MEASURES

CHUNK_ROWS = 5_000  # documents per batch, data file and commit
ACTORS = 2  # actors per operator pool: each loads the models once
#: CPUs Ray reserves per actor. The reads need CPUs too: with a whole CPU per actor, two actors on two
#: cores leave none, and the job waits for ever (seen here on Ray 2.60)
ACTOR_CPUS = 0.5


@dataclass
class JobStats:
    """What one run did: documents measured, texts judged again, chunks committed, actors that worked."""

    measured: int = 0
    rejudged: int = 0
    chunks: int = 0
    workers: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"measured": self.measured, "rejudged": self.rejudged, "chunks": self.chunks,
                "workers": len(self.workers), "seconds": round(self.seconds, 2)}  # fmt: skip


def connect(address: str | None) -> None:
    """Join the Ray instance at ``address`` (``auto``, ``ray://…``), or start a local one; once per process."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False  # ours is on stderr, like every step's


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
    *,
    chunk_rows: int = CHUNK_ROWS,
    actors: int = ACTORS,
    actor_cpus: float = ACTOR_CPUS,
    on_chunk: Callable[[JobStats], None] | None = None,
) -> JobStats:
    """Measure what L1 will need and ``ops.measures`` lacks; ``con`` sees the lake as the model does.

    Ray must be connected (:func:`connect`). ``on_chunk`` runs after each committed chunk."""
    import ray

    started, stats = time.perf_counter(), JobStats()
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
        jobs.append(("extract", source, plan, "measured"))
    if rejudge:
        source = ray.data.read_iceberg(
            table_identifier=L1_CLEAN.name, catalog_kwargs=catalog_kwargs, row_filter=EqualTo("language", "en"),
        ).select_columns(["content_hash", "text", "source"])  # fmt: skip
        jobs.append(("flags", source, replace(plan, todo=rejudge), "rejudged"))
    workers: set[str] = set()
    with progress_bar("Ray: L1 operators", len(documents) + len(rejudge), unit="documents") as advance:
        for mode, dataset, job_plan, counter in jobs:
            results = dataset.map_batches(
                Measurer, fn_constructor_kwargs={"catalog_kwargs": catalog_kwargs, "plan": job_plan, "mode": mode},
                batch_size=chunk_rows, batch_format="pyarrow", concurrency=actors, num_cpus=actor_cpus,
            )  # fmt: skip
            for manifest in results.iter_batches(batch_size=None, batch_format="pyarrow"):
                for chunk in manifest.to_pylist():
                    if not chunk["inputs"]:  # a batch the todo filter emptied
                        continue
                    if chunk["path"]:
                        path = chunk["path"]
                        commit_with_retry(lambda p=path: catalog.load_table(MEASURES.name).add_files([p]))
                    setattr(stats, counter, getattr(stats, counter) + chunk["inputs"])
                    stats.chunks += 1
                    workers.add(chunk["worker"])
                    stats.workers = sorted(workers)
                    advance(chunk["inputs"])
                    if on_chunk is not None:
                        on_chunk(stats)
    stats.seconds = time.perf_counter() - started
    return stats
