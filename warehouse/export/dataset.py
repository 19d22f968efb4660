"""``tierhouse export``: a training stage's dataset, pinned to a build, sampled to a token budget.

The export reads every tier at the snapshot the build tagged, assigns each document to the highest
tier of the mixture that holds it, counts tokens (``ops.token_counts`` caches them per text), takes
from each slice in a seeded hash order up to its share of the budget (``allocation``), shuffles the
records by the same seed and writes them as shards plus ``manifest.json``. The manifest holds only
what the build, the mixture and the seed determine, so exporting the same build again gives the
same bytes; when and by whom an export was made goes to ``ops.exports``.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import math
import shutil
import socket
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog
from rich.progress import Progress

from warehouse.builds import list_builds
from warehouse.catalog import commit_with_retry
from warehouse.duck import new_connection, quote_literal
from warehouse.evaluate import holdout
from warehouse.evaluate.holdout import held_out_sql
from warehouse.export.allocation import allocate, default_budget
from warehouse.export.ledger import STEPS, export_cost
from warehouse.export.pins import resolve_build
from warehouse.export.shards import write_shards
from warehouse.export.slices import TIERS, Slice
from warehouse.export.tokenizer import Tokenizer, default_tokenizer
from warehouse.publish import scan_sql
from warehouse.tables import EXPORTS, TOKEN_COUNTS, ensure_table

MANIFEST = "manifest.json"
COUNT_BATCH = 2_000  # texts tokenised per call
COUNT_COMMIT = 100_000  # token counts per ops.token_counts commit


class ExportError(RuntimeError):
    """An export that cannot be written as asked (nothing to export, an existing folder, ...)."""


@dataclass(frozen=True)
class Mixture:
    """What to export: normalised slice weights, a label for the manifest, and the short-slice rule."""

    weights: dict[str, float]
    label: str
    overflow: str = "renormalise"
    max_repeat: int = 1


@dataclass(frozen=True)
class ExportResult:
    """Where the export went and what it holds."""

    export_id: str
    folder: Path
    manifest: dict[str, Any]


def tier_sql(tier: str, scan: str) -> str:
    """One tier's exportable items: (item_id, doc_id, source, text_key, text) plus QA fields for L4."""
    if tier == "l4":
        return (
            f"SELECT qa_id AS item_id, doc_id, source, 'qa:' || md5(question || chr(10) || answer) AS text_key, "
            f"question || chr(10) || answer AS text, question, answer, evidence FROM {scan}"
        )
    kept = " WHERE kept" if tier == "l1" else ""
    return f"SELECT doc_id AS item_id, doc_id, source, content_hash AS text_key, text FROM {scan}{kept}"


def candidates_sql(weights: Mapping[str, float], scans: Mapping[str, str], seed: int, held_out: bool = False) -> str:
    """Every item of the mixture's slices, each in the highest mixed tier that holds it: the training
    side of the held-out split, or (``held_out``, for ``tierhouse evaluate`` only) the held-out side."""
    slices = [Slice.parse(k) for k, w in weights.items() if w > 0]
    tiers = sorted({s.tier for s in slices}, key=lambda t: TIERS[t][1], reverse=True)
    parts, higher = [], []
    for tier in tiers:
        sources = [s.source for s in slices if s.tier == tier and s.source]
        slice_expr = f"'{tier}/' || source" if sources else f"'{tier}'"
        where = [("" if held_out else "NOT ") + held_out_sql("doc_id")]
        where += [f"source IN ({', '.join(map(quote_literal, sources))})"] if sources else []
        where += [f"item_id NOT IN (SELECT item_id FROM _eligible_{h})" for h in higher]
        parts.append((tier, slice_expr, " AND ".join(where)))
        higher.append(tier)
    ctes = ", ".join(
        f"_eligible_{tier} AS (SELECT * FROM ({tier_sql(tier, scans[tier])}) WHERE {where})" for tier, _, where in parts
    )
    union = " UNION ALL ".join(
        f"SELECT item_id, doc_id, source, '{tier}' AS tier, {slice_expr} AS slice, text_key, "
        f"md5({quote_literal(str(seed))} || ':' || item_id) AS order_key FROM _eligible_{tier}"
        for tier, slice_expr, _ in parts
    )
    return f"WITH {ctes} {union}"


