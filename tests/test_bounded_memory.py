"""Builds in bounded memory: L1 under a DuckDB ``memory_limit`` far below the text it builds from.

Input: the State of the Union addresses (the bundled ``sotu`` source, long clean prose) in
``COPIES`` distinct copies (warehouse/corpus/copies.py shuffles each line's words, so no copy is a
near-duplicate of another): about 21.5 MB of text in 466 documents. The issue asks for about 300 MB;
L1 builds about 0.7 MB of text a second on the 2-core CI machine, so 300 MB would take some seven
minutes a build, and this module runs three builds in the suite's 90-second allowance for new tests.
benchmarks/build.py measures the larger inputs (benchmarks/RESULTS.md).

Each `tierhouse build --select l1_clean` runs in its own process, and its peak RSS is that process's
own high-water mark (``wait4``), which counts pyarrow and pandas too (DuckDB's limit does not).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from warehouse.config import load_settings
from warehouse.corpus.copies import distinct_copy
from warehouse.duck import new_connection
from warehouse.ingest import ingest
from warehouse.memory.append import append_query
from warehouse.memory.peak import Measured, run_measured
from warehouse.query import connect
from warehouse.tables import L1_CLEAN, ensure_table

COPIES = 2
LIMIT = "12MB"  # DuckDB's memory_limit: well below the ~21.5 MB of text the build reads and writes
#: ingest commits (so L0 data files) this small: DuckDB reads a file's text a row group at a time, so
#: a limit must hold a few row groups (32 MiB ones by default; benchmarks/RESULTS.md)
COMMIT_BYTES = 2 * 1024**2
#: the limited build's peak RSS must stay under this: what L1 on 32.5 MB of e-mail peaked at with DuckDB
#: capped at 256 MB (benchmarks/RESULTS.md); set-up alone, before any text, takes about 440 MB
PEAK_BOUND = 1_500_000_000
IMPOSSIBLE = "1MB"


def _l1_build(home: Path, memory_limit: str) -> Measured:
    env = dict(os.environ, TIERHOUSE_HOME=str(home), TIERHOUSE_MEMORY_LIMIT=memory_limit)
    return run_measured([sys.executable, "-m", "warehouse.cli", "build", "--select", "l1_clean"], env)


def _rows(home: Path) -> list[tuple]:
    lake = connect(load_settings(home))
    try:
        return lake.sql("SELECT * FROM tiers.l1_clean ORDER BY doc_id").fetchall()
    finally:
        lake.close()


@pytest.fixture(scope="module")
def ingested(corpus, tmp_path_factory) -> tuple[Path, int]:
    """An L0 lake of the addresses, ``COPIES`` times over, and its text's size in bytes."""
    work = tmp_path_factory.mktemp("bounded")
    texts = [json.loads(p.read_text())["text"] for p in sorted(corpus["sotu"].paths[0].glob("*.json"))]
    docs = work / "sotu.jsonl"
    docs.write_bytes(
        b"".join(orjson.dumps({"text": distinct_copy(t, c)}) + b"\n" for c in range(COPIES) for t in texts)
    )
    home = work / "l0"
    ingest([docs], "sotu", settings=load_settings(home).with_overrides(commit_bytes=COMMIT_BYTES), show_progress=False)
    lake = connect(load_settings(home))
    try:
        size = lake.sql("SELECT sum(strlen(content)) FROM tiers.l0_raw").fetchone()[0]
    finally:
        lake.close()
    return home, size


def _copy(ingested: tuple[Path, int], name: str) -> Path:
    home = ingested[0].parent / name
    shutil.copytree(ingested[0], home)
    return home


def test_l1_under_a_memory_limit_below_its_text_keeps_rss_bounded_and_rows_identical(ingested):
    limited_home, unlimited_home = _copy(ingested, "limited"), _copy(ingested, "unlimited")
    assert ingested[1] > 20e6  # the limit below is well under the text
    limited = _l1_build(limited_home, LIMIT)
    assert limited.returncode == 0, limited.stdout[-3000:] + limited.stderr[-2000:]
    unlimited = _l1_build(unlimited_home, "16GB")
    assert unlimited.returncode == 0, unlimited.stdout[-3000:] + unlimited.stderr[-2000:]
    print(f"peak RSS: limited {limited.peak_rss / 1e6:.0f} MB, unlimited {unlimited.peak_rss / 1e6:.0f} MB")
    assert limited.peak_rss < PEAK_BOUND
    rows = _rows(limited_home)
    assert len(rows) == 233 * COPIES
    assert rows == _rows(unlimited_home)


def test_a_build_that_cannot_fit_names_its_step_and_need(ingested):
    failed = _l1_build(_copy(ingested, "impossible"), IMPOSSIBLE)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "tiers.l1_clean: step 'staging (the model's SQL)' ran out of memory" in output, output[-3000:]
    assert f"DuckDB may use {IMPOSSIBLE} (TIERHOUSE_MEMORY_LIMIT) and it asked for" in output


def test_append_streams_a_large_change_in_chunks_as_one_snapshot(catalog, corpus):
    """The audit append writes a chunk's data files before reading the next, all in one snapshot."""
    texts = [json.loads(p.read_text())["text"] for p in sorted(corpus["sotu"].paths[0].glob("*.json"))[:40]]
    given = {"doc_id": [f"doc-{i}" for i in range(40)], "source": ["sotu"] * 40, "content_hash": ["h"] * 40}
    docs = pa.table(
        {f.name: given.get(f.name, texts if f.name == "text" else pa.nulls(40, f.type)) for f in L1_CLEAN.schema}
    )
    con = new_connection()
    con.register("docs", docs)
    table = ensure_table(catalog, L1_CLEAN)
    with table.transaction() as tx:
        rows = append_query(tx, table.io, con, "SELECT * FROM docs", L1_CLEAN.schema, "main", chunk_bytes=100_000)
    table = catalog.load_table(L1_CLEAN.name)
    files = [task.file for task in table.scan().plan_files()]
    assert rows == 40 and len(table.snapshots()) == 1
    assert len(files) >= docs.nbytes // 100_000 // 2  # about a file per 100 KB chunk, never one for all
    assert sum(f.record_count for f in files) == 40
    assert sorted(table.scan().to_arrow().column("text").to_pylist()) == sorted(texts)


def test_a_memory_limit_duckdb_cannot_read_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match="TIERHOUSE_MEMORY_LIMIT='lots'"):
        new_connection(memory_limit="lots")
