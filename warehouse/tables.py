"""The schema of every tier and ops table, in one place, and the idempotent ``init``.

Schemas only grow: ``init`` adds columns that a newer release defines to tables an
older one created (Iceberg schema evolution), and never rewrites history.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

TS = pa.timestamp("us", tz="UTC")


def _req(name: str, typ: pa.DataType) -> pa.Field:
    return pa.field(name, typ, nullable=False)


def _opt(name: str, typ: pa.DataType) -> pa.Field:
    return pa.field(name, typ, nullable=True)


@dataclass(frozen=True)
class TableDef:
    """One table: its namespace-qualified name, Arrow schema, identity partition columns and purpose."""

    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...]
    doc: str
    properties: tuple[tuple[str, str], ...] = ()

    @property
    def namespace(self) -> str:
        return self.name.split(".", 1)[0]


_LINEAGE = [_req("doc_id", pa.string()), _req("source", pa.string()), _opt("uri", pa.string())]

#: what an LLM result cost, on every row of the LLM caches (the cost ledger sums them): the backend,
#: the requests sent (retries included), prompt and completion tokens, and its share of wall-clock time
_USAGE = [
    _opt("backend", pa.string()),
    _opt("requests", pa.int64()),
    _opt("tokens_in", pa.int64()),
    _opt("tokens_out", pa.int64()),
    _opt("backend_seconds", pa.float64()),
]

L0_RAW = TableDef(
    "tiers.l0_raw",
    pa.schema(
        [
            *_LINEAGE,
            _opt("source_id", pa.string()),
            _req("content_type", pa.string()),
            _req("content", pa.large_string()),
            _req("content_bytes", pa.int64()),
            _req("ingested_at", TS),
            _req("ingest_batch", pa.string()),
            _opt("extra", pa.string()),
        ]
    ),
    # No partitioning: one ingest writes one source, so its files hold one source anyway
    # (column statistics prune them), and pyiceberg's partition split costs ~12% of ingest time.
    (),
    "Everything acquired, as read, with provenance; doc_id is the xxh3-128 of the content.",
    # The ingest writer retries conflicts itself, after dropping what a concurrent writer
    # already stored; pyiceberg's built-in retry would re-apply the append blindly.
    # zstd level 1 writes about twice as fast as the default level 3 for a few percent more bytes.
    (("commit.retry.num-retries", "0"), ("write.parquet.compression-level", "1")),
)

L1_CLEAN = TableDef(
    "tiers.l1_clean",
    pa.schema(
        [
            *_LINEAGE,
            _req("content_hash", pa.string()),
            _req("text", pa.large_string()),
            _opt("title", pa.string()),
            _opt("language_hint", pa.string()),
            _opt("extraction_error", pa.string()),
            _opt("extractor", pa.string()),
            _opt("language", pa.string()),
            _opt("language_score", pa.float64()),
            _opt("n_chars", pa.int64()),
            _opt("n_words", pa.int64()),
            _opt("quality_rules", pa.string()),
            _opt("quality_flags", pa.list_(pa.string())),
            _opt("kept", pa.bool_()),
            _opt("reject_reasons", pa.list_(pa.string())),
            _opt("dup_cluster", pa.string()),
            _opt("near_dup_cluster", pa.string()),
        ]
    ),
    ("source",),
    "Extracted text with language, heuristic-rule verdicts and dedup clusters.",
)

L2_SELECTED = TableDef(
    "tiers.l2_selected",
    pa.schema(
        [
            *_LINEAGE,
            _req("content_hash", pa.string()),
            _req("text", pa.large_string()),
            _opt("language", pa.string()),
            _opt("quality_score", pa.float64()),
            _opt("edu_score", pa.float64()),
            _opt("edu_scored_by", pa.string()),
            _opt("domain", pa.string()),
            _opt("perplexity", pa.float64()),
            _opt("perplexity_scored_by", pa.string()),
        ]
    ),
    ("source",),
    "Documents selected by SQL thresholds on model scores.",
)

L3_REFINED = TableDef(
    "tiers.l3_refined",
    pa.schema(
        [
            *_LINEAGE,
            _req("content_hash", pa.string()),
            _opt("text_before", pa.large_string()),
            _req("text", pa.large_string()),
            _opt("editor", pa.string()),
            _opt("model", pa.string()),
            _opt("prompt_version", pa.string()),
            _opt("edit_ratio", pa.float64()),
            _opt("llm_edit", pa.string()),
            _opt("edit_hash", pa.string()),  # ops.edits.content_hash of the text sent to the editor, if any
        ]
    ),
    ("source",),
    "Repaired and LLM-edited text with the before and after kept, and what became of the LLM edit.",
)

L4_KNOWLEDGE = TableDef(
    "tiers.l4_knowledge",
    pa.schema(
        [
            _req("qa_id", pa.string()),
            *_LINEAGE,
            _req("question", pa.string()),
            _req("answer", pa.string()),
            _opt("evidence", pa.string()),
            _opt("generator", pa.string()),
            _opt("verifier", pa.string()),
            _opt("verdict", pa.string()),
            _opt("confidence", pa.float64()),
        ]
    ),
    (),
    "Verified question-answer pairs and facts, each with its evidence in the source.",
)

QUARANTINE = TableDef(
    "ops.quarantine",
    pa.schema(
        [
            _req("quarantined_at", TS),
            _req("ingest_batch", pa.string()),
            _req("source", pa.string()),
            _req("file", pa.string()),
            _req("location", pa.string()),
            _req("reason", pa.string()),
            _req("message", pa.string()),
            _req("raw", pa.large_binary()),
            _req("raw_sha256", pa.string()),
            _req("raw_length", pa.int64()),
            _req("raw_complete", pa.bool_()),
        ]
    ),
    ("reason",),
    "Every rejected input with its file, place, reason and raw bytes: nothing is lost.",
)

SCORES = TableDef(
    "ops.scores",
    pa.schema(
        [
            _req("score_id", pa.string()),
            _req("content_hash", pa.string()),
            _req("scorer", pa.string()),
            _req("model", pa.string()),
            _req("prompt_version", pa.string()),
            _opt("score", pa.float64()),
            _opt("label", pa.string()),
            _opt("raw", pa.string()),
            _req("status", pa.string()),
            _opt("error", pa.string()),
            _opt("attempts", pa.int64()),
            _req("scored_at", TS),
            *_USAGE,
        ]
    ),
    ("scorer",),
    "Each (content_hash, scorer, model, prompt_version) is scored once, ever.",
)

EDITS = TableDef(
    "ops.edits",
    pa.schema(
        [
            _req("edit_id", pa.string()),
            _req("content_hash", pa.string()),
            _req("editor", pa.string()),
            _req("model", pa.string()),
            _req("prompt_version", pa.string()),
            _opt("output", pa.large_string()),
            _req("status", pa.string()),
            _opt("error", pa.string()),
            _opt("attempts", pa.int64()),
            _req("edited_at", TS),
            *_USAGE,
        ]
    ),
    ("editor",),
    "Each (repaired text, editor, model, prompt_version) is edited by an LLM once, ever; L3 guards decide use.",
)

QA = TableDef(
    "ops.qa",
    pa.schema(
        [
            _req("qa_key", pa.string()),
            _req("content_hash", pa.string()),
            _req("generator_model", pa.string()),
            _req("generator_version", pa.string()),
            _req("verifier_model", pa.string()),
            _req("verifier_version", pa.string()),
            _opt("raw", pa.large_string()),
            _opt("question", pa.string()),
            _opt("answer", pa.string()),
            _opt("evidence", pa.string()),
            _opt("second_answer", pa.string()),
            _req("status", pa.string()),
            _opt("error", pa.string()),
            _opt("verdict", pa.string()),
            _opt("confidence", pa.float64()),
            _opt("attempts", pa.int64()),
            _req("generated_at", TS),
            *_USAGE,
        ]
    ),
    (),
    "Every synthesised QA pair with its verdict; only verified ones reach tiers.l4_knowledge.",
)

MINHASH = TableDef(
    "ops.minhash",
    pa.schema(
        [
            _req("config", pa.string()),
            _req("content_hash", pa.string()),
            _req("signature", pa.binary()),
            _req("bands", pa.list_(pa.int64())),
            _req("signed_at", TS),
        ]
    ),
    ("config",),
    "MinHash signature and LSH band keys of each distinct text, computed once per configuration.",
)

MINHASH_EDGES = TableDef(
    "ops.minhash_edges",
    pa.schema(
        [
            _req("config", pa.string()),
            _req("a", pa.string()),
            _req("b", pa.string()),
            _req("similarity", pa.float64()),
            _req("found_at", TS),
        ]
    ),
    ("config",),
    "Every LSH candidate pair of texts (a < b) with its estimated Jaccard; clusters are built from these.",
)

MINHASH_PAIRED = TableDef(
    "ops.minhash_paired",
    pa.schema([_req("config", pa.string()), _req("content_hash", pa.string()), _req("paired_at", TS)]),
    ("config",),
    "Texts whose LSH candidates are all in ops.minhash_edges. A signed text missing here (a build died "
    "between signing and pairing) is paired again by the next build.",
)

MEASURES = TableDef(
    "ops.measures",
    pa.schema(
        [
            _req("input_hash", pa.string()),  # L0's doc_id for extraction, L1's content_hash for rules and scorers
            _req("operator", pa.string()),
            _req("version", pa.string()),
            _opt("text", pa.large_string()),
            _opt("title", pa.string()),
            _opt("language_hint", pa.string()),
            _opt("extraction_error", pa.string()),
            _opt("language", pa.string()),
            _opt("language_score", pa.float64()),
            _opt("quality_flags", pa.list_(pa.string())),
            # a scorer's result (th_judge, th_classify): version is the judge's scorer key or the classifier's model
            _opt("status", pa.string()),
            _opt("score", pa.float64()),
            _opt("label", pa.string()),
            _opt("raw", pa.string()),
            _opt("error", pa.string()),
            *_USAGE,
            _opt("worker", pa.string()),
            _req("measured_at", TS),
        ]
    ),
    (),
    "Per-document operator results an engine (Ray Data) computed, once per (input hash, operator, version).",
)

BUILDS = TableDef(
    "ops.builds",
    pa.schema(
        [
            _req("build_id", pa.int64()),
            _req("started_at", TS),
            _opt("ended_at", TS),
            _req("status", pa.string()),
            _opt("vars", pa.string()),
            _opt("git_rev", pa.string()),
            _opt("models", pa.string()),
        ]
    ),
    (),
    "One row per build: snapshots published, vars, gate results.",
    # no blind retry: the build lock (warehouse/buildlock.py) relies on a lost race failing, and
    # records are appended through commit_with_retry, which reloads first
    (("commit.retry.num-retries", "0"),),
)

GATE_FAILURES = TableDef(
    "ops.gate_failures",
    pa.schema(
        [
            _req("table_name", pa.string()),
            _req("key", pa.string()),
            _req("expectation", pa.string()),
            _req("column_name", pa.string()),
            _opt("value", pa.string()),
            _req("build", pa.string()),
            _req("audit_snapshot_id", pa.int64()),
            _req("recorded_at", TS),
        ]
    ),
    ("table_name",),
    "Every row that failed a row expectation (its key, the expectation, a cut of the value): kept, never dropped.",
)

EXPORTS = TableDef(
    "ops.exports",
    pa.schema(
        [
            _req("export_id", pa.string()),
            _req("stage", pa.string()),
            _opt("as_of", pa.string()),
            _req("created_at", TS),
            _req("path", pa.string()),
            _opt("manifest", pa.string()),
            _opt("created_by", pa.string()),
            _opt("build_id", pa.int64()),
            _opt("mixture", pa.string()),
            _opt("documents", pa.int64()),
            _opt("tokens", pa.int64()),
            _opt("manifest_sha256", pa.string()),
        ]
    ),
    (),
    "Training-stage datasets written out: when, by whom, from which build, and their manifests.",
)

MIXTURES = TableDef(
    "ops.mixtures",
    pa.schema(
        [
            _req("name", pa.string()),
            _req("version", pa.int64()),
            _req("stage", pa.string()),
            _req("weights", pa.string()),
            _req("created_at", TS),
            _opt("created_by", pa.string()),
            _opt("parent", pa.string()),
            _opt("feedback", pa.string()),
            _opt("rule", pa.string()),
            _opt("note", pa.string()),
        ]
    ),
    (),
    "Versioned mixtures (slice weights): who made each, and from which parent and feedback.",
)

COSTS = TableDef(
    "ops.costs",
    pa.schema(
        [
            _req("build_id", pa.int64()),
            _req("tier", pa.string()),
            _req("source", pa.string()),
            _req("step", pa.string()),
            _opt("backend", pa.string()),
            _opt("model", pa.string()),
            _req("calls", pa.int64()),
            _req("cached", pa.int64()),
            _req("failed", pa.int64()),
            _req("tokens_in", pa.int64()),
            _req("tokens_out", pa.int64()),
            _req("backend_seconds", pa.float64()),
            _req("cost", pa.float64()),
        ]
    ),
    (),
    "The acquisition-cost ledger: per build, tier, source and LLM step, calls made and served from cache.",
)

TOKEN_COUNTS = TableDef(
    "ops.token_counts",
    pa.schema([_req("tokenizer", pa.string()), _req("content_hash", pa.string()), _req("tokens", pa.int64())]),
    (),
    "Tokens per distinct text and tokenizer, counted once: exports read them instead of tokenising again.",
)

EVALUATIONS = TableDef(
    "ops.evaluations",
    pa.schema(
        [
            _req("eval_id", pa.string()),
            _req("arm", pa.string()),
            _opt("seed", pa.int64()),
            _req("tokens", pa.int64()),
            _req("config", pa.string()),
            _req("metrics", pa.string()),
            _opt("curve", pa.string()),
            _opt("manifests", pa.string()),
            _opt("as_of", pa.string()),
            _req("evaluated_at", TS),
        ]
    ),
    (),
    "Proxy-model runs of `tierhouse evaluate`: one row per arm and seed, and one per arm (seed NULL) "
    "whose metrics are means and 95% CIs over its seeds; config, metrics, curve and manifests are JSON.",
)

ALL_TABLES: tuple[TableDef, ...] = (
    L0_RAW,
    L1_CLEAN,
    L2_SELECTED,
    L3_REFINED,
    L4_KNOWLEDGE,
    QUARANTINE,
    SCORES,
    EDITS,
    QA,
    MINHASH,
    MINHASH_EDGES,
    MINHASH_PAIRED,
    MEASURES,
    BUILDS,
    GATE_FAILURES,
    EXPORTS,
    MIXTURES,
    COSTS,
    TOKEN_COUNTS,
    EVALUATIONS,
)
BY_NAME = {t.name: t for t in ALL_TABLES}


def resolve_name(name: str) -> TableDef:
    """Accept ``tiers.l0_raw`` or the bare ``l0_raw``; fail with the list of known tables."""
    if name in BY_NAME:
        return BY_NAME[name]
    matches = [t for t in ALL_TABLES if t.name.split(".", 1)[1] == name]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(BY_NAME)
    raise KeyError(f"unknown table {name!r}; known tables: {known}")


def ensure_namespace(catalog: Catalog, namespace: str) -> None:
    """Create ``namespace`` if missing, also when another writer creates it at the same moment.

    pyiceberg's SQL catalog checks, then inserts: on PostgreSQL a writer that lost that race gets the
    database's unique-key error instead of "already exists"."""
    from sqlalchemy.exc import IntegrityError

    try:
        catalog.create_namespace_if_not_exists(namespace)
    except IntegrityError:
        if not catalog.namespace_exists(namespace):
            raise


