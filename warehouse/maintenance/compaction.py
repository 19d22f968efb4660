"""Compaction: bin-pack a table's small data files, without changing what anyone reads.

Incremental builds and chunked ingests leave many small files beside the large ones of a first
build. A compaction reads only small files of the current snapshot (one partition at a time), writes
their rows as fewer files, and swaps the one set for the other in a single overwrite snapshot on
``main``. A file an older kept snapshot reads (a kept build tag) is not packed: both copies would stay
on disk until that snapshot expired. A run rewrites at most a share of the table's bytes, smallest
files first: the many small files that incremental builds leave are packed, and a first build's large
files are not copied again.

The snapshot names the one whose rows it holds (``tierhouse.compacted-from``: the snapshot it was made
from, or what that one was compacted from in turn). Fingerprints follow that name, so a compaction
never makes the next build recompute anything; and it stands in for that snapshot wherever the next
build would read it (``holder``), so maintenance can expire the snapshot compacted from and delete
the small files, once the compaction is older than the grace period (a reader that started on the
old ``main`` may still be reading them). While another reason keeps that snapshot (a kept tag, an
export), the packed bytes stay on disk twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.table import FileScanTask, Table

COMPACTED_FROM = "tierhouse.compacted-from"


@dataclass(frozen=True)
class Compaction:
    """One table's compaction: data files before and after, the bytes rewritten, and the snapshots."""

    table: str
    files_before: int
    files_after: int
    bytes_rewritten: int
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


def holder(table: Table, snapshot_id: int, made_by_ms: int | None = None) -> int | None:
    """The snapshot to read ``snapshot_id``'s rows from: the newest compaction of it (made by
    ``made_by_ms``, if given), else itself (None once neither is left)."""
    copies = [
        s.snapshot_id for s in table.snapshots()
        if s.summary and COMPACTED_FROM in s.summary.additional_properties
        and (made_by_ms is None or s.timestamp_ms <= made_by_ms)
        and content_snapshot(table, s.snapshot_id) == snapshot_id
    ]  # fmt: skip
    if copies:
        return copies[-1]
    return snapshot_id if table.snapshot_by_id(snapshot_id) is not None else None


def _packable(
    tasks: list[FileScanTask], small_bytes: int, budget: int, held: Collection[str]
) -> list[list[FileScanTask]]:
    """Small files no other snapshot reads (``held``), smallest first while their bytes fit ``budget``, grouped
    by partition; a partition contributes only when two or more of its files were picked (one alone is
    already packed)."""
    groups: dict[tuple, list[FileScanTask]] = defaultdict(list)
    spent = 0
    small = (
        t for t in tasks
        if t.file.file_size_in_bytes < small_bytes and not t.delete_files and t.file.file_path not in held
    )  # fmt: skip
    for task in sorted(small, key=lambda t: t.file.file_size_in_bytes):
        spent += task.file.file_size_in_bytes
        if spent > budget:
            break
        groups[(task.file.spec_id, tuple(task.file.partition))].append(task)
    return [group for group in groups.values() if len(group) > 1]


def compact(
    table: Table,
    name: str,
    small_bytes: int,
    min_files: int,
    max_share: float,
    held: Collection[str] = frozenset(),
) -> Compaction | None:
    """Pack ``table``'s files under ``small_bytes``, rewriting at most ``max_share`` of its data bytes,
    if at least ``min_files`` files can be packed.

    Files in ``held`` (those a kept snapshot other than the current one reads) are left: packing them
    would keep both copies on disk until that snapshot expires. Memory holds one partition's picked
    files at a time (at most the rewrite budget).
    """
    current = table.metadata.current_snapshot_id
    tasks = list(table.scan().plan_files()) if current is not None else []
    budget = int(max_share * sum(t.file.file_size_in_bytes for t in tasks))
    groups = _packable(tasks, small_bytes, budget, held)
    if sum(len(group) for group in groups) < min_files:
        return None
    reader = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
    rewritten = 0
    with table.transaction() as tx:  # one commit: readers see the old files or the new, never a mix
        # the snapshot whose rows these are, even if ``current`` is itself a compaction: a chain's middle
        # link may expire (a compaction stands in for the snapshot it packed) without breaking the chain
        properties = {COMPACTED_FROM: str(content_snapshot(table, current))}
        with tx.update_snapshot(snapshot_properties=properties).overwrite() as swap:
            for group in groups:
                rows = reader.to_table(group)
                for data_file in _dataframe_to_data_files(tx.table_metadata, rows, table.io, swap.commit_uuid):
                    swap.append_data_file(data_file)
                for task in group:
                    swap.delete_data_file(task.file)
                    rewritten += task.file.file_size_in_bytes
    files_after = len(list(table.scan().plan_files()))
    return Compaction(name, len(tasks), files_after, rewritten, current, table.metadata.current_snapshot_id)
