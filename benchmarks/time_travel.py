"""Time travel cost: reading an old snapshot vs the latest one of the same size, and `diff` on 100k rows.

    .venv/bin/python benchmarks/time_travel.py [--rows 100000] [--repeat 7]

A real-text tier table (fortunes, numbered to be distinct) gets a first snapshot of N rows, then a
second snapshot of the same size (1% of rows replaced). Each read is a full scan with an aggregate
over every column through DuckDB's ``iceberg_scan``; the figure is the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def tier_rows(n: int, offset: int = 0) -> pa.Table:
    """``n`` rows shaped like ``tiers.l2_selected`` made of real fortunes."""
    from udfs.identity import content_hash
    from warehouse.config import load_settings
    from warehouse.corpus import prepare
    from warehouse.tables import L2_SELECTED

    [fortunes] = prepare(load_settings().cache_dir, ["fortunes"])
    with gzip.open(fortunes.paths[0]) as fh:
        texts = [orjson.loads(line)["text"] for line in fh]
    body = [f"{texts[i % len(texts)]}\n[{i}]" for i in range(offset, offset + n)]
    ids = [content_hash(t) for t in body]
    return pa.Table.from_pydict(
        {
            "doc_id": ids,
            "source": ["fortunes"] * n,
            "uri": [f"bench://{i}" for i in range(offset, offset + n)],
            "content_hash": ids,
            "text": body,
            "language": ["en"] * n,
            "quality_score": [(i % 100) / 100 for i in range(n)],
            "edu_score": [None] * n,
            "domain": [None] * n,
        },
        schema=L2_SELECTED.schema,
    )


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    from pyiceberg.expressions import In

    from warehouse.catalog import open_catalog
    from warehouse.config import load_settings
    from warehouse.diff import diff
    from warehouse.query import connect
    from warehouse.tables import L2_SELECTED, ensure_table

    with tempfile.TemporaryDirectory(prefix="tierhouse-tt-bench-") as tmp:
        settings = load_settings(Path(tmp) / "lake")
        catalog = open_catalog(settings)
        table = ensure_table(catalog, L2_SELECTED)
        first = tier_rows(args.rows)
        table.append(first)
        old = table.metadata.current_snapshot_id
        churn = args.rows // 100
        with table.transaction() as tx:  # replace 1% of the rows: same size, new snapshot
            tx.delete(In("doc_id", first.column("doc_id").to_pylist()[:churn]))
            tx.append(tier_rows(churn, offset=args.rows))
        new = table.metadata.current_snapshot_id
        con = connect(settings)
        scan = "SELECT count(*), sum(length(text)), sum(quality_score), count(DISTINCT doc_id) FROM tiers.l2_selected"
        old_s = median_seconds(lambda: con.sql(f"{scan} FOR VERSION AS OF {old}").fetchall(), args.repeat)
        new_s = median_seconds(lambda: con.sql(scan).fetchall(), args.repeat)
        same = con.sql(f"SELECT count(*) FROM tiers.l2_selected FOR VERSION AS OF {old}").fetchone()[0]
        assert same == con.sql("SELECT count(*) FROM tiers.l2_selected").fetchone()[0] == args.rows
        result = {}

        def run_diff() -> None:
            result["d"] = diff(con, catalog, "l2_selected", str(old), str(new))

        diff_s = median_seconds(run_diff, max(3, args.repeat // 2))
        d = result["d"]
        assert (d.added, d.removed, d.changed) == (churn, churn, 0)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; date: {datetime.now(UTC):%Y-%m-%d}; {args.rows:,} rows, 1% replaced between snapshots")
    print("| measure | median s | ratio |")
    print("|---|---|---|")
    print(f"| full scan, latest snapshot | {new_s:.3f} | 1.00 |")
    print(f"| full scan, older snapshot (FOR VERSION AS OF) | {old_s:.3f} | {old_s / new_s:.2f}x |")
    print(f"| diff of the two snapshots ({d.added:,} added, {d.removed:,} removed) | {diff_s:.3f} | - |")


if __name__ == "__main__":
    main()
