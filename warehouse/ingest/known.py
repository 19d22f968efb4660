"""Keys already stored, held in DuckDB rather than Python sets so memory stays bounded."""

from __future__ import annotations

import duckdb
import pyarrow as pa

NEW, MINE, EARLIER = 0, 1, 2  # not stored / stored by this run / stored before (or by another writer)


class KnownKeys:
    """A set of string keys that answers, for a batch of keys, which are already stored and by whom."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, seed_sql: str | None = None) -> None:
        self.con = con
        self.name = name
        con.execute(f"CREATE TABLE {name} (k VARCHAR, mine BOOLEAN)")
        if seed_sql:
            con.execute(f"INSERT INTO {name} SELECT k, false FROM ({seed_sql})")

    def lookup(self, keys: list[str]) -> list[int]:
        """For each key, ``NEW``, ``MINE`` or ``EARLIER``."""
        if not keys:
            return []
        probe = pa.table({"k": pa.array(keys, pa.string()), "i": pa.array(range(len(keys)), pa.int64())})
        self.con.register("_probe", probe)
        try:
            hits = self.con.execute(
                f"SELECT p.i, bool_or(s.mine) FROM _probe p JOIN {self.name} s ON p.k = s.k GROUP BY p.i"
            ).fetchall()
        finally:
            self.con.unregister("_probe")
        status = [NEW] * len(keys)
        for i, mine in hits:
            status[i] = MINE if mine else EARLIER
        return status

    def add(self, keys: list[str], mine: bool) -> None:
        """Remember ``keys`` as stored, by this run (``mine``) or by someone else."""
        if not keys:
            return
        batch = pa.table({"k": pa.array(keys, pa.string())})
        self.con.register("_add", batch)
        try:
            self.con.execute(f"INSERT INTO {self.name} SELECT k, ? FROM _add", [mine])
        finally:
            self.con.unregister("_add")
