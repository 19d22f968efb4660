"""Append a DuckDB result to an Iceberg branch one bounded chunk at a time, as one snapshot.

pyiceberg's own ``append`` wants the whole result as one Arrow table, and its streaming variant
hands every chunk to a thread pool at once; either holds the whole change in memory. Here each
chunk is written to its data files before the next is read.
"""

from __future__ import annotations

import itertools

import duckdb
import pyarrow as pa
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import _dataframe_to_data_files  # pinned pyiceberg 0.12: the writer append uses
from pyiceberg.table import Transaction

from warehouse.memory.batches import READ_ROWS, bounded_tables

#: Arrow bytes per chunk: one or more data files each; larger changes just make more files. Writing
#: one costs a few times its size: at 5x the bundled e-mails, L1's write step rose 550 MB above its
#: start with 128 MiB chunks and 230 MB with 32 MiB (benchmarks/RESULTS.md)
CHUNK_BYTES = 32 * 1024**2


def append_query(
    tx: Transaction,
    io: FileIO,
    con: duckdb.DuckDBPyConnection,
    sql: str,
    schema: pa.Schema,
    branch: str,
    chunk_bytes: int = CHUNK_BYTES,
) -> int:
    """Append the rows of ``sql`` (cast to ``schema``) to ``branch`` in one snapshot; the row count."""
    rows = 0
    counter = itertools.count(0)
    reader = con.execute(sql).to_arrow_reader(READ_ROWS)
    with tx.update_snapshot(branch=branch).fast_append() as append:
        for chunk in bounded_tables(reader, chunk_bytes):
            files = _dataframe_to_data_files(
                table_metadata=tx.table_metadata,
                write_uuid=append.commit_uuid,
                df=chunk.cast(schema),
                io=io,
                counter=counter,
            )
            for data_file in files:
                append.append_data_file(data_file)
            rows += chunk.num_rows
    return rows
