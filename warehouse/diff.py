"""What changed in a table between two states: rows added, removed and changed by key, why rows left."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from warehouse.duck import quote_literal
from warehouse.publish import key_column
from warehouse.query import LakeConnection
from warehouse.tables import L1_CLEAN, resolve_name
from warehouse.timetravel import TimeTravelError, snapshot_at, snapshot_for_version


@dataclass
class TableDiff:
    """Rows of ``table`` that state ``b`` has and ``a`` lacks (added), the reverse (removed), and
    rows under the same key whose values differ (changed), with counts per source and per reason."""

    table: str
    a: str
    b: str
    a_snapshot: int
    b_snapshot: int
    added: int = 0
    removed: int = 0
    changed: int = 0
    by_source: list[dict[str, Any]] = field(default_factory=list)
    left_because: list[dict[str, Any]] = field(default_factory=list)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_state(table: Table, name: str, ref: str) -> int:
    """A snapshot id from a snapshot id, tag, ``build-N``, branch, or ISO time."""
    try:
        return snapshot_for_version(table, name, ref)
    except TimeTravelError:
        if any(c in ref for c in "-:T") and ref[:1].isdigit() and not ref.lstrip("-").isdigit():
            return snapshot_at(table, name, ref)
        raise


def _scan(table: Table, snapshot_id: int) -> str:
    return f"iceberg_scan({quote_literal(table.metadata_location)}, snapshot_from_id={snapshot_id})"


def diff(con: LakeConnection, catalog: Catalog, name: str, a: str, b: str, sample: int = 5) -> TableDiff:
    """Compare ``name`` at state ``a`` with state ``b`` (snapshots, tags, builds or times)."""
    tdef = resolve_name(name)
    table = catalog.load_table(tdef.name)
    key = key_column(tdef)
    a_id, b_id = resolve_state(table, tdef.name, a), resolve_state(table, tdef.name, b)
    result = TableDiff(tdef.name, a, b, a_id, b_id)
    for alias, snapshot_id in (("_a", a_id), ("_b", b_id)):
        con.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {alias} AS "
            f"SELECT t.{key} AS k, t.doc_id, t.source, t.uri, hash(t) AS h FROM {_scan(table, snapshot_id)} t"
        )
    con.con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _d AS
        SELECT 'added' AS change, k, doc_id, source, uri FROM _b WHERE k NOT IN (SELECT k FROM _a)
        UNION ALL SELECT 'removed', k, doc_id, source, uri FROM _a WHERE k NOT IN (SELECT k FROM _b)
        UNION ALL SELECT 'changed', _b.k, _b.doc_id, _b.source, _b.uri FROM _a JOIN _b USING (k) WHERE _a.h != _b.h
        """
    )
    counts = dict(con.con.execute("SELECT change, count(*) FROM _d GROUP BY 1").fetchall())
    result.added, result.removed, result.changed = (counts.get(c, 0) for c in ("added", "removed", "changed"))
    result.by_source = [
        {"source": s, "added": ad, "removed": rm, "changed": ch}
        for s, ad, rm, ch in con.con.execute(
            "SELECT source, count(*) FILTER (change = 'added'), count(*) FILTER (change = 'removed'), "
            "count(*) FILTER (change = 'changed') FROM _d GROUP BY 1 ORDER BY 1"
        ).fetchall()
    ]
    result.left_because = _reasons(con, catalog, tdef.name, b)
    for change in ("added", "removed", "changed"):
        rows = con.con.execute(
            "SELECT k, source, uri FROM _d WHERE change = ? ORDER BY k LIMIT ?", [change, sample]
        ).fetchall()
        result.samples[change] = [{key: k, "source": s, "uri": u} for k, s, u in rows]
    return result


def _reasons(con: LakeConnection, catalog: Catalog, name: str, b: str) -> list[dict[str, Any]]:
    """Why rows left or stopped being kept: the L1 rule verdicts at state ``b`` (same tag, else latest)."""
    l1 = catalog.load_table(L1_CLEAN.name)
    if l1.metadata.current_snapshot_id is None:
        return []
    l1_state = l1.metadata.refs[b].snapshot_id if b in l1.metadata.refs else l1.metadata.current_snapshot_id
    if name == L1_CLEAN.name:
        # rows whose verdict went from kept to rejected, or that are rejected and new
        leaving = "SELECT doc_id FROM _d WHERE change IN ('changed', 'added')"
    else:
        leaving = "SELECT doc_id FROM _d WHERE change = 'removed'"
    only_rejected = "WHERE l.doc_id IS NULL OR NOT l.kept" if name == L1_CLEAN.name else ""
    rows = con.con.execute(
        f"""
        SELECT coalesce(reason, 'passed L1; not selected by this tier') AS reason, count(*) AS n
        FROM (
            SELECT unnest(CASE
                WHEN l.doc_id IS NULL THEN ['not in L1 at {b}']
                WHEN len(l.reject_reasons) = 0 THEN [NULL]
                ELSE l.reject_reasons END) AS reason
            FROM ({leaving}) AS d(doc_id)
            LEFT JOIN {_scan(l1, l1_state)} l USING (doc_id)
            {only_rejected}
        )
        GROUP BY 1 ORDER BY n DESC, reason
        """
    ).fetchall()
    return [{"reason": r, "rows": n} for r, n in rows]
