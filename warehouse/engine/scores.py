"""L2's scorers as Ray Data jobs (``engine: ray``): the judges on their sample, then the distilled classifiers.

The SQL still decides what is scored: the driver runs the ops.scores model's own CTEs (dbt macro
``l2_scores_ctes``, rendered for Ray) for each scorer's to-do keys, and picks one L1 document per
text, keys only; the workers read the texts from ``tiers.l1_clean`` themselves. Judges run first, in
an actor pool that loads the LLM once per actor, and write ``th_judge`` rows to ``ops.measures`` keyed
by (content hash, scorer key). Each judge's classifier is then distilled on the driver by the model's
own label query (``th_distill`` keeps a classifier by its labels, so the model's own call later
returns the same id), shipped to the actors, and scores the texts the judge did not label
(``th_classify`` rows keyed by the classifier's model id). The model joins those rows instead of
calling the UDFs. A killed job leaves its committed results behind: the next run scores only the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog

from udfs.scorers import config as scorer_config
from udfs.scorers.base import Score, Scorer, ScorerId
from warehouse.duck import quote_literal
from warehouse.engine.job import DEFAULT_POOL, ChunkWriter, Job, JobStats, Pool, only_todo, run_jobs
from warehouse.query import register_table
from warehouse.tables import L1_CLEAN, MEASURES

JUDGE = "th_judge"  # a judge's (or perplexity's) result per text; version: its scorer key
CLASSIFY = "th_classify"  # a distilled classifier's score per text; version: the classifier's model id


@dataclass(frozen=True)
class ScoresPlan:
    """What the ops.scores model asks for: its CTEs as the Ray path renders them, and the scorers' names."""

    ctes: str
    scorers: Sequence[str]


class ScoringActor(ChunkWriter):
    """Score batches of ``(content_hash, text[, question][, version])`` and write them as ``operator`` rows of
    ``version`` (or of each row's own, a verifier's: one per question).

    ``scorer`` is a judge's config JSON (the actor loads the LLM from it, once) or a scorer object
    (a distilled classifier, shipped by the driver)."""

    def __init__(
        self, catalog_kwargs: dict[str, str], scorer: str | Scorer, operator: str, version: str | None = None
    ) -> None:
        super().__init__(catalog_kwargs, MEASURES)
        self.scorer = scorer_config.judge(scorer) if isinstance(scorer, str) else scorer
        self.operator, self.version = operator, version

    def __call__(self, batch: pa.Table) -> pa.Table:
        texts = batch.column("text").to_pylist()
        if "question" in batch.column_names:  # a verifier answers each text's question
            scores = self.scorer.score(texts, batch.column("question").to_pylist())
        else:
            scores = self.scorer.score(texts)
        now = datetime.now(UTC)
        hashes = batch.column("content_hash").to_pylist()
        own = "version" in batch.column_names
        versions = batch.column("version").to_pylist() if own else [self.version] * len(hashes)
        rows = [
            {**_columns(score), "input_hash": content_hash, "operator": self.operator, "version": version,
             "worker": self.worker, "measured_at": now}
            for content_hash, version, score in zip(hashes, versions, scores, strict=True)
        ]  # fmt: skip
        return self.chunk(pa.Table.from_pylist(rows, self.schema), batch.num_rows)


def _columns(score: Score) -> dict[str, Any]:
    """A result as ops.measures' columns (the usage ``seconds`` is ``backend_seconds`` there, as in ops.scores)."""
    columns = score.to_dict()
    columns["backend_seconds"] = columns.pop("seconds")
    return columns


def unfinished(con: duckdb.DuckDBPyConnection, sql: str, operator: str) -> pa.Table:
    """The rows of ``sql`` (with columns content_hash and version) that ops.measures has no usable
    ``operator`` result for: none, or only failed ones (retried, as the in-process path retries)."""
    return con.execute(
        f"""SELECT * FROM ({sql}) q WHERE NOT EXISTS (
                SELECT 1 FROM {MEASURES.name} m WHERE m.operator = $op AND m.version = q.version
                  AND m.input_hash = q.content_hash AND m.status <> 'failed')
            ORDER BY content_hash""",
        {"op": operator},
    ).to_arrow_table()


