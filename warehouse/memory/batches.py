"""Arrow batches grouped by bytes, not rows: a thousand long documents weigh more than a million short ones."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from warehouse.memory.ceiling import check as check_rss_ceiling

#: rows DuckDB hands over per batch
READ_ROWS = 2048


def _pieces(batch: pa.RecordBatch, max_bytes: int) -> Iterator[pa.RecordBatch]:
    """``batch``, or zero-copy slices of it of about ``max_bytes`` each when it is larger."""
    if batch.nbytes <= max_bytes or batch.num_rows < 2:
        yield batch
        return
    rows = max(1, batch.num_rows * max_bytes // batch.nbytes)
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


def bounded_tables(
    batches: Iterable[pa.RecordBatch], max_bytes: int, max_rows: int | None = None
) -> Iterator[pa.Table]:
    """Consecutive batches as tables of at most about ``max_bytes`` (and ``max_rows``) each; before each
    table the process's RSS ceiling is checked (``warehouse.memory.ceiling``), so no stream outgrows it."""
    group: list[pa.RecordBatch] = []
    size = rows = 0
    for batch in (piece for whole in batches for piece in _pieces(whole, max_bytes)):
        if group and (size + batch.nbytes > max_bytes or (max_rows and rows + batch.num_rows > max_rows)):
            check_rss_ceiling()
            yield pa.Table.from_batches(group)
            group, size, rows = [], 0, 0
        group.append(batch)
        size += batch.nbytes
        rows += batch.num_rows
    if group:
        check_rss_ceiling()
        yield pa.Table.from_batches(group)
