"""Commits per second through the catalog: the embedded SQLite catalog on local disk against
PostgreSQL (pyiceberg's SqlCatalog) with the warehouse on S3 (moto's server on localhost).

    python benchmarks/catalog.py [--commits 40] [--writers 1 4]

Each writer is its own process appending one 100-row batch per commit to the same table, through
``commit_with_retry`` (so lost races are retried, as ingest does). Reports commits/s landed (from
the first commit to the last, start-up not counted), the median and 95th percentile seconds per
commit, and the share of attempts that lost more races than pyiceberg's own four quick retries
absorb (it logs those as "Commit failed due to a concurrent update"). Needs Debian's postgresql
(scripts/postgres.sh installs it) and the dev extras (psycopg, moto).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def _writer(env: dict[str, str], commits: int, out: multiprocessing.Queue) -> None:
    os.environ.update(env)
    import pyarrow as pa

    from warehouse.catalog import RETRYABLE, commit_with_retry, open_catalog
    from warehouse.config import load_settings

    catalog = open_catalog(load_settings())
    batch = pa.table({"n": pa.array(range(100), pa.int64())})
    lost = 0

    def attempt() -> None:
        nonlocal lost
        try:
            catalog.load_table("bench.commits").append(batch)
        except RETRYABLE:
            lost += 1
            raise

    seconds = []
    began = time.time()
    for _ in range(commits):
        started = time.perf_counter()
        commit_with_retry(attempt)
        seconds.append(time.perf_counter() - started)
    out.put((seconds, lost, began, time.time()))


def measure(env: dict[str, str], writers: int, commits: int) -> dict[str, object]:
    os.environ.update(env)
    import pyarrow as pa

    from warehouse.catalog import open_catalog
    from warehouse.config import load_settings

    catalog = open_catalog(load_settings())
    catalog.create_namespace_if_not_exists("bench")
    if catalog.table_exists("bench.commits"):
        catalog.drop_table("bench.commits")
    catalog.create_table("bench.commits", schema=pa.schema([("n", pa.int64())]))
    queue: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
    processes = [multiprocessing.get_context("spawn").Process(target=_writer, args=(env, commits, queue))
                 for _ in range(writers)]  # fmt: skip
    for process in processes:
        process.start()
    results = [queue.get(timeout=900) for _ in processes]
    for process in processes:
        process.join()
    # from the first writer's first commit to the last one's last: process start-up is not counted
    wall = max(r[3] for r in results) - min(r[2] for r in results)
    seconds = sorted(s for r in results for s in r[0])
    lost = sum(r[1] for r in results)
    landed = len(seconds)
    return {
        "writers": writers,
        "commits": landed,
        "commits_per_s": round(landed / wall, 1),
        "median_s": round(statistics.median(seconds), 3),
        "p95_s": round(seconds[int(0.95 * (landed - 1))], 3),
        "lost_race_share": round(lost / (landed + lost), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=40, help="commits per writer")
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    import boto3
    from servers import servers

    rows = []
    with tempfile.TemporaryDirectory() as home, servers() as running:
        embedded = {"TIERHOUSE_HOME": home}
        boto3.client("s3", endpoint_url=running.s3_endpoint, region_name="us-east-1",
                     aws_access_key_id=running.s3_key_id, aws_secret_access_key=running.s3_secret,
                     ).create_bucket(Bucket="bench")  # fmt: skip
        shared = {
            "TIERHOUSE_CATALOG": "bench",
            "PYICEBERG_CATALOG__BENCH__TYPE": "sql",
            "PYICEBERG_CATALOG__BENCH__URI": running.catalog_uri,
            "PYICEBERG_CATALOG__BENCH__WAREHOUSE": "s3://bench/warehouse",
            "PYICEBERG_CATALOG__BENCH__S3__ENDPOINT": running.s3_endpoint,
            "PYICEBERG_CATALOG__BENCH__S3__REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": running.s3_key_id,
            "AWS_SECRET_ACCESS_KEY": running.s3_secret,
        }
        for label, env in (("SQLite + local disk", embedded), ("PostgreSQL + S3 (moto)", shared)):
            for writers in args.writers:
                clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYICEBERG_", "TIERHOUSE_"))}
                os.environ.clear()
                os.environ.update(clean)
                rows.append({"catalog": label, **measure(env, writers, args.commits)})
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d}")
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
