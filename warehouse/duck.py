"""DuckDB connections with the packaged Iceberg extension loaded, fully offline."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb


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
    """A DuckDB connection that can ``iceberg_scan`` without ever reaching the network."""
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if memory_limit:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(database, config=config)
    load_extensions(con)
    return con


def load_extensions(con: duckdb.DuckDBPyConnection) -> None:
    """Load the packaged avro and iceberg extensions (iceberg reads its manifests with avro)."""
    for name in ("avro", "iceberg"):
        con.execute(f"LOAD '{_extension_path(name)}'")


def quote_literal(value: str) -> str:
    """A SQL string literal for ``value``."""
    return "'" + value.replace("'", "''") + "'"