def _count_tokens(
    con: duckdb.DuckDBPyConnection, catalog: Catalog, tokenizer: Tokenizer, texts_sql: str, show: bool
) -> int:
    """Count the tokens of every text not yet in ``ops.token_counts`` for this tokenizer; returns how many."""
    table = ensure_table(catalog, TOKEN_COUNTS)
    known = f"SELECT content_hash FROM {scan_sql(table)} WHERE tokenizer = {quote_literal(tokenizer.name)}"
    if table.metadata.current_snapshot_id is None:
        known = "SELECT NULL::VARCHAR AS content_hash WHERE false"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _todo AS SELECT DISTINCT text_key FROM _candidates "
        f"WHERE text_key NOT IN ({known})"
    )
    total = con.execute("SELECT count(*) FROM _todo").fetchone()[0]
    if not total:
        return 0
    reader = con.execute(
        f"SELECT t.text_key, any_value(t.text) AS text FROM ({texts_sql}) t "
        f"WHERE t.text_key IN (SELECT text_key FROM _todo) GROUP BY 1"
    ).to_arrow_reader(COUNT_BATCH)
    pending: list[pa.Table] = []

    def flush() -> None:
        rows = pa.concat_tables(pending)
        commit_with_retry(lambda: ensure_table(catalog, TOKEN_COUNTS).append(rows))
        pending.clear()

    with Progress(disable=not show, transient=True) as bar:
        task = bar.add_task(f"counting tokens ({tokenizer.name})", total=total)
        for batch in reader:
            keys, texts = batch.column("text_key"), batch.column("text").to_pylist()
            counts = pa.array(tokenizer.count([t or "" for t in texts]), pa.int64())
            name = pa.array([tokenizer.name] * batch.num_rows, pa.string())
            pending.append(pa.Table.from_arrays([name, keys.cast(pa.string()), counts], schema=TOKEN_COUNTS.schema))
            bar.advance(task, batch.num_rows)
            if sum(t.num_rows for t in pending) >= COUNT_COMMIT:
                flush()
    if pending:
        flush()
    return total


