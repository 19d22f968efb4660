"""A DuckDB session over the lake: every tier and ops table addressable as ``tiers.x`` / ``ops.x``."""

from __future__ import annotations

import duckdb
from pyiceberg.catalog import Catalog

from warehouse.catalog import open_catalog
from warehouse.config import Settings, load_settings
from warehouse.duck import new_connection, quote_literal
from warehouse.tables import ALL_TABLES, ensure_table


def register_tables(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> None:
    """(Re)point one view per table at its current Iceberg metadata; reads stream via ``iceberg_scan``."""
    for tdef in ALL_TABLES:
        table = ensure_table(catalog, tdef)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {tdef.namespace}")
        con.execute(
            f"CREATE OR REPLACE VIEW {tdef.name} AS "
            f"SELECT * FROM iceberg_scan({quote_literal(table.metadata_location)})"
        )


def connect(settings: Settings | None = None, catalog: Catalog | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the latest snapshot of every table registered; query it with plain SQL.

    >>> con = connect()
    >>> con.sql("SELECT source, count(*) FROM tiers.l0_raw GROUP BY 1").show()
    """
    catalog = catalog or open_catalog(settings or load_settings())
    con = new_connection()
    register_tables(con, catalog)
    return con
