"""Skip work whose result cannot have changed: a model's fingerprint is its code, its vars and the
snapshot of every table it reads (itself included). Equal fingerprint, equal result.
"""

from __future__ import annotations

import hashlib
import json

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

PROPERTY = "tierhouse.fingerprint"


def fingerprint(catalog: Catalog, table: str, inputs: list[str], code: str) -> str:
    """sha256 of the model code (with its vars) and the current snapshot of each input and of ``table``."""
    state = {name: catalog.load_table(name).metadata.current_snapshot_id for name in sorted({*inputs, table})}
    return hashlib.sha256(json.dumps({"code": code, "state": state}, sort_keys=True).encode()).hexdigest()


def is_current(catalog: Catalog, table: str, inputs: list[str], code: str) -> bool:
    """True when the last build of ``table`` saw exactly this code and these input snapshots."""
    stored = catalog.load_table(table).properties.get(PROPERTY)
    return stored is not None and stored == fingerprint(catalog, table, inputs, code)


def remember(catalog: Catalog, table: Table, inputs: list[str], code: str) -> None:
    """Record the fingerprint of ``table``'s now-current state, for the next build to compare."""
    value = fingerprint(catalog, ".".join(table.name()), inputs, code)
    with table.transaction() as tx:
        tx.set_properties({PROPERTY: value})
