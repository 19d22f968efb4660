"""Compaction: rewrite a table's current rows into fewer files, without changing what anyone reads.

Incremental builds and chunked ingests leave many small files. A compaction rewrites the current
snapshot's rows (streamed for an unpartitioned table; one partition value at a time, in one commit,
for a partitioned one) as a new snapshot on ``main`` that names the
snapshot it was made from (``tierhouse.compacted-from``). Fingerprints follow that name back to the
snapshot whose content it holds, so a compaction never makes the next build recompute anything.
Older snapshots (and the tags on them) keep their own files.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyiceberg.expressions import EqualTo
from pyiceberg.table import Table

COMPACTED_FROM = "tierhouse.compacted-from"


@dataclass(frozen=True)
class Compaction:
    """One table's compaction: data files before and after, and the snapshot it rewrote."""

    table: str
    files_before: int
    files_after: int
    snapshot_from: int
    snapshot_to: int


def content_snapshot(table: Table, snapshot_id: int | None) -> int | None:
    """The snapshot whose rows ``snapshot_id`` holds: itself, or what a compaction rewrote."""
    while snapshot_id is not None:
        snapshot = table.snapshot_by_id(snapshot_id)
        origin = snapshot.summary.additional_properties.get(COMPACTED_FROM) if snapshot else None
        if origin is None:
            return snapshot_id
        snapshot_id = int(origin)
    return None


def _data_files(table: Table) -> list[int]:
    """Sizes of the current snapshot's data files."""
    return [task.file.file_size_in_bytes for task in table.scan().plan_files()]


def compact(table: Table, name: str, small_bytes: int, min_files: int) -> Compaction | None:
    """Rewrite ``table``'s current rows if it has at least ``min_files`` files under ``small_bytes``."""
    current = table.metadata.current_snapshot_id
    sizes = _data_files(table) if current is not None else []
    if sum(size < small_bytes for size in sizes) < min_files:
        return None
    marker = {COMPACTED_FROM: str(current)}
    spec = table.spec()
    if not spec.fields:
        table.overwrite(table.scan().to_arrow_batch_reader(), snapshot_properties=marker)  # streamed
    else:  # pyiceberg cannot stream into a partitioned table: one partition value in memory at a time
        column = table.schema().find_field(spec.fields[0].source_id).name
        values = table.scan(selected_fields=(column,)).to_arrow().column(column).unique().to_pylist()
        with table.transaction() as tx:  # one commit: readers see the old files or the new, never a mix
            for value in values:
                rows = table.scan(row_filter=EqualTo(column, value)).to_arrow()
                tx.overwrite(rows, overwrite_filter=EqualTo(column, value), snapshot_properties=marker)
    return Compaction(name, len(sizes), len(_data_files(table)), current, table.metadata.current_snapshot_id)
