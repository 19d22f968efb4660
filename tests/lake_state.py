"""Put a lake back to a state it was in, so tests can share one built baseline instead of rebuilding it.

Each table's ``main`` returns to its saved snapshot and its properties (the build fingerprints) to
their saved values; a table that had no snapshot is dropped (the next build creates it again). Later
snapshots stay in the metadata, unreferenced, like those of a failed gate's audit branch.
"""

from __future__ import annotations

from pyiceberg.catalog import Catalog

from warehouse.tables import ALL_TABLES

State = dict[str, tuple[int | None, dict[str, str]]]


def freeze(catalog: Catalog) -> State:
    """Every table's current snapshot and properties."""
    state: State = {}
    for tdef in ALL_TABLES:
        if catalog.table_exists(tdef.name):
            table = catalog.load_table(tdef.name)
            state[tdef.name] = (table.metadata.current_snapshot_id, dict(table.properties))
    return state


def restore(catalog: Catalog, state: State) -> None:
    """Move every table back to ``state``."""
    for tdef in ALL_TABLES:
        if not catalog.table_exists(tdef.name):
            continue
        table = catalog.load_table(tdef.name)
        snapshot, properties = state.get(tdef.name, (None, {}))
        if snapshot is None:
            if table.metadata.current_snapshot_id is not None:
                catalog.drop_table(tdef.name)
            continue
        if table.metadata.current_snapshot_id != snapshot:
            table.manage_snapshots().set_current_snapshot(snapshot_id=snapshot).commit()
        stale = [k for k in table.properties if k not in properties]
        with table.transaction() as tx:
            if stale:
                tx.remove_properties(*stale)
            tx.set_properties(properties)
