"""Skip work whose result cannot have changed, and tell models what they already saw.

A model's fingerprint is its code (SQL with vars) and the snapshot of every table it reads, itself
included (a compaction's snapshot counts as the one it rewrote): equal fingerprint, equal result.
The input snapshots a model last published from are kept too, so a model can read just what changed
since (``previous(...)`` in dbt).
"""

from __future__ import annotations

import hashlib
import json

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from warehouse.maintenance.compaction import content_snapshot

FINGERPRINT = "tierhouse.fingerprint"
SEEN = "tierhouse.inputs-seen"  # JSON: {"code": ..., "inputs": {table: snapshot id}}


def _snapshots(catalog: Catalog, tables: list[str]) -> dict[str, int | None]:
    """Each table's current content: its current snapshot, or the one a compaction of it rewrote."""
    state = {}
    for name in sorted(set(tables)):
        table = catalog.load_table(name)
        state[name] = content_snapshot(table, table.metadata.current_snapshot_id)
    return state


def _digest(code: str, state: dict[str, int | None]) -> str:
    return hashlib.sha256(json.dumps({"code": code, "state": state}, sort_keys=True).encode()).hexdigest()


def fingerprint(catalog: Catalog, table: str, inputs: list[str], code: str) -> str:
    """sha256 of the model code (with its vars) and the current snapshot of each input and of ``table``."""
    return _digest(code, _snapshots(catalog, [*inputs, table]))


def is_current(catalog: Catalog, table: str, inputs: list[str], code: str) -> bool:
    """True when the last build of ``table`` saw exactly this code and these input snapshots."""
    stored = catalog.load_table(table).properties.get(FINGERPRINT)
    return stored is not None and stored == fingerprint(catalog, table, inputs, code)


def remember(catalog: Catalog, table: Table, inputs: list[str], code: str) -> None:
    """Record, with ``table``'s now-current state, the fingerprint and the input snapshots it came from."""
    name = ".".join(table.name())
    state = _snapshots(catalog, [*inputs, name])  # each table loaded once for both records
    seen = json.dumps({"code": code, "inputs": {k: v for k, v in state.items() if k in inputs}}, sort_keys=True)
    with table.transaction() as tx:
        tx.set_properties({FINGERPRINT: _digest(code, state), SEEN: seen})


def inputs_seen(table: Table, code: str) -> dict[str, int | None]:
    """The input snapshots the table's current state was built from, if built by this same code."""
    raw = table.properties.get(SEEN)
    if not raw:
        return {}
    seen = json.loads(raw)
    return seen["inputs"] if seen.get("code") == code else {}
