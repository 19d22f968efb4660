"""The snapshot history of a table: what each commit did, and which tags point at it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pyiceberg.catalog import Catalog
from pyiceberg.table.refs import SnapshotRefType

from warehouse.tables import resolve_name


@dataclass(frozen=True)
class SnapshotInfo:
    """One row of ``tierhouse history``."""

    snapshot_id: int
    parent_id: int | None
    committed_at: datetime
    operation: str
    rows_added: int
    rows_removed: int
    total_rows: int
    tags: tuple[str, ...]
    branches: tuple[str, ...]
    properties: dict[str, str]


def history(catalog: Catalog, table_name: str) -> list[SnapshotInfo]:
    """Every snapshot of ``table_name``, oldest first, with row counts from the snapshot summaries."""
    table = catalog.load_table(resolve_name(table_name).name)
    labels: dict[int, dict[str, list[str]]] = {}
    for name, ref in table.metadata.refs.items():
        kind = "tags" if ref.snapshot_ref_type == SnapshotRefType.TAG else "branches"
        labels.setdefault(ref.snapshot_id, {"tags": [], "branches": []})[kind].append(name)
    rows = []
    for snap in sorted(table.snapshots(), key=lambda s: s.timestamp_ms):
        summary = snap.summary.additional_properties if snap.summary else {}
        mine = labels.get(snap.snapshot_id, {"tags": [], "branches": []})
        rows.append(
            SnapshotInfo(
                snapshot_id=snap.snapshot_id,
                parent_id=snap.parent_snapshot_id,
                committed_at=datetime.fromtimestamp(snap.timestamp_ms / 1000, tz=UTC),
                operation=str(snap.summary.operation.value) if snap.summary else "unknown",
                rows_added=int(summary.get("added-records", 0)),
                rows_removed=int(summary.get("deleted-records", 0)),
                total_rows=int(summary.get("total-records", 0)),
                tags=tuple(sorted(mine["tags"])),
                branches=tuple(sorted(mine["branches"])),
                properties={k: v for k, v in summary.items() if k.startswith("tierhouse.")},
            )
        )
    return rows
