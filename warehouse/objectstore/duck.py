"""Give a DuckDB connection read access to the S3 warehouse through the packaged ``httpfs`` extension."""

from __future__ import annotations

import duckdb

from warehouse.objectstore.access import S3Access


def attach_s3(con: duckdb.DuckDBPyConnection, access: S3Access, extension_path: str) -> None:
    """Load ``httpfs`` and add a temporary S3 secret; values travel as parameters, never as SQL text."""
    con.execute(f"LOAD '{extension_path}'")
    options = {"REGION": access.region or "us-east-1", "USE_SSL": access.use_ssl}
    if access.path_style:
        options["URL_STYLE"] = "path"
    for name, value in (
        ("KEY_ID", access.key_id),
        ("SECRET", access.secret),
        ("SESSION_TOKEN", access.session_token),
        ("ENDPOINT", access.host),
    ):
        if value:
            options[name] = value
    placeholders = ", ".join(f"{name} ${i}" for i, name in enumerate(options, start=1))
    con.execute(f"CREATE OR REPLACE TEMPORARY SECRET tierhouse_s3 (TYPE s3, {placeholders})", list(options.values()))