def _counts(con: duckdb.DuckDBPyConnection, relation: str, by: str) -> dict[str, dict[str, Any]]:
    """Per value of column ``by`` (slice or tier): documents and tokens, in total and per source."""
    stats: dict[str, dict[str, Any]] = {}
    rows = con.execute(
        f"SELECT {by}, source, count(*), sum(tokens)::BIGINT FROM {relation} GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    for key, source, docs, tokens in rows:
        entry = stats.setdefault(key, {"documents": 0, "tokens": 0, "by_source": {}})
        entry["documents"] += docs
        entry["tokens"] += tokens
        entry["by_source"][source] = {"documents": docs, "tokens": tokens}
    return stats


def _records(con: duckdb.DuckDBPyConnection, texts_sql: str, qa: bool) -> Iterator[pa.RecordBatch]:
    """The selected records with their text, in export order."""
    fields = "t.question, t.answer, t.evidence" if qa else "t.text"
    key = "qa_id" if qa else "doc_id"
    first = f"s.item_id AS {key}, " + ("s.doc_id, " if qa else "")
    yield from con.execute(
        f"SELECT {first}s.source, s.tier, {fields}, s.tokens::INTEGER AS tokens, s.epoch::SMALLINT AS epoch "
        f"FROM _selected s JOIN ({texts_sql}) t ON t.item_id = s.item_id AND t.tier = s.tier "
        f"ORDER BY s.position, s.item_id, s.epoch"
    ).to_arrow_reader(10_000)


def _prices(catalog: Catalog, build_id: int) -> dict[str, Any]:
    for record in list_builds(catalog):
        if record["build_id"] == build_id:
            return record["vars"].get("llm_prices") or {}
    return {}


def export_stage(
    catalog: Catalog,
    stage: str,
    mixture: Mixture,
    out: Path,
    *,
    as_of: str | None = None,
    tokens: int | None = None,
    seed: int = 0,
    fmt: str = "parquet",
    shard_docs: int = 100_000,
    shard_bytes: int = 256 * 1024 * 1024,
    overwrite: bool = False,
    tokenizer: Tokenizer | None = None,
    show_progress: bool | None = None,
) -> ExportResult:
    """Export ``stage`` under ``out/<stage>/`` from build ``as_of`` (default: the newest) and record it."""
    show = sys.stderr.isatty() if show_progress is None else show_progress
    tokenizer = tokenizer or default_tokenizer()
    folder = Path(out) / stage
    if (folder / MANIFEST).exists() and not overwrite:
        raise ExportError(f"export: {folder} already holds an export; pass --overwrite to replace it")
    tiers = sorted({Slice.parse(k).tier for k in mixture.weights})
    tables = [TIERS[t][0] for t in tiers]
    cost_tables = sorted({name for step in STEPS for name in (step.table, step.owner)} - set(tables))
    build_id, pins = resolve_build(catalog, as_of, tables + cost_tables)
    scans = {t: scan_sql(catalog.load_table(TIERS[t][0]), pins[TIERS[t][0]]) for t in tiers}
    qa = tiers == ["l4"]
    texts_sql = " UNION ALL ".join(f"SELECT '{t}' AS tier, * FROM ({tier_sql(t, scans[t])})" for t in tiers)

    con = new_connection()
    con.execute(f"CREATE TEMP TABLE _candidates AS {candidates_sql(mixture.weights, scans, seed)}")
    _count_tokens(con, catalog, tokenizer, texts_sql, show)
    counts = scan_sql(ensure_table(catalog, TOKEN_COUNTS))
    con.execute(
        f"CREATE TEMP TABLE _counted AS SELECT c.*, k.tokens FROM _candidates c JOIN "
        f"(SELECT content_hash, any_value(tokens) AS tokens FROM {counts} "
        f"WHERE tokenizer = {quote_literal(tokenizer.name)} GROUP BY 1) k ON k.content_hash = c.text_key"
    )
    available = _counts(con, "_counted", "slice")
    if not available:
        raise ExportError(f"export: build {build_id} holds no documents in {', '.join(mixture.weights)}")
    have = {k: available.get(k, {}).get("tokens", 0) for k in mixture.weights}
    budget = tokens if tokens is not None else default_budget(mixture.weights, have)
    targets = allocate(mixture.weights, have, budget, mixture.overflow, mixture.max_repeat)
    con.execute("CREATE TEMP TABLE _targets (slice VARCHAR, target DOUBLE, total BIGINT, epochs INTEGER)")
    con.executemany(
        "INSERT INTO _targets VALUES (?, ?, ?, ?)",
        [(k, t, have[k], math.ceil(t / have[k]) if have[k] else 0) for k, t in targets.items()],
    )
    con.execute(
        f"""CREATE TEMP TABLE _selected AS
        WITH ranked AS (
            SELECT *, sum(tokens) OVER (PARTITION BY slice ORDER BY order_key, item_id ROWS UNBOUNDED PRECEDING) AS cum
            FROM _counted
        ),
        expanded AS (
            SELECT r.*, t.target, t.total, unnest(range(t.epochs)) AS epoch FROM ranked r JOIN _targets t USING (slice)
        )
        SELECT item_id, doc_id, source, tier, slice, tokens, epoch,
               md5({quote_literal(str(seed))} || ':' || epoch || ':' || item_id) AS position
        FROM expanded WHERE epoch * total + cum - tokens < target"""
    )
    chosen = _counts(con, "_selected", "slice")
    exported_tokens = sum(s["tokens"] for s in chosen.values())
    if not exported_tokens:
        raise ExportError(f"export: a budget of {budget} tokens selects nothing from build {build_id}")

    staging = folder.with_name(f".{stage}.partial-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    try:
        shards = write_shards(
            _records(con, texts_sql, qa), staging, fmt, "answer" if qa else "text", shard_docs, shard_bytes
        )
        con.execute("CREATE TEMP TABLE _docs AS SELECT DISTINCT doc_id FROM _selected")
        manifest = {
            "tierhouse_version": version("tierhouse"),
            "stage": stage,
            "build": {"id": build_id, "tag": f"build-{build_id}", "snapshots": dict(sorted(pins.items()))},
            "mixture": {
                "name": mixture.label,
                "weights": mixture.weights,
                "overflow": mixture.overflow,
                "max_repeat": mixture.max_repeat,
            },
            "seed": seed,
            "holdout": holdout.describe(),
            "tokenizer": tokenizer.describe(),
            "tokens": {"requested": tokens, "budget": budget, "exported": exported_tokens},
            "slices": {
                key: {
                    "weight": round(weight, 6),
                    "target_tokens": round(targets[key], 1),
                    "available": {k: available.get(key, {}).get(k, 0) for k in ("documents", "tokens")},
                    "documents": chosen.get(key, {}).get("documents", 0),
                    "tokens": chosen.get(key, {}).get("tokens", 0),
                    "share": round(chosen.get(key, {}).get("tokens", 0) / exported_tokens, 6),
                    "epochs": math.ceil(targets[key] / have[key]) if have[key] else 0,
                    "by_source": chosen.get(key, {}).get("by_source", {}),
                }
                for key, weight in mixture.weights.items()
            },
            "by_tier": _counts(con, "_selected", "tier"),
            "cost": export_cost(con, catalog, pins, "_docs", _prices(catalog, build_id)),
            "format": fmt,
            "shards": [asdict(s) for s in shards],
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(_record(catalog, stage, as_of, folder, manifest, build_id), folder, manifest)


def _record(catalog: Catalog, stage: str, as_of: str | None, folder: Path, manifest: dict, build_id: int) -> str:
    """One ``ops.exports`` row: the manifest plus when, by whom and where (kept out of the manifest)."""
    text = (folder / MANIFEST).read_text()
    export_id = uuid.uuid4().hex[:16]
    row = {
        "export_id": export_id,
        "stage": stage,
        "as_of": as_of,
        "created_at": datetime.now(UTC),
        "path": str(folder.resolve()),
        "manifest": text,
        "created_by": f"{getpass.getuser()}@{socket.gethostname()}",
        "build_id": build_id,
        "mixture": manifest["mixture"]["name"],
        "documents": sum(s["records"] for s in manifest["shards"]),
        "tokens": manifest["tokens"]["exported"],
        "manifest_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    commit_with_retry(lambda: ensure_table(catalog, EXPORTS).append(pa.Table.from_pylist([row], schema=EXPORTS.schema)))
    return export_id
