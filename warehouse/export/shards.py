"""Deterministic shards: the same records in the same order always give the same bytes.

A shard closes after ``shard_docs`` records or ``shard_bytes`` bytes of text, whichever comes
first, decided record by record (never by how the query happened to batch its output), and each
shard is written in one call with a fixed row-group size, so its bytes depend only on its records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

FORMATS = ("parquet", "jsonl")
ROW_GROUP = 1_000


@dataclass(frozen=True)
class Shard:
    """One written file: its path relative to the stage folder, its records, tokens and sha256."""

    path: str
    records: int
    tokens: int
    bytes: int
    sha256: str


def _cut(batches: Iterable[pa.RecordBatch], text_column: str, max_rows: int, max_bytes: int) -> Iterator[pa.Table]:
    """Regroup record batches into shard-sized tables, closing a shard on whichever limit comes first."""
    pending: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in batches:
        lengths = pc.binary_length(pc.cast(batch.column(text_column), pa.large_binary())).to_pylist()
        start = 0
        for i, length in enumerate(lengths):
            rows += 1
            size += length or 0
            if rows >= max_rows or size >= max_bytes:
                pending.append(batch.slice(start, i + 1 - start))
                yield pa.Table.from_batches(pending)
                pending, rows, size, start = [], 0, 0, i + 1
        if start < batch.num_rows:
            pending.append(batch.slice(start))
    if pending:
        yield pa.Table.from_batches(pending)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_shards(
    batches: Iterable[pa.RecordBatch],
    folder: Path,
    fmt: str,
    text_column: str,
    shard_docs: int,
    shard_bytes: int,
) -> list[Shard]:
    """Write ``batches`` (already in export order) as ``part-NNNNN.<fmt>`` files under ``folder``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    shards = []
    for n, table in enumerate(_cut(batches, text_column, shard_docs, shard_bytes)):
        path = folder / f"part-{n:05d}.{fmt}"
        if fmt == "parquet":
            pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP, write_statistics=False)
        else:
            with path.open("wb") as f:
                for record in table.to_pylist():
                    f.write(orjson.dumps(record) + b"\n")
        tokens = int(pc.sum(table.column("tokens")).as_py() or 0)
        shards.append(Shard(path.name, table.num_rows, tokens, path.stat().st_size, _sha256(path)))
    return shards
