"""DuckDB connections with the packaged Iceberg extension loaded, fully offline (httpfs too for an S3 warehouse)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb

from warehouse.config import load_settings
from warehouse.memory.limits import bound
from warehouse.objectstore import attach_s3, s3_access


@cache
def _extension_path(name: str) -> str:
    """The ``.duckdb_extension`` file shipped in the ``duckdb-extension-<name>`` wheel."""
    import importlib

    module = importlib.import_module(f"duckdb_extension_{name}")
    root = Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    found = sorted(root.glob(f"{name}.duckdb_extension"))
    if not found:
        raise RuntimeError(
            f"duckdb-extension-{name} has no build for DuckDB {duckdb.__version__} under {root}; "
            "install the pinned versions from pyproject.toml"
        )
    return str(found[0])


def new_connection(database: str = ":memory:", memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that can ``iceberg_scan`` without ever reaching the network, bounded by
    ``memory_limit`` (default ``TIERHOUSE_MEMORY_LIMIT``) and spilling past it."""
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    con = duckdb.connect(database, config=config)
    settings = load_settings()
    bound(con, memory_limit or settings.memory_limit, settings.duckdb_threads)
    load_extensions(con)
    return con


def load_extensions(con: duckdb.DuckDBPyConnection) -> None:
    """Load the packaged avro and iceberg extensions (iceberg reads its manifests with avro), and
    ``httpfs`` with the catalog's S3 credentials when the warehouse is on object storage."""
    for name in ("avro", "iceberg"):
        con.execute(f"LOAD '{_extension_path(name)}'")
    access = s3_access(load_settings())
    if access is not None:
        attach_s3(con, access, _extension_path("httpfs"))


def quote_literal(value: str) -> str:
    """A SQL string literal for ``value``."""
    return "'" + value.replace("'", "''") + "'"