def ensure_table(catalog: Catalog, tdef: TableDef) -> Table:
    """Create the table if missing, or add any columns the definition has gained."""
    ensure_namespace(catalog, tdef.namespace)
    if not catalog.table_exists(tdef.name):
        from pyiceberg.exceptions import TableAlreadyExistsError

        try:
            table = catalog.create_table(tdef.name, schema=tdef.schema, properties=dict(tdef.properties))
        except TableAlreadyExistsError:  # a concurrent init won the race
            return catalog.load_table(tdef.name)
        if tdef.partition_by:
            with table.update_spec() as spec:
                for column in tdef.partition_by:
                    spec.add_identity(column)
        return table
    table = catalog.load_table(tdef.name)
    existing = {f.name for f in table.schema().fields}
    if any(f.name not in existing for f in tdef.schema):
        with table.update_schema() as update:
            update.union_by_name(tdef.schema)
    if any(table.properties.get(k) != v for k, v in tdef.properties):
        with table.transaction() as tx:
            tx.set_properties(dict(tdef.properties))
    return table


def init_warehouse(catalog: Catalog) -> list[str]:
    """Create every namespace and table that does not exist yet; safe to run any number of times."""
    for tdef in ALL_TABLES:
        ensure_table(catalog, tdef)
    return [t.name for t in ALL_TABLES]
