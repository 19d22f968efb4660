"""Ingest throughput and memory: JSONL and WARC built from the real bundled corpus.

Run on demand (not in the test suite):

    .venv/bin/python benchmarks/ingest.py                # 200 MB JSONL, WARC of the handbook x4, 1 GB RSS run
    .venv/bin/python benchmarks/ingest.py --jsonl-mb 50 --rss-mb 200 --warc-copies 1   # quicker

Each case runs in a fresh process on a fresh lake and reports wall time, CPU time,
docs/s, MB/s (input bytes), MB per CPU-second and peak RSS. The reference row loads
the same JSONL the naive way (``pyarrow.json.read_json`` of the whole file, then one
Iceberg append): no validation, no dedup, no quarantine, and memory that grows with
the input. Results go to stdout as a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def real_texts() -> list[str]:
    """Paragraphs of State of the Union addresses plus fortunes: real prose of mixed length."""
    from warehouse.config import load_settings
    from warehouse.corpus import prepare

    prepared = {p.source.name: p for p in prepare(load_settings().cache_dir, ["sotu", "fortunes"])}
    texts = []
    for path in sorted(prepared["sotu"].paths[0].glob("*.json")):
        speech = json.loads(path.read_text())["text"]
        texts.extend(p for p in speech.split("\n") if len(p) > 200)
    with gzip.open(prepared["fortunes"].paths[0]) as fh:
        texts.extend(orjson.loads(line)["text"] for line in fh)
    return texts


def write_jsonl(path: Path, target_bytes: int) -> int:
    """Write web-sized documents (0.5-6 KB, about 3 KB on average, like a filtered crawl) until
    ``target_bytes``: consecutive real paragraphs joined, numbered so none are duplicates."""
    texts = real_texts()
    rng = random.Random(0)
    written = n = i = 0
    with path.open("wb") as fh:
        while written < target_bytes:
            want, parts, size = rng.randint(500, 6000), [], 0
            while size < want:
                parts.append(texts[i % len(texts)])
                size += len(parts[-1])
                i += 1
            line = orjson.dumps({"text": "\n\n".join(parts) + f"\n[{n}]", "id": n, "lang": "en"}) + b"\n"
            fh.write(line)
            written += len(line)
            n += 1
    return n


def write_warc(path: Path, copies: int) -> int:
    """Every Debian handbook page as an HTTP response record, ``copies`` times (each copy made unique)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from warehouse.config import load_settings
    from warehouse.corpus import prepare

    [handbook] = prepare(load_settings().cache_dir, ["debian_handbook"])
    pages = sorted(handbook.paths[0].rglob("*.html"))
    n = 0
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for copy in range(copies):
            for page in pages:
                body = page.read_bytes() + f"<!-- copy {copy} -->".encode()
                headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], "HTTP/1.1")
                uri = f"https://handbook.example/{copy}/{page.relative_to(handbook.paths[0])}"
                record = writer.create_warc_record(uri, "response", payload=io.BytesIO(body), http_headers=headers)
                writer.write_record(record)
                n += 1
    return n


def child(mode: str, path: str, home: str) -> None:
    """Run one case in this (fresh) process and print its figures as JSON."""
    os.environ["TIERHOUSE_HOME"] = home
    from warehouse.config import load_settings

    settings = load_settings()
    started = time.perf_counter()
    if mode == "reference":
        import pyarrow.json as pj

        from warehouse.catalog import open_catalog

        table = pj.read_json(path)
        catalog = open_catalog(settings)
        catalog.create_namespace_if_not_exists("bench")
        catalog.create_table("bench.naive", schema=table.schema).append(table)
        rows = table.num_rows
    else:
        from warehouse.ingest import ingest

        summary = ingest([path], "bench", settings=settings, id_field="id", show_progress=False)
        assert summary.balanced and summary.quarantined == 0, summary.to_dict()
        rows = summary.ingested
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"rows": rows, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_kb": usage.ru_maxrss}))


def run_case(mode: str, path: Path, workdir: Path) -> dict:
    home = tempfile.mkdtemp(dir=workdir)
    cmd = [sys.executable, __file__, "--child", mode, str(path), home]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["bytes"] = path.stat().st_size
    return result


def row(name: str, r: dict, ref: dict | None = None) -> str:
    mb = r["bytes"] / 1e6
    ratio = f"{(mb / r['wall']) / (ref['bytes'] / 1e6 / ref['wall']):.2f}x" if ref else "-"
    return (
        f"| {name} | {r['rows']:,} | {mb:,.0f} | {r['wall']:.1f} | {r['rows'] / r['wall']:,.0f} | "
        f"{mb / r['wall']:,.1f} | {mb / r['cpu']:,.1f} | {r['rss_kb'] / 1024:,.0f} | {ratio} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jsonl-mb", type=int, default=200, help="size of the JSONL throughput input")
    parser.add_argument("--warc-copies", type=int, default=4, help="copies of the 3,302 handbook pages in the WARC")
    parser.add_argument("--rss-mb", type=int, default=1000, help="size of the JSONL for the peak-memory run")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="tierhouse-bench-") as tmp:
        work = Path(tmp)
        jsonl = work / "docs.jsonl"
        write_jsonl(jsonl, args.jsonl_mb * 1_000_000)
        warc = work / "handbook.warc.gz"
        write_warc(warc, args.warc_copies)
        big = work / "big.jsonl"
        write_jsonl(big, args.rss_mb * 1_000_000)
        results = {
            "jsonl": run_case("ingest", jsonl, work),
            "jsonl_ref": run_case("reference", jsonl, work),
            "warc": run_case("ingest", warc, work),
            "big": run_case("ingest", big, work),
            "big_ref": run_case("reference", big, work),
        }
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"date: {datetime.now(UTC):%Y-%m-%d}"
    )
    print("| case | docs | input MB | wall s | docs/s | MB/s | MB per CPU-s | peak RSS MB | vs naive load |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(row(f"JSONL {args.jsonl_mb} MB (tierhouse ingest)", results["jsonl"], results["jsonl_ref"]))
    print(row(f"JSONL {args.jsonl_mb} MB (naive pyarrow load)", results["jsonl_ref"]))
    print(row(f"WARC.gz, handbook x{args.warc_copies} (tierhouse ingest)", results["warc"]))
    print(row(f"JSONL {args.rss_mb} MB (tierhouse ingest)", results["big"], results["big_ref"]))
    print(row(f"JSONL {args.rss_mb} MB (naive pyarrow load)", results["big_ref"]))


if __name__ == "__main__":
    main()
