"""How much memory DuckDB may use, and where it spills the rest.

One setting, ``TIERHOUSE_MEMORY_LIMIT`` (DuckDB's size syntax: ``2GB``, ``512MiB``), bounds every
DuckDB connection tierhouse opens. Past it, DuckDB writes its large operators and the staged
tables to a spill folder instead of growing, so a build's memory no longer follows its corpus.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import duckdb

#: the default never exceeds this: DuckDB fills whatever limit it has before it spills, so with 512 MiB
#: L1's peak RSS grew 1.28x from 32 to 320 MB of text (benchmarks/RESULTS.md)
DEFAULT_CAP = 512 * 1024**2


def physical_memory() -> int:
    """Bytes of RAM on this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def default_memory_limit() -> str:
    """A quarter of RAM, at most 512 MiB: room for Python, pyarrow and the gate beside DuckDB."""
    return f"{min(physical_memory() // 4, DEFAULT_CAP) // 2**20}MiB"


def spill_directory() -> Path:
    """This process's own spill folder under the system's temporary folder (``TMPDIR`` moves it).

    Per process, so two builds never share DuckDB's temporary files; DuckDB creates it only when it
    spills and removes what it wrote when the connection closes."""
    return Path(tempfile.gettempdir()) / f"tierhouse-spill-{os.getpid()}"


def bound(con: duckdb.DuckDBPyConnection, memory_limit: str, threads: int = 0) -> None:
    """Give ``con`` its memory limit, spill folder and, unless 0, its number of threads. Each thread
    scanning a table holds a row group of it, so the smallest limit a build fits in grows with them."""
    try:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    except duckdb.Error as exc:
        raise ValueError(f"config: TIERHOUSE_MEMORY_LIMIT={memory_limit!r} is not a size DuckDB reads: {exc}") from exc
    con.execute(f"SET temp_directory = '{spill_directory()}'")
    if threads < 0:
        raise ValueError(f"config: TIERHOUSE_DUCKDB_THREADS={threads} is negative")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
