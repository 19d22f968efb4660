"""A DuckDB session over the lake: every tier and ops table addressable as ``tiers.x`` / ``ops.x``."""

from __future__ import annotations

import duckdb
from pyiceberg.catalog import Catalog

from warehouse.catalog import open_catalog
from warehouse.config import Settings, load_settings
from warehouse.duck import new_connection, quote_literal
from warehouse.tables import ALL_TABLES, TableDef, ensure_table
from warehouse.timetravel import prepare


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


class LakeConnection:
    """A DuckDB connection over the lake that understands time travel and keeps the lake read-only.

    ``sql``, ``execute`` and ``query`` accept ``FOR VERSION AS OF`` / ``FOR TIMESTAMP AS OF`` /
    ``AT (VERSION => …)`` on lake tables and refuse DDL/DML on them; everything else is DuckDB's own.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, catalog: Catalog, read_only: bool = True) -> None:
        self.con = con
        self.catalog = catalog
        self.read_only = read_only

    def prepare(self, query: str) -> str:
        """The SQL DuckDB will run for ``query``."""
        return prepare(query, self.catalog, read_only=self.read_only)

    def sql(self, query: str, *args, **kwargs) -> duckdb.DuckDBPyRelation:
        return self.con.sql(self.prepare(query), *args, **kwargs)

    query = sql

    def execute(self, query: str, parameters: object = None) -> duckdb.DuckDBPyConnection:
        return self.con.execute(self.prepare(query), parameters or [])

    def refresh(self) -> None:
        """Point every table at its newest snapshot (the views are fixed when the connection opens)."""
        register_tables(self.con, self.catalog)

    def __getattr__(self, name: str):
        return getattr(self.con, name)


def connect(settings: Settings | None = None, catalog: Catalog | None = None, read_only: bool = True) -> LakeConnection:
    """A DuckDB session with the latest snapshot of every table registered; query it with plain SQL.

    >>> con = connect()
    >>> con.sql("SELECT source, count(*) FROM tiers.l0_raw GROUP BY 1").show()
    >>> con.sql("SELECT count(*) FROM tiers.l2_selected FOR VERSION AS OF 'build-3'").fetchone()
    """
    catalog = catalog or open_catalog(settings or load_settings())
    con = new_connection()
    register_tables(con, catalog)
    return LakeConnection(con, catalog, read_only)
