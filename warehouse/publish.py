"""Write-audit-publish of one tier: diff the model's result against main, write the change to the
``audit`` branch, gate it with the tier's suite, and only then move ``main``.

A failed gate leaves ``main`` exactly where it was and the audit snapshot readable. An
unchanged result writes nothing at all. Every build tags the snapshot ``main`` ends on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import AlwaysTrue, In
from pyiceberg.table import Table

from expectations.drift import accept, compare
from expectations.gate import ROW_BATCH, GateFailed, RowFailure, validate
from expectations.suites import orphans_sql, row_frame_sql
from warehouse.catalog import commit_with_retry
from warehouse.config import load_settings
from warehouse.duck import quote_literal
from warehouse.fingerprint import remember
from warehouse.memory.append import append_query
from warehouse.memory.batches import READ_ROWS, bounded_tables
from warehouse.memory.steps import step
from warehouse.tables import GATE_FAILURES, TableDef, ensure_table

AUDIT = "audit"
ROW_BATCH_BYTES = 32 * 1024**2  # and at most this much Arrow data per gate frame: long documents weigh more


@dataclass
class ModelResult:
    """What a build did to one tier."""

    model: str
    table: str
    status: str  # published | unchanged | gate_failed
    snapshot_id: int | None = None
    audit_snapshot_id: int | None = None
    rows_added: int = 0
    rows_removed: int = 0
    total_rows: int = 0
    gate: list[dict[str, Any]] = field(default_factory=list)
    drift: dict[str, Any] = field(default_factory=dict)  # distribution checks against main (expectations/drift.py)
    failed_rows: int = 0  # rows that failed a row expectation, kept in ops.gate_failures
    bytes_written: int = 0  # data-file bytes the build wrote to the table (rewritten files included)
    table_bytes: int = 0  # data-file bytes of the table after the build
    seconds: float = 0.0
    operators: dict[str, Any] = field(default_factory=dict)  # what Python operators did to the staged rows
    steps: list[dict[str, Any]] = field(default_factory=list)  # each step's end and peak RSS: memory/steps.py

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_KEYS = {"tiers.l4_knowledge": "qa_id", "ops.scores": "score_id", "ops.edits": "edit_id", "ops.qa": "qa_key"}


def key_column(tdef: TableDef) -> str:
    """The column that identifies a row of the table a model writes."""
    return _KEYS.get(tdef.name, "doc_id")


def scan_sql(table: Table, snapshot_id: int | None = None) -> str:
    """A DuckDB table expression reading ``table`` at a snapshot (main's current one by default)."""
    meta = quote_literal(table.metadata_location)
    if snapshot_id is None:
        return f"iceberg_scan({meta})"
    return f"iceberg_scan({meta}, snapshot_from_id={snapshot_id})"


def _ensure_root(table: Table) -> int:
    """Tables start with no snapshot and branches need one: commit an empty root snapshot on main."""
    if table.metadata.current_snapshot_id is None:
        table.append(table.schema().as_arrow().empty_table(), snapshot_properties={"tierhouse.root": "true"})
    return table.metadata.current_snapshot_id


def _check_columns(con: duckdb.DuckDBPyConnection, staging: str, tdef: TableDef) -> list[str]:
    have = [row[0] for row in con.execute(f"DESCRIBE {staging}").fetchall()]
    want = tdef.schema.names
    missing = [c for c in want if c not in have]
    extra = [c for c in have if c not in want]
    if missing or extra:
        raise ValueError(
            f"model for {tdef.name} must return exactly its columns ({', '.join(want)}); "
            f"missing: {missing or 'none'}, unexpected: {extra or 'none'} (schemas live in warehouse/tables.py)"
        )
    return want


def _is_ancestor(table: Table, ancestor: int, snapshot_id: int) -> bool:
    current = table.snapshot_by_id(snapshot_id)
    while current is not None:
        if current.snapshot_id == ancestor:
            return True
        current = table.snapshot_by_id(current.parent_snapshot_id) if current.parent_snapshot_id else None
    return False


def written_bytes(table: Table, since: int, until: int) -> tuple[int, int]:
    """Data-file bytes committed after snapshot ``since`` up to ``until``, and the table's bytes at ``until``.

    Read from the snapshot summaries, so it costs no file access. Copy-on-write deletes show up
    here as the files they wrote again: the number that says whether a change was cheap.
    """
    added, snapshot = 0, table.snapshot_by_id(until)
    total = int(snapshot.summary.additional_properties.get("total-files-size", 0))
    while snapshot is not None and snapshot.snapshot_id != since:
        added += int(snapshot.summary.additional_properties.get("added-files-size", 0))
        snapshot = table.snapshot_by_id(snapshot.parent_snapshot_id) if snapshot.parent_snapshot_id else None
    return added, total


def _row_batches(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[pd.DataFrame]:
    """The gate's frames, each at most ``ROW_BATCH`` rows and about ``ROW_BATCH_BYTES``."""
    reader = con.execute(sql).to_arrow_reader(READ_ROWS)
    for chunk in bounded_tables(reader, ROW_BATCH_BYTES, ROW_BATCH):
        yield chunk.to_pandas()


def table_metrics(
    con: duckdb.DuckDBPyConnection, table: Table, tdef: TableDef, audit: int, main: int
) -> dict[str, Any]:
    """Whole-table facts the table suite checks: size, size against main, key uniqueness, lineage."""
    key = key_column(tdef)
    tier = tdef.name.split(".", 1)[1]
    rows, distinct = con.execute(f"SELECT count(*), count(DISTINCT {key}) FROM {scan_sql(table, audit)}").fetchone()
    before = con.execute(f"SELECT count(*) FROM {scan_sql(table, main)}").fetchone()[0]
    metrics = {
        "row_count": rows,
        "previous_row_count": before,
        "retained_fraction": rows / before if before else 1.0,
        "duplicate_keys": rows - distinct,
        "rows_without_parent": con.execute(orphans_sql(tier, scan_sql(table, audit), "_added")).fetchone()[0],
    }
    if "verdict" in tdef.schema.names and "status" in tdef.schema.names:  # ops.qa: how much of it verifies
        judged = f"SELECT avg((verdict = 'verified')::INT) FROM {scan_sql(table, audit)} WHERE verdict IS NOT NULL"
        metrics["verified_fraction"] = con.execute(judged).fetchone()[0]  # None: nothing judged yet
    return metrics


def record_row_failures(catalog: Catalog, tdef: TableDef, tag: str, audit: int, failures: list[RowFailure]) -> None:
    """Keep every row that failed a row expectation in ``ops.gate_failures``: key, expectation, value."""
    if not failures:
        return
    now = datetime.now(UTC)
    rows = pa.Table.from_pylist(
        [{"table_name": tdef.name, "key": f.key, "expectation": f.expectation, "column_name": f.column,
          "value": f.value, "build": tag, "audit_snapshot_id": audit, "recorded_at": now} for f in failures],
        schema=GATE_FAILURES.schema,
    )  # fmt: skip
    commit_with_retry(lambda: ensure_table(catalog, GATE_FAILURES).append(rows))


def skip_unchanged(catalog: Catalog, tdef: TableDef, tag: str) -> ModelResult:
    """Tag main for a build whose fingerprint says the model's result cannot have changed."""
    started = time.perf_counter()
    table = ensure_table(catalog, tdef)
    main = _ensure_root(table)
    table.manage_snapshots().create_tag(main, tag).commit()
    total = int(table.snapshot_by_id(main).summary.additional_properties.get("total-records", 0))
    tier = tdef.name.split(".", 1)[1]
    return ModelResult(
        tier, tdef.name, "skipped_unchanged_inputs", main, total_rows=total, seconds=time.perf_counter() - started
    )


def _stage_changes(
    con: duckdb.DuckDBPyConnection, staging: str, table: Table, main: int, tdef: TableDef, strategy: str
) -> tuple[bool, list[Any]]:
    """Put the rows to append in temp table ``_added``; return (replace everything?, keys to delete).

    Rows are compared by key and a hash of all their values, so the diff streams over both sides
    instead of holding every row of the tier in a hash table.
    """
    if strategy not in {"incremental", "full"}:
        raise ValueError(f"unknown strategy {strategy!r} for {tdef.name}; use 'incremental' or 'full'")
    names = _check_columns(con, staging, tdef)
    listed = ", ".join(names)
    key = key_column(tdef)
    current = scan_sql(table, main)
    types = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT {listed} FROM {current}").fetchall()}
    typed = ", ".join(f"CAST({c} AS {types[c]}) AS {c}" for c in names)
    incoming_rows = f"(SELECT {typed} FROM {staging})"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _new_h AS SELECT {key} AS k, hash({listed}) AS h FROM {incoming_rows}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _cur_h AS SELECT {key} AS k, hash({listed}) AS h FROM {current}")
    incoming = "SELECT n.k FROM _new_h n LEFT JOIN _cur_h c ON n.k = c.k WHERE c.k IS NULL OR c.h != n.h"
    outgoing = "SELECT c.k FROM _cur_h c LEFT JOIN _new_h n ON c.k = n.k WHERE n.k IS NULL OR n.h != c.h"
    removed = [row[0] for row in con.execute(outgoing).fetchall()]
    changes = bool(removed) or con.execute(f"SELECT count(*) FROM ({incoming})").fetchone()[0] > 0
    replace_all = strategy == "full" and changes
    keep = "" if replace_all else f"WHERE {key} IN ({incoming})"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _added AS SELECT {typed} FROM {staging} {keep}")
    return replace_all, [] if replace_all else removed


def publish(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    tdef: TableDef,
    staging: str,
    *,
    strategy: str,
    tag: str,
    gate: Mapping[str, Any],
    inputs: list[str] = (),
    code: str = "",
) -> ModelResult:
    """Write-audit-publish ``staging`` (a DuckDB relation holding the model's result) into ``tdef``.

    ``inputs`` (tables the model reads) and ``code`` (a hash of its SQL and vars) are remembered
    as the table's fingerprint once main is settled, so an identical next build can skip the model.
    """
    started = time.perf_counter()
    tier = tdef.name.split(".", 1)[1]
    limit = load_settings().memory_limit
    table = ensure_table(catalog, tdef)
    main = _ensure_root(table)
    with step(tdef.name, "diff against main", limit):
        replace_all, removed_keys = _stage_changes(con, staging, table, main, tdef, strategy)
        added_rows = con.execute("SELECT count(*) FROM _added").fetchone()[0]
    outcome = ModelResult(tier, tdef.name, "unchanged", snapshot_id=main)
    if added_rows == 0 and not removed_keys and not replace_all:
        table.manage_snapshots().create_tag(main, tag).commit()
        remember(catalog, table, list(inputs), code)
        outcome.total_rows = con.execute(f"SELECT count(*) FROM {scan_sql(table, main)}").fetchone()[0]
        outcome.table_bytes = written_bytes(table, main, main)[1]
        outcome.seconds = time.perf_counter() - started
        return outcome

    table.manage_snapshots().create_branch(main, AUDIT).commit()
    with step(tdef.name, "write to the audit branch", limit), table.transaction() as tx:
        if replace_all:
            tx.delete(AlwaysTrue(), branch=AUDIT)
        elif removed_keys:
            tx.delete(In(key_column(tdef), removed_keys), branch=AUDIT)
        if added_rows:
            append_query(tx, table.io, con, "SELECT * FROM _added", tdef.schema, AUDIT)
    audit = table.metadata.refs[AUDIT].snapshot_id
    outcome.audit_snapshot_id = audit
    outcome.bytes_written, outcome.table_bytes = written_bytes(table, main, audit)
    outcome.rows_added = added_rows
    outcome.rows_removed = len(removed_keys)
    if not _is_ancestor(table, main, audit):
        raise RuntimeError(f"{tdef.name}: audit snapshot {audit} does not descend from main {main}; not publishing")

    with step(tdef.name, "gate", limit):
        metrics = table_metrics(con, table, tdef, audit, main)
        outcome.total_rows = metrics["row_count"]
        if replace_all:
            outcome.rows_removed = metrics["previous_row_count"]
        batches = _row_batches(con, row_frame_sql(tier, "_added"))
        checks, row_failures = validate(tier, batches, metrics, gate, key_column(tdef))
        record_row_failures(catalog, tdef, tag, audit, row_failures)
        drift = compare(con, tier, "_added", scan_sql(table, main), metrics["previous_row_count"], gate["drift"])
    drift = accept(drift, dict(gate["accept_drift"] or {}).get(tier), tier)
    outcome.gate = [asdict(c) for c in checks]
    outcome.drift = drift.to_dict()
    outcome.failed_rows = len(row_failures)
    failures = [c for c in checks if not c.success]
    outcome.seconds = time.perf_counter() - started
    if failures or drift.failures:
        outcome.status = "gate_failed"
        error = GateFailed(tdef.name, audit, failures, drift.failures)
        error.result = outcome
        raise error
    table.manage_snapshots().set_current_snapshot(snapshot_id=audit).create_tag(audit, tag).commit()
    remember(catalog, table, list(inputs), code)
    outcome.status = "published"
    outcome.snapshot_id = audit
    return outcome
