"""Incremental MinHash-LSH deduplication over the lake: the runner behind L1's ``near_duplicate`` rule.

Each build signs only texts that ``ops.minhash`` has not seen, finds the LSH candidates of the texts
not yet paired against every stored signature one band at a time (so the join holds one band of the
new batch, never an index of everything), stores each candidate pair with its estimated Jaccard in
``ops.minhash_edges``, and clusters by union-find over the pairs at or above the threshold. The
kept document of a cluster is the earliest ingested, ties broken by ``doc_id``.

Signatures are committed in chunks, so a build that dies while signing (or a killed Ray job) leaves
texts signed but not paired. Pairing therefore works from ``ops.minhash_paired``, written once a
build's pairs are stored: the next build pairs every text missing there, signed or not.

Marking keeps a stored verdict as it was published: a later document can only join a cluster, never
demote a document already stored as kept. So a document that resembles two stored ones which do not
resemble each other is rejected as a near-duplicate of the earlier and leaves both kept, instead of
re-deciding one of them (and rewriting its data file).

The input is any DuckDB relation with ``doc_id``, ``content_hash``, ``text``, ``ingested_at`` and
``eligible`` (documents no other rule rejected); only eligible documents take part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import numpy as np
import pyarrow as pa
from pyiceberg.catalog import Catalog

from udfs.dedup import (
    MinHashConfig,
    MinHasher,
    UnionFind,
    band_keys,
    signature_bytes,
    signatures_from_bytes,
    similarity,
)
from warehouse.catalog import commit_with_retry
from warehouse.memory.ceiling import check as check_rss_ceiling
from warehouse.progress import progress_bar
from warehouse.query import register_table
from warehouse.tables import MINHASH, MINHASH_EDGES, MINHASH_PAIRED, TableDef

WORK = "tierhouse_fuzzy"  # schema of the runner's scratch tables
SIGN_BATCH = 1_000  # texts fetched per batch (the hasher bounds its own memory by characters)
COMMIT_ROWS = 100_000  # signatures or pairs per Iceberg commit


@dataclass
class FuzzyStats:
    """What one run did: texts signed, candidate pairs checked, clusters found, documents marked."""

    signed: int = 0
    candidates: int = 0
    clusters: int = 0
    near_duplicates: int = 0


class _Appender:
    """Buffer Arrow rows and append them to an ops table in commits of ``COMMIT_ROWS``."""

    def __init__(self, catalog: Catalog, tdef: TableDef) -> None:
        self.catalog, self.tdef, self.pending, self.rows = catalog, tdef, [], 0

    def add(self, batch: pa.Table) -> None:
        self.pending.append(batch)
        self.rows += batch.num_rows
        if self.rows >= COMMIT_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        table = pa.concat_tables(self.pending)
        commit_with_retry(lambda: self.catalog.load_table(self.tdef.name).append(table))
        self.pending, self.rows = [], 0


def signature_table(hasher: MinHasher, content_hashes: pa.Array, texts: list[str]) -> pa.Table:
    """``ops.minhash`` rows for these texts, leaving out any without words (its signature matches nothing)."""
    config = hasher.config
    signatures = hasher.signatures(texts)
    has_words = (signatures != np.iinfo(np.uint32).max).any(axis=1)
    content_hashes, signatures = content_hashes.filter(pa.array(has_words)), signatures[has_words]
    keys = band_keys(signatures, config)
    n = len(content_hashes)
    return pa.table(
        {
            "config": pa.array([config.key] * n, pa.string()),
            "content_hash": content_hashes,
            "signature": pa.array(signature_bytes(signatures), pa.binary()),
            "bands": pa.FixedSizeListArray.from_arrays(keys.ravel(), config.bands).cast(pa.list_(pa.int64())),
            "signed_at": pa.array([datetime.now(UTC)] * n, MINHASH.schema.field("signed_at").type),
        },
        schema=MINHASH.schema,
    )


def select_new(con: duckdb.DuckDBPyConnection, relation: str, config: MinHashConfig) -> int:
    """Put the eligible content hashes of ``relation`` not yet paired under ``config`` in
    ``tierhouse_fuzzy.new`` (what ``find_pairs`` pairs against every stored signature), and those of them
    with no signature in ``tierhouse_fuzzy.unsigned`` (what a signer signs); returns how many to sign."""
    con.execute(
        f"""CREATE OR REPLACE TABLE {WORK}.new AS
        SELECT DISTINCT content_hash FROM {relation}
        WHERE eligible AND content_hash NOT IN (SELECT content_hash FROM {MINHASH_PAIRED.name} WHERE config = $1)""",
        [config.key],
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE {WORK}.unsigned AS FROM {WORK}.new
        WHERE content_hash NOT IN (SELECT content_hash FROM {MINHASH.name} WHERE config = $1)""",
        [config.key],
    )
    (total,) = con.execute(f"SELECT count(*) FROM {WORK}.unsigned").fetchone()
    return total


