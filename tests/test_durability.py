"""Idempotent re-ingest, kill -9 in the middle of an ingest, and concurrent writers."""

from __future__ import annotations

import gzip
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from conftest import query
from sqlalchemy.exc import OperationalError

from warehouse.catalog import commit_with_retry, open_catalog
from warehouse.ingest import ingest
from warehouse.tables import L0_RAW


def fortunes(corpus, n: int) -> list[str]:
    """``n`` distinct documents made from real fortunes (numbered, so none collapse as duplicates)."""
    texts = []
    with gzip.open(corpus["fortunes"].paths[0]) as fh:
        for line in fh:
            texts.append(orjson.loads(line)["text"])
            if len(texts) == 5000:
                break
    return [f"{texts[i % len(texts)]}\n-- fortune {i}" for i in range(n)]


def write_docs(path: Path, docs: list[str]) -> Path:
    path.write_bytes(b"".join(orjson.dumps({"text": d}) + b"\n" for d in docs))
    return path


def run_ingest(settings, path: Path, source: str, commit_rows: int) -> subprocess.Popen:
    env = dict(os.environ, TIERHOUSE_HOME=str(settings.home), TIERHOUSE_COMMIT_ROWS=str(commit_rows))
    cmd = [sys.executable, "-m", "warehouse.cli", "ingest", str(path), "--source", source, "--no-progress", "--json"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def snapshot_count(settings) -> int:
    return len(open_catalog(settings).load_table(L0_RAW.name).snapshots())


def test_reingest_adds_nothing(settings, corpus):
    sotu = corpus["sotu"]
    first = ingest(sotu.paths, "sotu", settings=settings, pattern="*.json", uri_prefix=sotu.uri_prefix)
    snapshots = snapshot_count(settings)
    second = ingest(sotu.paths, "sotu", settings=settings, pattern="*.json", uri_prefix=sotu.uri_prefix)
    assert first.ingested == 233 and first.balanced
    assert (second.read, second.ingested, second.duplicates_in_l0) == (233, 0, 233)
    assert snapshot_count(settings) == snapshots  # nothing new means no commit at all
    assert query(settings, "SELECT count(*), count(DISTINCT doc_id) FROM tiers.l0_raw") == [(233, 233)]


def test_duplicates_within_one_input_are_counted(settings, tmp_path):
    path = write_docs(tmp_path / "dups.jsonl", ["alpha text", "beta text", "alpha text", "  alpha text\r\n"])
    summary = ingest([path], "dups", settings=settings)
    assert (summary.ingested, summary.duplicates_in_input, summary.duplicates_in_l0) == (2, 2, 0)


@pytest.mark.slow
def test_kill_9_mid_ingest_then_rerun_converges(settings, corpus, tmp_path):
    n = 300_000
    path = write_docs(tmp_path / "big.jsonl", fortunes(corpus, n))
    ingest([write_docs(tmp_path / "seed.jsonl", ["seed document"])], "seed", settings=settings)
    base = snapshot_count(settings)
    proc = run_ingest(settings, path, "big", commit_rows=10_000)
    deadline = time.monotonic() + 120
    while snapshot_count(settings) < base + 3:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "ingest made no commits in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    [(partial, distinct)] = query(
        settings, "SELECT count(*), count(DISTINCT doc_id) FROM tiers.l0_raw WHERE source = 'big'"
    )
    assert 0 < partial < n and partial == distinct and partial % 10_000 == 0  # only whole commits are visible

    rerun = run_ingest(settings, path, "big", commit_rows=10_000)
    out, errors = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, errors.decode()
    summary = orjson.loads(out)
    assert summary["duplicates_in_l0"] == partial and summary["ingested"] == n - partial
    assert query(settings, "SELECT count(*), count(DISTINCT doc_id) FROM tiers.l0_raw WHERE source = 'big'") == [(n, n)]


@pytest.mark.slow
def test_two_concurrent_ingests_both_land(settings, corpus, tmp_path):
    docs = fortunes(corpus, 90_000)
    a = write_docs(tmp_path / "a.jsonl", docs[:40_000])
    b = write_docs(tmp_path / "b.jsonl", docs[40_000:80_000])
    shared = write_docs(tmp_path / "shared.jsonl", docs[75_000:])  # overlaps b by 5,000 docs
    ingest([write_docs(tmp_path / "seed.jsonl", ["seed document"])], "seed", settings=settings)
    procs = [run_ingest(settings, p, p.stem, commit_rows=2_000) for p in (a, b, shared)]
    results = []
    for proc in procs:
        out, errors = proc.communicate(timeout=300)
        assert proc.returncode == 0, errors.decode()
        results.append(orjson.loads(out))
    assert sum(r["ingested"] for r in results) == 90_000
    assert [r["ingested"] + r["duplicates_in_l0"] for r in results] == [40_000, 40_000, 15_000]
    assert results[0]["ingested"] == 40_000
    # the 5,000 documents in both b and shared were stored by whichever writer got there first
    assert results[1]["duplicates_in_l0"] + results[2]["duplicates_in_l0"] == 5_000
    assert query(settings, "SELECT count(*), count(DISTINCT doc_id) FROM tiers.l0_raw WHERE source != 'seed'") == [
        (90_000, 90_000)
    ]


def test_a_writer_kept_out_of_the_catalog_gives_up_after_its_time_limit(settings, catalog, corpus):
    """commit_with_retry is bounded by time: while another process holds the catalog, a writer keeps
    retrying until its limit is spent and then says the catalog's own error; once free, it lands."""
    schema = pa.schema([("text", pa.string())])
    catalog.create_namespace_if_not_exists("scratch")
    catalog.create_table("scratch.race", schema)
    rows = pa.table({"text": fortunes(corpus, 3)}, schema=schema)
    holder = sqlite3.connect(settings.catalog_db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the catalog (each try waits SQLite's 5 s)
    tries = []

    def append() -> None:
        tries.append(time.monotonic())
        catalog.load_table("scratch.race").append(rows)

    with pytest.raises(OperationalError, match="database is locked"):
        commit_with_retry(append, give_up_after_s=7)
    assert len(tries) == 2 and time.monotonic() - tries[0] >= 7  # retried, then stopped by time
    holder.execute("ROLLBACK")
    commit_with_retry(append, give_up_after_s=7)
    assert len(tries) == 3 and len(catalog.load_table("scratch.race").scan().to_arrow()) == 3