def pending(con: duckdb.DuckDBPyConnection, plan: ScoresPlan, cte: str, operator: str, version: str) -> list[str]:
    """The distinct texts of the model's ``cte`` with no usable result of ``operator`` and ``version``."""
    listed = f"{plan.ctes} SELECT DISTINCT content_hash, {quote_literal(version)} AS version FROM {cte}"
    return unfinished(con, listed, operator).column("content_hash").to_pylist()


def chosen_documents(con: duckdb.DuckDBPyConnection, hashes: list[str]) -> pa.Array:
    """One kept L1 document per content hash (the smallest doc_id): the rows the workers read the texts from."""
    con.register("_th_hashes", pa.table({"content_hash": pa.array(hashes, pa.string())}))
    try:
        return con.execute(
            f"""SELECT min(doc_id) AS doc_id FROM {L1_CLEAN.name}
                WHERE kept AND content_hash IN (SELECT content_hash FROM _th_hashes) GROUP BY content_hash"""
        ).to_arrow_table().column("doc_id").combine_chunks()  # fmt: skip
    finally:
        con.unregister("_th_hashes")


@dataclass
class RayScoring:
    """Run the judges, then the classifiers, of ``plan`` on Ray. Ray must be connected
    (:func:`warehouse.engine.job.connect`)."""

    con: duckdb.DuckDBPyConnection
    catalog: Catalog
    catalog_kwargs: dict[str, str]
    plan: ScoresPlan
    pool: Pool = DEFAULT_POOL

    def run(self) -> JobStats:
        stats = JobStats()
        jobs, total = [], 0
        for name in self.plan.scorers:
            (config, judge) = self.con.execute(f"{self.plan.ctes} SELECT config, id FROM {name}_judge").fetchone()
            key = ScorerId(**judge).key
            todo = pending(self.con, self.plan, f"{name}_todo", JUDGE, key)
            if todo:
                jobs.append(self._job(todo, config, JUDGE, key, "judged", spread=True))
                total += len(todo)
        self._run(jobs, total, "Ray: LLM judges", stats)
        jobs, total = [], 0
        for name in self.plan.scorers:
            # trains the classifier (on the driver) if these labels have none yet
            (classifier,) = self.con.execute(f"{self.plan.ctes} SELECT id FROM {name}_classifier").fetchone()
            if classifier is None:
                continue
            model = classifier["model"]
            todo = pending(self.con, self.plan, f"{name}_unclassified", CLASSIFY, model)
            if todo:
                from udfs.scorers.distill import classifier as load_classifier

                jobs.append(self._job(todo, load_classifier(model), CLASSIFY, model, "classified"))
                total += len(todo)
        return self._run(jobs, total, "Ray: distilled classifiers", stats)

    def _job(self, todo: list[str], scorer: str | Scorer, operator: str, version: str, counter: str,
             spread: bool = False) -> Job:  # fmt: skip
        """Score ``todo``'s texts; ``spread``: cut them into one even block per actor, so that every actor gets a
        share (LLM calls are slow; the blocks as read would bundle unevenly into tasks)."""
        import ray

        documents = chosen_documents(self.con, todo)
        snapshot = self.catalog.load_table(L1_CLEAN.name).metadata.current_snapshot_id
        texts = ray.data.read_iceberg(
            table_identifier=L1_CLEAN.name, catalog_kwargs=self.catalog_kwargs, snapshot_id=snapshot
        ).select_columns(["doc_id", "content_hash", "text"])
        texts = texts.map_batches(only_todo, fn_kwargs={"column": "doc_id", "todo": documents}, batch_format="pyarrow")
        batch = None
        if spread:  # even blocks; a batch no larger than the smallest, so that no task bundles two blocks
            texts = texts.repartition(self.pool.actors)
            batch = max(1, min(self.pool.chunk_rows, len(todo) // self.pool.actors))
        kwargs = {"catalog_kwargs": self.catalog_kwargs, "scorer": scorer, "operator": operator, "version": version}
        return Job(texts, ScoringActor, kwargs, counter, batch)

    def _run(self, jobs: list[Job], total: int, label: str, stats: JobStats) -> JobStats:
        if jobs:
            run_jobs(self.catalog, MEASURES, jobs, total, self.pool, label=label, stats=stats)
            register_table(self.con, self.catalog, MEASURES)  # the model's CTEs read what was committed
        return stats
