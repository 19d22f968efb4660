"""Where the catalog and the warehouse live, and the limits ingest and builds work within.

The embedded default needs no server: a pyiceberg ``SqlCatalog`` on SQLite plus a
local warehouse folder, both under ``$TIERHOUSE_HOME`` (default ``./lake``).
To scale out, name a catalog that pyiceberg's own configuration knows
(``~/.pyiceberg.yaml`` or ``PYICEBERG_CATALOG__<NAME>__*`` variables) with
``TIERHOUSE_CATALOG=<name>``: a REST catalog with object storage works unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from warehouse.memory.limits import default_memory_limit

DEFAULT_HOME = "lake"
DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024
DEFAULT_COMMIT_BYTES = 32 * 1024 * 1024
DEFAULT_COMMIT_ROWS = 100_000
DEFAULT_CACHE = Path.home() / ".cache" / "tierhouse"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"config: {name}={raw!r} is not an integer") from exc


@dataclass(frozen=True)
class Settings:
    """Everything that locates the lake and bounds ingest work; one instance per process."""

    home: Path
    catalog_name: str | None = None
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    commit_bytes: int = DEFAULT_COMMIT_BYTES
    commit_rows: int = DEFAULT_COMMIT_ROWS
    cache_dir: Path = DEFAULT_CACHE
    memory_limit: str = field(default_factory=default_memory_limit)  # what DuckDB may use before it spills
    duckdb_threads: int = 0  # DuckDB's worker threads; 0 leaves DuckDB's own default (one per core)

    @property
    def embedded(self) -> bool:
        """True when the lake is the local SQLite catalog (no catalog name configured)."""
        return self.catalog_name is None

    @property
    def catalog_db(self) -> Path:
        return self.home / "catalog.db"

    @property
    def warehouse_dir(self) -> Path:
        return self.home / "warehouse"

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields changed (CLI flags win over the environment)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def cache_dir() -> Path:
    """Where downloads and assembled models are kept: ``$TIERHOUSE_CACHE``, else ``~/.cache/tierhouse``."""
    cache = os.environ.get("TIERHOUSE_CACHE")
    return Path(cache).expanduser().resolve() if cache else DEFAULT_CACHE


def load_settings(home: str | os.PathLike[str] | None = None) -> Settings:
    """Read settings from the environment; ``home`` overrides ``TIERHOUSE_HOME``."""
    root = Path(home or os.environ.get("TIERHOUSE_HOME") or DEFAULT_HOME).expanduser().resolve()
    return Settings(
        home=root,
        catalog_name=os.environ.get("TIERHOUSE_CATALOG") or None,
        max_record_bytes=_env_int("TIERHOUSE_MAX_RECORD_BYTES", DEFAULT_MAX_RECORD_BYTES),
        commit_bytes=_env_int("TIERHOUSE_COMMIT_BYTES", DEFAULT_COMMIT_BYTES),
        commit_rows=_env_int("TIERHOUSE_COMMIT_ROWS", DEFAULT_COMMIT_ROWS),
        cache_dir=cache_dir(),
        memory_limit=os.environ.get("TIERHOUSE_MEMORY_LIMIT") or default_memory_limit(),
        duckdb_threads=_env_int("TIERHOUSE_DUCKDB_THREADS", 0),
    )
