"""Time travel in SQL, in the syntax users know from Trino and Spark, rewritten for DuckDB.

``FOR VERSION AS OF <snapshot id | 'tag' | 'build-N' | 'branch'>``, ``FOR TIMESTAMP AS OF '<iso>'``
(also ``FOR SYSTEM_TIME AS OF``) and ``AT (VERSION => …)`` on a lake table become
``iceberg_scan('<metadata>', snapshot_from_id=<id>)``: DuckDB reads exactly that snapshot.
The same rewrite serves the CLI, ``warehouse.connect()`` and the dbt plugin.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlglot
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table
from sqlglot import exp

from warehouse.duck import quote_literal
from warehouse.tables import resolve_name

_MARKERS = re.compile(r"\bFOR\s+(VERSION|TIMESTAMP|SYSTEM_TIME|SYSTEM_VERSION)\s+AS\s+OF\b|\bAT\s*\(", re.IGNORECASE)
_WRITES = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|MERGE|COPY|TRUNCATE|ATTACH|DETACH|REPLACE)\b", re.IGNORECASE
)
LAKE_SCHEMAS = {"tiers", "ops"}


class TimeTravelError(LookupError):
    """A version, tag, branch or time that the table does not have; the message lists what it has."""


class ReadOnlyError(PermissionError):
    """A statement that would change a tier or ops table outside a build."""


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _known_refs(table: Table) -> str:
    names = sorted(table.metadata.refs, key=lambda n: (not n.startswith("build-"), len(n), n))
    return ", ".join(names) if names else "none"


def _latest(table: Table) -> str:
    recent = sorted(table.snapshots(), key=lambda s: s.timestamp_ms, reverse=True)[:3]
    return ", ".join(f"{s.snapshot_id} ({_when(s.timestamp_ms)})" for s in recent) or "none"


def snapshot_for_version(table: Table, name: str, version: str | int) -> int:
    """The snapshot a version names: a snapshot id, or a tag (``build-N`` included) or branch."""
    text = str(version)
    if text.lstrip("-").isdigit():
        snapshot_id = int(text)
        if table.snapshot_by_id(snapshot_id) is None:
            raise TimeTravelError(
                f"{name} has no snapshot {snapshot_id}; latest: {_latest(table)}; tags: {_known_refs(table)}"
            )
        return snapshot_id
    ref = table.metadata.refs.get(text)
    if ref is None:
        raise TimeTravelError(f"{name} has no tag or branch {text!r}; it has: {_known_refs(table)}")
    return ref.snapshot_id


def snapshot_at(table: Table, name: str, when: str) -> int:
    """The snapshot that was ``main`` at time ``when`` (ISO 8601; UTC unless an offset is given)."""
    try:
        moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TimeTravelError(f"{when!r} is not an ISO 8601 time, e.g. '2026-11-26 00:45:00'") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    log = sorted(table.metadata.snapshot_log, key=lambda e: e.timestamp_ms)
    ms = int(moment.timestamp() * 1000)
    earlier = [e for e in log if e.timestamp_ms <= ms]
    if not earlier:
        first = f"its first snapshot is {log[0].snapshot_id} at {_when(log[0].timestamp_ms)}" if log else "it has none"
        raise TimeTravelError(f"{name} did not exist yet at {moment:%Y-%m-%d %H:%M:%S %Z}: {first}")
    return earlier[-1].snapshot_id


def _lake_table(node: exp.Table) -> str | None:
    if node.db and node.db.lower() in LAKE_SCHEMAS:
        return f"{node.db.lower()}.{node.name.lower()}"
    return None


def _target_snapshot(catalog: Catalog, node: exp.Table) -> tuple[Table, int] | None:
    version, when = node.args.get("version"), node.args.get("when")
    if version is None and when is None:
        return None
    name = _lake_table(node)
    if name is None:
        raise TimeTravelError(f"time travel needs a lake table (tiers.* or ops.*), not {node.sql()}")
    try:
        table = catalog.load_table(resolve_name(name).name)
    except KeyError as exc:
        raise TimeTravelError(str(exc.args[0])) from exc
    literal = (version or when).expression
    value = literal.this if isinstance(literal, exp.Literal) else literal.sql()
    kind = str(version.this).upper() if version is not None else str(when.args.get("kind", "VERSION")).upper()
    if kind in {"TIMESTAMP", "SYSTEM_TIME", "TIMESTAMP_LTZ"}:
        return table, snapshot_at(table, name, str(value))
    return table, snapshot_for_version(table, name, value)


def _replacement(table: Table, snapshot_id: int, alias: str) -> exp.Expression:
    meta = quote_literal(table.metadata_location)
    scan = f"SELECT * FROM iceberg_scan({meta}, snapshot_from_id={snapshot_id}) AS {alias}"
    return sqlglot.parse_one(scan, read="duckdb").find(exp.From).this


def parse(sql: str) -> list[exp.Expression]:
    """Statements of ``sql``; a syntax error says where (line and column) and what was expected."""
    try:
        return [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f"line {first.get('line')}, column {first.get('col')}" if first else "unknown position"
        raise SyntaxError(f"SQL syntax error at {where}: {first.get('description', exc)}") from exc


def check_read_only(statement: exp.Expression) -> None:
    """Refuse DDL and DML whose target is a tier or ops table (scratch tables are fine)."""
    if isinstance(statement, (exp.Insert, exp.Update, exp.Delete, exp.Merge)):
        target = statement.this
        tables = [target] if isinstance(target, exp.Table) else list(target.find_all(exp.Table))
    elif isinstance(statement, (exp.Create, exp.Drop, exp.Alter, exp.TruncateTable)):
        tables = [statement.find(exp.Table)] if statement.find(exp.Table) else []
    else:
        return
    for node in tables:
        if _lake_table(node) or (node.name and node.name.lower() in LAKE_SCHEMAS and not node.db):
            raise ReadOnlyError(
                f"{node.sql()} is read-only here: tiers and ops tables change only through "
                "`tierhouse ingest` and `tierhouse build`. Work on a copy instead, e.g. "
                f"CREATE TABLE my_sample AS SELECT * FROM {node.sql()} LIMIT 1000"
            )


def prepare(sql: str, catalog: Catalog, *, read_only: bool = True) -> str:
    """``sql`` with every time-travel clause resolved to a snapshot scan; refuses lake writes if ``read_only``.

    Queries with neither time travel nor a write go to DuckDB untouched (sqlglot never sees them).
    """
    travels = bool(_MARKERS.search(sql))
    writes = read_only and bool(_WRITES.search(sql))
    if not travels and not writes:
        return sql
    statements = parse(sql)
    if writes:
        for statement in statements:
            check_read_only(statement)
    if not travels:
        return sql
    rewritten = []
    for statement in statements:

        def swap(node: exp.Expression) -> exp.Expression:
            if not isinstance(node, exp.Table):
                return node
            target = _target_snapshot(catalog, node)
            if target is None:
                return node
            return _replacement(*target, node.alias_or_name)

        rewritten.append(statement.transform(swap).sql(dialect="duckdb"))
    return ";\n".join(rewritten)
