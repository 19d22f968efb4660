"""A DuckDB session over the lake: every tier and ops table addressable as ``tiers.x`` / ``ops.x``."""

from __future__ import annotations

import duckdb
from pyiceberg.catalog import Catalog

from warehouse.catalog import open_catalog
from warehouse.config import Settings, load_settings
from warehouse.duck import new_connection, quote_literal
from warehouse.tables import ALL_TABLES, TableDef, ensure_table


def register_table(con: duckdb.DuckDBPyConnection, catalog: Catalog, tdef: TableDef) -> None:
    """(Re)point the view ``tdef.name`` at the table's current Iceberg metadata (its ``main``)."""
    table = ensure_table(catalog, tdef)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {tdef.namespace}")
    con.execute(
        f"CREATE OR REPLACE VIEW {tdef.name} AS SELECT * FROM iceberg_scan({quote_literal(table.metadata_location)})"
    )


def register_tables(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> None:
    """One view per table; reads stream through ``iceberg_scan``, nothing is loaded up front."""
    for tdef in ALL_TABLES:
        register_table(con, catalog, tdef)


def connect(settings: Settings | None = None, catalog: Catalog | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the latest snapshot of every table registered; query it with plain SQL.

    >>> con = connect()
    >>> con.sql("SELECT source, count(*) FROM tiers.l0_raw GROUP BY 1").show()
    """
    catalog = catalog or open_catalog(settings or load_settings())
    con = new_connection()
    register_tables(con, catalog)
    return con
