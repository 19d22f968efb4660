"""Which SQL shapes DuckDB can run on more text than its memory limit: the rule the models follow.

    .venv/bin/python benchmarks/spill_shapes.py [--rows 800000] [--text-bytes 1280] [--limit 512MB]

Writes ``--rows`` documents of ``--text-bytes`` each to Parquet (distinct texts, string ids, 4 sources,
3 languages), then runs each shape over it in its own process under ``memory_limit = --limit`` with
two threads, creating a table of one row per distinct text, as the scores, edits and QA models do:

- ``group by, any_value(text)``: the rows grouped with their texts (the models before 2026-12-03);
- ``window by key``: the first row per text by a window partitioned by the key;
- ``narrow choice, semi join``: the first row's id chosen on narrow rows, then the texts streamed
  past that choice by a semi join (the models now, and MinHash signing in warehouse/fuzzy.py).

Each line gives the outcome, the seconds and the process's peak RSS (``wait4``).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SHAPES = {
    "group by, any_value(text)": """
        SELECT content_hash, any_value(text) AS text, any_value(source) AS source FROM docs GROUP BY content_hash""",
    "window by key": """
        SELECT content_hash, text, source FROM docs
        QUALIFY row_number() OVER (PARTITION BY content_hash ORDER BY doc_id) = 1""",
    "narrow choice, semi join": """
        SELECT content_hash, text, source FROM docs
        SEMI JOIN (SELECT min(doc_id) AS doc_id FROM docs GROUP BY content_hash) first USING (doc_id)""",
}


def write_docs(path: Path, rows: int, text_bytes: int) -> None:
    """``rows`` documents, each text distinct and ``text_bytes`` long, in row groups of 20,000."""
    import duckdb

    repeats = max(1, text_bytes // 32)
    duckdb.connect().execute(
        f"""COPY (
            SELECT 'doc:' || md5(i::VARCHAR) AS doc_id, md5(i::VARCHAR) AS content_hash,
                   ['a', 'b', 'c', 'd'][1 + i % 4] AS source, repeat(md5(i::VARCHAR), {repeats}) AS text
            FROM range({rows}) t(i)
        ) TO '{path}' (ROW_GROUP_SIZE 20000)"""
    )


def run_shape(parquet: str, shape: str, limit: str) -> None:
    """In a child process: one shape under the limit; prints its outcome."""
    import time

    import duckdb

    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{limit}'; SET threads = 2; SET temp_directory = '{tempfile.mkdtemp()}'")
    con.execute(f"CREATE VIEW docs AS SELECT * FROM read_parquet('{parquet}')")
    started = time.perf_counter()
    try:
        con.execute(f"CREATE TABLE chosen AS ({SHAPES[shape]})")
        rows = con.execute("SELECT count(*) FROM chosen").fetchone()[0]
        print(f"ran, {rows:,} rows|{time.perf_counter() - started:.1f}")
    except duckdb.OutOfMemoryException as exc:
        print(f"out of memory: {str(exc).splitlines()[0][:90]}|{time.perf_counter() - started:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=800_000)
    parser.add_argument("--text-bytes", type=int, default=1280)
    parser.add_argument("--limit", default="512MB", help="DuckDB's memory_limit for each shape")
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    parser.add_argument("--parquet", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.shape:
        run_shape(args.parquet, args.shape, args.limit)
        return
    sys.path.insert(0, str(ROOT))
    import duckdb

    from warehouse.memory.peak import run_measured

    with tempfile.TemporaryDirectory(prefix="spill-shapes-") as tmp:
        parquet = Path(tmp) / "docs.parquet"
        write_docs(parquet, args.rows, args.text_bytes)
        text_mb = args.rows * (args.text_bytes // 32 * 32) / 1e6
        print(f"\n{args.rows:,} documents, {text_mb:,.0f} MB of text, memory_limit {args.limit}, 2 threads; "
              f"DuckDB {duckdb.__version__}, {platform.machine()}, Python {platform.python_version()}\n")  # fmt: skip
        print("| shape | outcome | s | peak RSS MB |")
        print("|---|---|---|---|")
        for shape in SHAPES:
            command = [sys.executable, __file__, "--shape", shape, "--parquet", str(parquet), "--limit", args.limit]
            done = run_measured(command)
            outcome, _, seconds = (done.stdout.strip() or f"failed: {done.stderr.strip()[-90:]}|").partition("|")
            print(f"| {shape} | {outcome} | {seconds} | {done.peak_rss / 1e6:,.0f} |")


if __name__ == "__main__":
    main()