def sign_new(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    relation: str,
    config: MinHashConfig,
    total: int,
    texts: str | None = None,
) -> None:
    """Sign, in this process, the texts of ``relation`` whose content hashes ``select_new`` chose, read
    from ``texts`` (``doc_id``, ``content_hash``, ``text`` as ``relation`` has them; default ``relation``).
    A relation that joins its rows with another table should name the table that holds the texts."""
    hasher = MinHasher(config)
    # A text several rows share is signed once, from its first doc_id. The choice is made on narrow
    # rows and kept in DuckDB (no set of hashes grows here), then the texts stream past it: a join
    # that carried them hashed every text in memory DuckDB cannot spill. DuckDB builds a join on the
    # side it estimates smaller; the texts are read unfiltered, so both counts are exact and the
    # choice never has more rows (a filter on the texts here could turn that around).
    new = f"eligible AND content_hash IN (FROM {WORK}.unsigned)"
    con.execute(
        f"""CREATE OR REPLACE TABLE {WORK}.chosen AS
        SELECT min(doc_id) AS doc_id, content_hash FROM {relation} WHERE {new} GROUP BY content_hash"""
    )
    source = texts or relation
    pending = f"SELECT t.content_hash, t.text FROM {source} t SEMI JOIN {WORK}.chosen USING (doc_id, content_hash)"
    appender = _Appender(catalog, MINHASH)
    with progress_bar("MinHash signatures", total, unit="texts") as advance:
        for batch in con.execute(pending).to_arrow_reader(SIGN_BATCH):
            check_rss_ceiling()
            advance(len(batch))
            appender.add(signature_table(hasher, batch.column("content_hash"), batch.column("text").to_pylist()))
    appender.flush()


def find_pairs(con: duckdb.DuckDBPyConnection, catalog: Catalog, config: MinHashConfig) -> int:
    """Store every LSH candidate pair between the new texts and all signed ones, with its similarity.

    Bucketing runs band by band: each join holds one band key of the new texts. Returns the
    number of pairs stored (pairs already in ``ops.minhash_edges`` are not checked again).
    """
    signed = f"(SELECT * FROM {MINHASH.name} WHERE config = $config)"
    con.execute(f"CREATE OR REPLACE TABLE {WORK}.candidates (a VARCHAR, b VARCHAR)")
    for band in range(1, config.bands + 1):
        con.execute(
            f"""
            INSERT INTO {WORK}.candidates
            SELECT least(n.content_hash, o.content_hash), greatest(n.content_hash, o.content_hash)
            FROM (SELECT content_hash, bands[{band}] AS k FROM {signed} WHERE content_hash IN (FROM {WORK}.new)) n
            JOIN (SELECT content_hash, bands[{band}] AS k FROM {signed}) o ON n.k = o.k
            WHERE n.content_hash <> o.content_hash
            """,
            {"config": config.key},
        )
    pairs = f"""
        WITH fresh AS (
            SELECT DISTINCT a, b FROM {WORK}.candidates
            EXCEPT SELECT a, b FROM {MINHASH_EDGES.name} WHERE config = $config
        )
        SELECT f.a, f.b, any_value(sa.signature) AS sa, any_value(sb.signature) AS sb
        FROM fresh f
        JOIN {signed} sa ON sa.content_hash = f.a
        JOIN {signed} sb ON sb.content_hash = f.b
        GROUP BY f.a, f.b"""
    appender, stored = _Appender(catalog, MINHASH_EDGES), 0
    for batch in con.execute(pairs, {"config": config.key}).to_arrow_reader(COMMIT_ROWS):
        n = config.permutations
        left = signatures_from_bytes(batch.column("sa").to_pylist(), n)
        right = signatures_from_bytes(batch.column("sb").to_pylist(), n)
        appender.add(
            pa.table(
                {
                    "config": pa.array([config.key] * len(batch), pa.string()),
                    "a": batch.column("a"),
                    "b": batch.column("b"),
                    "similarity": pa.array(similarity(left, right), pa.float64()),
                    "found_at": pa.array([datetime.now(UTC)] * len(batch), MINHASH_EDGES.schema.field("found_at").type),
                },
                schema=MINHASH_EDGES.schema,
            )
        )
        stored += len(batch)
    appender.flush()
    register_table(con, catalog, MINHASH_EDGES)
    return stored


def record_paired(con: duckdb.DuckDBPyConnection, catalog: Catalog, config: MinHashConfig) -> None:
    """Record in ``ops.minhash_paired`` that the texts of ``tierhouse_fuzzy.new`` are paired (after ``find_pairs``)."""
    query = f"SELECT $1 AS config, content_hash, now() AS paired_at FROM {WORK}.new"
    paired = con.execute(query, [config.key]).to_arrow_table().cast(MINHASH_PAIRED.schema)  # hashes only
    if paired.num_rows:
        commit_with_retry(lambda: catalog.load_table(MINHASH_PAIRED.name).append(paired))
        register_table(con, catalog, MINHASH_PAIRED)


