"""MinHash signing as a Ray Data job (``engine: ray``): the near-duplicate step's new texts, signed on the workers.

The decision stays in SQL: ``warehouse.fuzzy.select_new`` picks the eligible content hashes with no
signature under the configuration (``tierhouse_fuzzy.unsigned``), and the driver chooses one document
per hash, keys only. The workers read the texts from Iceberg themselves: texts L1 already holds from
``tiers.l1_clean``, texts this build measured from ``ops.measures`` (the L1 job's ``l1_extract`` rows of
the current extractor). They sign with the same ``MinHasher`` and build ``ops.minhash`` rows with the
same function as the in-process path (``warehouse.fuzzy.signature_table``), committed chunk by chunk;
``find_pairs`` and the clustering then read them unchanged. A killed job leaves committed signatures
behind: the next run signs the rest and pairs every text the killed one never paired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import And, EqualTo

from udfs.dedup import MinHashConfig, MinHasher
from warehouse.engine.job import DEFAULT_POOL, ChunkWriter, Job, JobStats, Pool, only_todo, run_jobs
from warehouse.engine.plan import EXTRACT
from warehouse.fuzzy import WORK, signature_table
from warehouse.tables import L1_CLEAN, MEASURES, MINHASH


class Signer(ChunkWriter):
    """Sign batches of ``(doc_id, text)``; ``documents`` and ``hashes`` give each document's content hash."""

    def __init__(
        self, catalog_kwargs: dict[str, str], config: MinHashConfig, documents: pa.Array, hashes: pa.Array
    ) -> None:
        super().__init__(catalog_kwargs, MINHASH)
        self.hasher = MinHasher(config)
        self.documents, self.hashes = documents, hashes

    def __call__(self, batch: pa.Table) -> pa.Table:
        hashes = self.hashes.take(pc.index_in(batch.column("doc_id"), value_set=self.documents))
        return self.chunk(signature_table(self.hasher, hashes, batch.column("text").to_pylist()), batch.num_rows)


def chosen_documents(con: duckdb.DuckDBPyConnection, relation: str, extractor: str) -> tuple[pa.Table, pa.Table]:
    """One ``(doc_id, content_hash)`` per hash in ``tierhouse_fuzzy.unsigned``: those whose text ``tiers.l1_clean``
    holds, and those this build measured (``ops.measures`` rows of ``extractor``).

    Raises ``ValueError`` naming documents whose text is in neither table: the workers could not sign them."""
    rows = con.execute(
        f"""WITH chosen AS (
                SELECT content_hash, min(doc_id) AS doc_id FROM {relation}
                WHERE eligible AND content_hash IN (FROM {WORK}.unsigned) GROUP BY content_hash
            )
            SELECT c.doc_id, c.content_hash, l1.doc_id IS NOT NULL AS stored, m.input_hash IS NOT NULL AS measured
            FROM chosen c
            LEFT JOIN {L1_CLEAN.name} l1 ON l1.doc_id = c.doc_id AND l1.content_hash = c.content_hash
            LEFT JOIN (SELECT DISTINCT input_hash FROM {MEASURES.name} WHERE operator = $op AND version = $v) m
              ON m.input_hash = c.doc_id
            ORDER BY c.doc_id""",
        {"op": EXTRACT, "v": extractor},
    ).to_arrow_table()
    stored = rows.column("stored")
    measured = rows.filter(pc.invert(stored))
    lost = measured.filter(pc.invert(measured.column("measured"))).column("doc_id").to_pylist()
    if lost:
        raise ValueError(
            f"MinHash on Ray: {len(lost)} document(s) to sign have their text neither in {L1_CLEAN.name} nor in "
            f"{MEASURES.name} ({EXTRACT} {extractor}), e.g. doc_id {', '.join(lost[:3])}"
        )
    return rows.filter(stored), measured


@dataclass
class RaySigner:
    """A ``warehouse.fuzzy.Signer`` that signs on Ray; ``extractor`` is L1's current ``extractor`` value.

    Ray must be connected (:func:`warehouse.engine.job.connect`); ``stats`` says what the last run did."""

    catalog_kwargs: dict[str, str]
    extractor: str
    pool: Pool = DEFAULT_POOL
    on_chunk: Callable[[JobStats], None] | None = None
    stats: JobStats = field(default_factory=JobStats)

    def __call__(
        self, con: duckdb.DuckDBPyConnection, catalog: Catalog, relation: str, config: MinHashConfig, total: int
    ) -> None:
        import ray

        stored, measured = chosen_documents(con, relation, self.extractor)
        jobs = []
        if stored.num_rows:
            snapshot = catalog.load_table(L1_CLEAN.name).metadata.current_snapshot_id
            dataset = ray.data.read_iceberg(
                table_identifier=L1_CLEAN.name, catalog_kwargs=self.catalog_kwargs, snapshot_id=snapshot
            ).select_columns(["doc_id", "text"])
            jobs.append(self._job(dataset, stored, config))
        if measured.num_rows:
            extracted = And(EqualTo("operator", EXTRACT), EqualTo("version", self.extractor))
            dataset = ray.data.read_iceberg(
                table_identifier=MEASURES.name, catalog_kwargs=self.catalog_kwargs, row_filter=extracted
            ).select_columns(["input_hash", "text"])
            jobs.append(self._job(dataset.rename_columns({"input_hash": "doc_id"}), measured, config))
        self.stats = run_jobs(
            catalog, MINHASH, jobs, total, self.pool, label="Ray: MinHash signatures", on_chunk=self.on_chunk
        )

    def _job(self, dataset: Any, chosen: pa.Table, config: MinHashConfig) -> Job:
        """Sign the chosen documents of ``dataset`` (its other rows are filtered out on the workers)."""
        documents = chosen.column("doc_id").combine_chunks()
        todo = dataset.map_batches(only_todo, fn_kwargs={"column": "doc_id", "todo": documents}, batch_format="pyarrow")
        kwargs = {"catalog_kwargs": self.catalog_kwargs, "config": config, "documents": documents,
                  "hashes": chosen.column("content_hash").combine_chunks()}  # fmt: skip
        return Job(todo, Signer, kwargs, "signed")
