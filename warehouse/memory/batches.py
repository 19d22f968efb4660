"""Arrow batches grouped by bytes, not rows: a thousand long documents weigh more than a million short ones."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

#: rows DuckDB hands over per batch: small, so a group never overshoots its byte bound by much
READ_ROWS = 2048


def bounded_tables(
    batches: Iterable[pa.RecordBatch], max_bytes: int, max_rows: int | None = None
) -> Iterator[pa.Table]:
    """Consecutive batches as tables of at most about ``max_bytes`` (and ``max_rows``) each."""
    group: list[pa.RecordBatch] = []
    size = rows = 0
    for batch in batches:
        if group and (size + batch.nbytes > max_bytes or (max_rows and rows + batch.num_rows > max_rows)):
            yield pa.Table.from_batches(group)
            group, size, rows = [], 0, 0
        group.append(batch)
        size += batch.nbytes
        rows += batch.num_rows
    if group:
        yield pa.Table.from_batches(group)