def clusters(con: duckdb.DuckDBPyConnection, relation: str, config: MinHashConfig) -> pa.Table:
    """``(content_hash, keeper, cluster_size)`` for every eligible text in a cluster of two or more.

    Union-find holds only texts that have a pair at or above the threshold, not the corpus.
    """
    nodes = f"""
        nodes AS (
            SELECT content_hash, doc_id, ingested_at FROM {relation} WHERE eligible
            QUALIFY row_number() OVER (PARTITION BY content_hash ORDER BY ingested_at, doc_id) = 1
        ),
        pairs AS (
            SELECT DISTINCT a, b FROM {MINHASH_EDGES.name}
            WHERE config = $config AND similarity >= $threshold
              AND a IN (SELECT content_hash FROM nodes) AND b IN (SELECT content_hash FROM nodes)
        )"""
    params = {"config": config.key, "threshold": config.threshold}
    members = con.execute(
        f"""WITH {nodes}
        SELECT content_hash, doc_id FROM nodes
        WHERE content_hash IN (SELECT a FROM pairs UNION SELECT b FROM pairs)
        ORDER BY ingested_at, doc_id""",
        params,
    ).to_arrow_table()
    rank = {h: i for i, h in enumerate(members.column("content_hash").to_pylist())}
    forest = UnionFind(len(rank))
    for a, b in con.execute(f"WITH {nodes} SELECT a, b FROM pairs", params).fetchall():
        forest.union(rank[a], rank[b])
    roots = np.asarray(forest.roots(), dtype=np.int64)
    sizes = np.bincount(roots, minlength=len(roots))[roots] if len(roots) else roots
    keepers = members.column("doc_id").take(pa.array(roots))
    return pa.table({"content_hash": members.column("content_hash"), "keeper": keepers, "cluster_size": sizes})


_NONE_STORED = "(SELECT NULL::VARCHAR AS doc_id, NULL::VARCHAR AS content_hash, NULL::VARCHAR AS near_dup_cluster)"


def mark_near_duplicates(
    con: duckdb.DuckDBPyConnection, staging: str, found: pa.Table, stored: str | None = None
) -> int:
    """Reject every member but the keeper as ``near_duplicate``, naming the keeper in ``near_dup_cluster``.

    The keeper's own row is left as it was: a copy arriving later changes only its own row, so an
    incremental build appends it instead of rewriting the data file that holds the earlier one.
    ``stored`` (a relation of ``doc_id``, ``content_hash``, ``near_dup_cluster``: the published rows)
    keeps each stored row's verdict as published, whatever clusters later documents formed.
    """
    con.execute(f"ALTER TABLE {staging} ADD COLUMN IF NOT EXISTS near_dup_cluster VARCHAR")
    published = stored or _NONE_STORED
    con.register("tierhouse_fuzzy_found", found)
    try:
        con.execute(
            f"""
            UPDATE {staging} AS s SET
                near_dup_cluster = c.keeper,
                kept = false,
                reject_reasons = list_append(s.reject_reasons, 'near_duplicate')
            FROM (
                SELECT s.doc_id, coalesce(p.near_dup_cluster, CASE WHEN p.doc_id IS NULL THEN f.keeper END) AS keeper
                FROM {staging} s
                LEFT JOIN tierhouse_fuzzy_found f USING (content_hash)
                LEFT JOIN {published} p ON p.doc_id = s.doc_id AND p.content_hash = s.content_hash
                WHERE s.kept
            ) c
            WHERE s.doc_id = c.doc_id AND c.keeper IS NOT NULL AND s.doc_id <> c.keeper
            """
        )
    finally:
        con.unregister("tierhouse_fuzzy_found")
    query = f"SELECT count(*) FROM {staging} WHERE list_contains(reject_reasons, 'near_duplicate')"
    (marked,) = con.execute(query).fetchone()
    return marked


#: How the texts ``select_new`` chose get signed: ``sign_new`` here, or a Ray job (``warehouse.engine.minhash``)
Signer = Callable[[duckdb.DuckDBPyConnection, Catalog, str, MinHashConfig, int], None]


def deduplicate(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    relation: str,
    config: MinHashConfig,
    apply: Callable[[pa.Table], int] | None = None,
    sign: Signer = sign_new,
) -> tuple[pa.Table, FuzzyStats]:
    """Sign, pair and cluster ``relation``; ``apply`` (if given) acts on the clusters and counts what it marked."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {WORK}")
    try:
        stats = FuzzyStats(signed=select_new(con, relation, config))
        if stats.signed:
            sign(con, catalog, relation, config, stats.signed)
        register_table(con, catalog, MINHASH)
        stats.candidates = find_pairs(con, catalog, config)
        record_paired(con, catalog, config)
        found = clusters(con, relation, config)
        stats.clusters = len(set(found.column("keeper").to_pylist()))
        stats.near_duplicates = apply(found) if apply else found.num_rows - stats.clusters
    finally:
        con.execute(f"DROP SCHEMA IF EXISTS {WORK} CASCADE")
    return found, stats
