"""A model's LLM calls as Ray Data jobs (``engine: ray``): ops.edits' editor, ops.qa's generator and verifier.

The model's plan (dbt macros ``l3_engine_plan``, ``l4_engine_plan``) lists its calls in order, each as
a query over the model's own CTEs rendered for Ray: (content_hash, text, config, version[, question]).
The driver runs each query for the rows ops.measures has no usable result for, and hands them to an
actor pool that loads the LLM once per actor; results are committed to ``ops.measures`` keyed by
(content hash, operator, version) before the next call's query runs, so the verifier sees what the
generator wrote. Unlike L1's and the scorers' jobs, these rows travel from the driver: what they hold
is bounded by the model's LLM budget per build (``l3_max_llm_edits``, ``l4_max_llm_calls``), and their
texts are computed by the model (repairs, parsed questions) rather than stored in a table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog

from warehouse.engine.job import DEFAULT_POOL, Job, JobStats, Pool, run_jobs
from warehouse.engine.scores import ScoringActor, unfinished
from warehouse.query import register_table
from warehouse.tables import MEASURES


@dataclass(frozen=True)
class Call:
    """One kind of LLM call: its ops.measures operator (``th_judge``, ``th_ask``) and the query listing them."""

    operator: str
    query: str


@dataclass(frozen=True)
class CallsPlan:
    """A model's CTEs as the Ray path renders them, and its calls in the order they depend on each other."""

    ctes: str
    calls: Sequence[Call]


def run_calls(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    catalog_kwargs: dict[str, str],
    plan: CallsPlan,
    pool: Pool = DEFAULT_POOL,
) -> JobStats:
    """Make every call of ``plan`` that has no usable result yet; Ray must be connected
    (:func:`warehouse.engine.job.connect`)."""
    import ray

    stats = JobStats()
    for call in plan.calls:
        rows = unfinished(con, f"{plan.ctes} {call.query}", call.operator)
        jobs = []
        # one job per LLM, so that each actor loads it once; the rows carry their versions (a verifier's
        # differs per question)
        for config in pc.unique(rows.column("config")).to_pylist():
            mine = rows.filter(pc.field("config") == config)
            columns = [c for c in ("content_hash", "version", "text", "question") if c in mine.column_names]
            kwargs = {"catalog_kwargs": catalog_kwargs, "scorer": config, "operator": call.operator}
            batch = min(pool.chunk_rows, math.ceil(mine.num_rows / pool.actors))
            # one block per batch: Ray hands a block to one actor whole, whatever the batch size
            blocks = [mine.select(columns).slice(start, batch) for start in range(0, mine.num_rows, batch)]
            jobs.append(Job(ray.data.from_arrow(blocks), ScoringActor, kwargs, "generated", batch))
        if jobs:
            label = f"Ray: LLM calls ({call.operator})"
            run_jobs(catalog, MEASURES, jobs, rows.num_rows, pool, label=label, stats=stats)
            register_table(con, catalog, MEASURES)  # the next call's query reads what this one committed
    return stats
