"""Time travel in SQL, history, diff and tags, on real snapshots of a lake built three times."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
import pytest
from click.testing import CliRunner
from test_build import ingest_subset, new_documents

import warehouse
from warehouse.build import run_build
from warehouse.cli import main
from warehouse.config import load_settings
from warehouse.ingest import ingest


@pytest.fixture(scope="module")
def lake(corpus, tmp_path_factory):
    """build-1 on a small real lake; build-2 after 6 new documents; a build whose L2 gate fails on 3 more."""
    tmp = tmp_path_factory.mktemp("travel")
    settings = load_settings(tmp / "lake")
    ingest_subset(settings, corpus, tmp)
    assert run_build(settings, quiet=True).success
    time.sleep(1.1)
    between = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    time.sleep(1.1)
    ingest([new_documents(corpus, tmp, 6)], "paragraphs", settings=settings)
    assert run_build(settings, quiet=True).success
    (tmp / "more").mkdir()
    ingest([new_documents(corpus, tmp / "more", 9, start=100)], "more_paragraphs", settings=settings)
    failed = run_build(settings, quiet=True, variables="{gate_min_rows: {l2_selected: 1000000}}")
    assert not failed.success
    return settings, between


def cli(settings, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["--home", str(settings.home), *args])
    assert result.exit_code == code, result.output
    return result.output


def rows(settings, sql: str) -> list[tuple]:
    return warehouse.connect(settings).sql(sql).fetchall()


def test_version_forms_read_exact_snapshots(lake):
    settings, _ = lake
    new = {r[0] for r in rows(settings, "SELECT doc_id FROM tiers.l0_raw WHERE source = 'paragraphs'")}
    added = rows(
        settings,
        "SELECT doc_id FROM tiers.l2_selected FOR VERSION AS OF 'build-2' "
        "EXCEPT SELECT doc_id FROM tiers.l2_selected FOR VERSION AS OF 'build-1'",
    )
    assert {r[0] for r in added} == new
    count_1 = rows(settings, "SELECT count(*) FROM tiers.l2_selected FOR VERSION AS OF 'build-1'")[0][0]
    snapshot_1 = warehouse.connect(settings).catalog.load_table("tiers.l2_selected").metadata.refs["build-1"]
    by_id = f"SELECT count(*) FROM tiers.l2_selected FOR VERSION AS OF {snapshot_1.snapshot_id}"
    assert rows(settings, by_id) == [(count_1,)]
    assert rows(settings, "SELECT count(*) FROM tiers.l2_selected AT (VERSION => 'build-1')") == [(count_1,)]
    assert rows(settings, "SELECT count(*) FROM tiers.l2_selected") == [(count_1 + 6,)]


def test_timestamp_reads_what_main_was_then(lake):
    settings, between = lake
    expected = rows(settings, "SELECT count(*) FROM tiers.l1_clean FOR VERSION AS OF 'build-1'")
    assert rows(settings, f"SELECT count(*) FROM tiers.l1_clean FOR TIMESTAMP AS OF '{between}'") == expected
    assert rows(settings, f"SELECT count(*) FROM tiers.l1_clean FOR SYSTEM_TIME AS OF '{between}'") == expected


def test_join_across_versions(lake):
    settings, _ = lake
    churn = rows(
        settings,
        "SELECT count(*) FILTER (WHERE a.doc_id IS NULL), count(*) FILTER (WHERE b.doc_id IS NULL), count(*) "
        "FROM tiers.l2_selected FOR VERSION AS OF 'build-1' a "
        "FULL JOIN tiers.l2_selected FOR VERSION AS OF 'build-2' b USING (doc_id)",
    )
    total = rows(settings, "SELECT count(*) FROM tiers.l2_selected FOR VERSION AS OF 'build-2'")[0][0]
    assert churn == [(6, 0, total)]


def test_audit_branch_shows_what_the_failed_gate_saw(lake):
    settings, _ = lake
    published = rows(settings, "SELECT count(*) FROM tiers.l2_selected")[0][0]
    audited = rows(settings, "SELECT count(*) FROM tiers.l2_selected FOR VERSION AS OF 'audit'")[0][0]
    # the failed build published L1 with the 9 new documents; those L1 kept are what L2's gate saw
    kept = rows(settings, "SELECT count(*) FROM tiers.l1_clean WHERE source = 'more_paragraphs' AND kept")[0][0]
    assert 0 < kept <= 9 and audited == published + kept
    sources = rows(
        settings,
        "SELECT DISTINCT source FROM tiers.l2_selected FOR VERSION AS OF 'audit' "
        "WHERE doc_id NOT IN (SELECT doc_id FROM tiers.l2_selected)",
    )
    assert sources == [("more_paragraphs",)]


def test_cli_formats_and_parquet_out(lake, tmp_path):
    settings, _ = lake
    out = cli(
        settings, "sql", "SELECT count(*) AS n FROM tiers.l2_selected FOR VERSION AS OF 'build-1'", "--format", "json"
    )
    n = orjson.loads(out)[0]["n"]
    target = tmp_path / "l4.parquet"
    cli(
        settings,
        "sql",
        "SELECT * FROM tiers.l4_knowledge FOR VERSION AS OF 'build-1'",
        "--format",
        "parquet",
        "--out",
        str(target),
    )
    import pyarrow.parquet as pq

    assert (
        pq.read_table(target).num_rows
        == rows(settings, "SELECT count(*) FROM tiers.l4_knowledge FOR VERSION AS OF 'build-1'")[0][0]
    )
    assert n > 0


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT * FROM tiers.l9_gold FOR VERSION AS OF 'build-1'",
            "unknown table 'tiers.l9_gold'; known tables: tiers.l0_raw",
        ),
        ("SELECT * FROM tiers.l2_selected FOR VERSION AS OF 42", "tiers.l2_selected has no snapshot 42; latest: "),
        (
            "SELECT * FROM tiers.l2_selected FOR VERSION AS OF 'build-99'",
            "has no tag or branch 'build-99'; it has: build-1, build-2",
        ),
        (
            "SELECT * FROM tiers.l2_selected FOR TIMESTAMP AS OF '2001-01-01'",
            "did not exist yet at 2001-01-01 00:00:00 UTC: its first snapshot is",
        ),
        ("SELECT * FROM tiers.l2_selected FOR TIMESTAMP AS OF 'yesterday'", "'yesterday' is not an ISO 8601 time"),
        ("SELECT * FRM tiers.l2_selected FOR VERSION AS OF 'build-1'", "SQL syntax error at line 1, column"),
        ("SELECT * FRM tiers.l2_selected", 'syntax error at or near "tiers"'),
        ("DELETE FROM tiers.l1_clean WHERE NOT kept", "tiers.l1_clean is read-only here"),
        ("DROP VIEW tiers.l2_selected", "tiers.l2_selected is read-only here"),
        ("INSERT INTO ops.builds SELECT * FROM ops.builds", "ops.builds is read-only here"),
    ],
)
def test_errors_say_what_exists(lake, sql, message):
    settings, _ = lake
    assert message in cli(settings, "sql", sql, code=1)


def test_scratch_tables_are_fine(lake):
    settings, _ = lake
    out = cli(
        settings,
        "sql",
        "CREATE TABLE sample AS SELECT doc_id FROM tiers.l3_refined LIMIT 5; SELECT count(*) FROM sample",
        "--format",
        "csv",
    )
    assert out.splitlines() == ["count_star()", "5"]


def test_interactive_shell_multiline_and_errors(lake):
    settings, _ = lake
    script = (
        "SELECT count(*)\n  FROM tiers.l2_selected\n  FOR VERSION AS OF 'build-1';\n"
        "DELETE FROM tiers.l2_selected;\n.tables\n.quit\n"
    )
    result = CliRunner().invoke(main, ["--home", str(settings.home), "sql"], input=script)
    assert result.exit_code == 0, result.output
    count_1 = rows(settings, "SELECT count(*) FROM tiers.l2_selected FOR VERSION AS OF 'build-1'")[0][0]
    assert f"{count_1}" in result.output and "(1 row)" in result.output
    assert "error: tiers.l2_selected is read-only here" in result.output
    assert "tiers.l4_knowledge" in result.output


def test_diff_between_builds(lake):
    settings, _ = lake
    data = orjson.loads(cli(settings, "diff", "l2_selected", "build-1", "build-2", "--json"))
    assert (data["added"], data["removed"], data["changed"]) == (6, 0, 0)
    assert data["by_source"] == [{"source": "paragraphs", "added": 6, "removed": 0, "changed": 0}]
    assert len(data["samples"]["added"]) == 5
    back = orjson.loads(cli(settings, "diff", "l2_selected", "build-2", "build-1", "--json"))
    assert (back["added"], back["removed"]) == (0, 6)
    assert back["left_because"] == [{"reason": "not in L1 at build-1", "rows": 6}]
    text = cli(settings, "diff", "l1_clean", "build-1", "build-2")
    assert "+6 added, -0 removed, ~0 changed" in text


def test_tag_pins_a_state(lake):
    settings, _ = lake
    cli(settings, "tag", "l2_selected", "checkpoint-12", "--at", "build-1")
    assert rows(settings, "SELECT count(*) FROM tiers.l2_selected FOR VERSION AS OF 'checkpoint-12'") == rows(
        settings, "SELECT count(*) FROM tiers.l2_selected FOR VERSION AS OF 'build-1'"
    )
    assert "already has 'checkpoint-12'" in cli(settings, "tag", "l2_selected", "checkpoint-12", code=1)
    cli(settings, "tag", "l2_selected", "checkpoint-12", "--at", "build-2", "--force")
    assert rows(settings, "SELECT count(*) FROM tiers.l2_selected FOR VERSION AS OF 'checkpoint-12'") == rows(
        settings, "SELECT count(*) FROM tiers.l2_selected FOR VERSION AS OF 'build-2'"
    )
    history = orjson.loads(cli(settings, "history", "l2_selected", "--json"))
    tagged = {tag: h["snapshot_id"] for h in history for tag in h["tags"]}
    assert {"build-1", "build-2", "checkpoint-12"} <= set(tagged)
    assert tagged["checkpoint-12"] == tagged["build-2"]


def test_dbt_model_reads_a_pinned_version(lake):
    """A model may say FOR VERSION AS OF: here L2 is rebuilt from L1 as it was at build-1."""
    settings, _ = lake
    at_1 = rows(settings, "SELECT count(*) FROM tiers.l2_selected FOR VERSION AS OF 'build-1'")
    outcome = run_build(settings, quiet=True, select=["l2_selected"], variables="{l2_reads_l1_at: build-1}")
    assert outcome.success, outcome.record
    assert outcome.record["models"]["l2_selected"]["rows_removed"] == 6
    assert rows(settings, "SELECT count(*) FROM tiers.l2_selected") == at_1
    assert outcome.record["vars"]["l2_reads_l1_at"] == "build-1"
