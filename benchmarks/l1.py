"""L1 operators against DataTrove, in one run, on the same real documents and the same machine.

    ./scripts/peers.sh                      # once: DataTrove in .venv-peers
    .venv/bin/python benchmarks/l1.py [--copies 2] [--only rules|minhash]

rules:   Gopher quality, Gopher repetition, C4 quality and FineWeb quality on the parity sample of
         the bundled corpus (handbook pages, addresses, e-mails, fortunes; ``--copies`` repeats it).
minhash: MinHash-LSH dedup end to end (signatures, buckets, clusters, the decision which documents
         go) on real addresses and e-mails plus a planted near-duplicate of each of 1,000 of them;
         DataTrove's four minhash stages against tierhouse's incremental runner, which also stores
         its signatures and pairs in Iceberg tables. Both use 25 bands x 8 rows over 5-word shingles.
Each side runs in its own process; docs/s, MB/s, peak RSS and the agreement of decisions are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def ours(docs_path: str, out_path: str) -> None:
    """Run in a child process: tierhouse's rules over the documents, verdicts and timing out."""
    from udfs.heuristics import DEFAULT_RULES, TextView

    docs = [json.loads(line) for line in Path(docs_path).read_text().splitlines()]
    started = time.perf_counter()
    verdicts = [
        {rule.name: rule.filter(view) for rule in DEFAULT_RULES} for view in map(TextView, (d["text"] for d in docs))
    ]
    seconds = time.perf_counter() - started
    with open(out_path, "w") as out:
        for doc, verdict in zip(docs, verdicts, strict=True):
            out.write(json.dumps({"id": doc["id"], **verdict}) + "\n")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "rss_kb": rss}))


def ours_minhash(docs_path: str, lake: str) -> None:
    """Run in a child process: load the JSONL into DuckDB, then sign, pair, cluster and mark."""
    from udfs.dedup import MinHashConfig
    from warehouse.catalog import open_catalog
    from warehouse.config import load_settings
    from warehouse.duck import new_connection
    from warehouse.fuzzy import deduplicate, mark_near_duplicates
    from warehouse.query import register_tables
    from warehouse.tables import init_warehouse

    started = time.perf_counter()
    catalog = open_catalog(load_settings(lake))
    init_warehouse(catalog)
    con = new_connection()
    register_tables(con, catalog)
    con.execute(
        f"""CREATE TABLE docs AS SELECT id AS doc_id, text, md5(text) AS content_hash, true AS kept,
            []::VARCHAR[] AS reject_reasons,
            TIMESTAMP '2026-01-01' + to_microseconds(row_number() OVER ()) AS ingested_at, true AS eligible
        FROM read_json('{docs_path}', format = 'newline_delimited')"""
    )
    _, stats = deduplicate(
        con, catalog, "docs", MinHashConfig(), apply=lambda found: mark_near_duplicates(con, "docs", found)
    )
    seconds = time.perf_counter() - started
    removed = [r[0] for r in con.execute("SELECT doc_id FROM docs WHERE NOT kept").fetchall()]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "rss_kb": rss, "removed": removed, "candidates": stats.candidates}))


def _child(*args: str) -> dict:
    run = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def _peer(script: str, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run a DataTrove script in .venv-peers; returns it and its wall time."""
    started = time.perf_counter()
    peer = ROOT / ".venv-peers" / "bin" / "python"
    run = subprocess.run(
        [str(peer), str(ROOT / "benchmarks" / "peers" / script), *args], capture_output=True, text=True, check=True
    )
    return run, time.perf_counter() - started


def _rss_mb(kb: int) -> str:
    return f"{kb / 1024:,.0f}"


def bench_rules(corpus: dict, copies: int) -> None:
    from test_heuristics_parity import sample_documents

    docs = [dict(d, id=f"{d['id']}#{c}") for c in range(copies) for d in sample_documents(corpus)]
    megabytes = sum(len(d["text"].encode()) for d in docs) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "docs.jsonl"
        source.write_text("".join(json.dumps(d) + "\n" for d in docs))
        _, dt_wall = _peer("datatrove_filters.py", str(source), f"{tmp}/dt.jsonl")
        dt_lines = Path(f"{tmp}/dt.jsonl").read_text().splitlines()
        dt_seconds = sum(json.loads(dt_lines[-1])["seconds"].values())
        dt_rss_kb = json.loads(dt_lines[-1])["rss_kb"]
        theirs = {r["id"]: r for r in map(json.loads, dt_lines[:-1])}
        mine = _child("--child", str(source), f"{tmp}/ours.jsonl")
        agree = {name: 0 for name in ("gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality")}
        for row in map(json.loads, Path(f"{tmp}/ours.jsonl").read_text().splitlines()):
            for name in agree:
                agree[name] += (row[name] is None) == theirs[row["id"]][name][0]
    n = len(docs)
    print(f"\n### rules: {n:,} documents, {megabytes:.1f} MB")
    print("| Gopher quality + repetition, C4, FineWeb | seconds | docs/s | MB/s | peak RSS MB | speed vs DataTrove |")
    print("|---|---|---|---|---|---|")
    for name, seconds, rss_kb in (
        ("DataTrove 0.10.1 filters", dt_seconds, dt_rss_kb),
        ("tierhouse udfs.heuristics", mine["seconds"], mine["rss_kb"]),
    ):
        print(
            f"| {name} | {seconds:.1f} | {n / seconds:,.0f} | {megabytes / seconds:.2f} | {_rss_mb(rss_kb)} "
            f"| {dt_seconds / seconds:.2f}x |"
        )
    print("decision agreement: " + ", ".join(f"{k} {v / n:.2%}" for k, v in agree.items()))
    print(f"(DataTrove process wall time including imports: {dt_wall:.1f} s)")


def bench_minhash(corpus: dict, copies: int) -> None:
    from planted import plant, real_documents

    texts = real_documents(corpus, max_words=20_000)
    pairs = plant(texts[:1300], 1000, positive_share=0.7)
    docs = [{"id": f"real-{c}-{i}", "text": t} for c in range(copies) for i, t in enumerate(texts)]
    docs += [{"id": f"variant-{c}-{p.base}", "text": p.text} for c in range(copies) for p in pairs]
    megabytes = sum(len(d["text"].encode()) for d in docs) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "docs.jsonl"
        source.write_text("".join(json.dumps(d) + "\n" for d in docs))
        run, dt_wall = _peer("datatrove_minhash.py", str(source), f"{tmp}/dt", "25", "8")
        theirs = json.loads(run.stdout.strip().splitlines()[-1])
        dt_rss_kb = theirs["rss_kb"]
        mine = _child("--child-minhash", str(source), f"{tmp}/lake")
    dt_seconds = sum(theirs["seconds"].values())
    n = len(docs)
    removed_theirs, removed_ours = set(theirs["removed"]), set(mine["removed"])
    positives = {f"variant-{c}-{p.base}" for c in range(copies) for p in pairs if p.jaccard >= 0.8}
    negatives = {f"variant-{c}-{p.base}" for c in range(copies) for p in pairs if p.jaccard < 0.8}
    print(f"\n### minhash: {n:,} documents ({len(pairs) * copies:,} planted variants), {megabytes:.1f} MB")
    print("| MinHash dedup end to end | seconds | docs/s | MB/s | peak RSS MB | speed vs DataTrove |")
    print("|---|---|---|---|---|---|")
    stages = ", ".join(f"{k} {v:.1f}" for k, v in theirs["seconds"].items())
    for name, seconds, rss_kb in (
        (f"DataTrove 0.10.1, 4 stages ({stages} s)", dt_seconds, dt_rss_kb),
        ("tierhouse warehouse.fuzzy (+ Iceberg writes)", mine["seconds"], mine["rss_kb"]),
    ):
        print(
            f"| {name} | {seconds:.1f} | {n / seconds:,.0f} | {megabytes / seconds:.2f} | {_rss_mb(rss_kb)} "
            f"| {dt_seconds / seconds:.2f}x |"
        )
    both = removed_theirs & removed_ours
    print(
        f"removed: DataTrove {len(removed_theirs):,}, tierhouse {len(removed_ours):,}, both {len(both):,}; "
        f"planted positives (J >= 0.8) removed: DataTrove {len(positives & removed_theirs) / len(positives):.1%}, "
        f"tierhouse {len(positives & removed_ours) / len(positives):.1%}; planted hard negatives "
        f"(J 0.3-0.6) removed: DataTrove {len(negatives & removed_theirs) / len(negatives):.1%}, "
        f"tierhouse {len(negatives & removed_ours) / len(negatives):.1%}"
    )
    print(f"(DataTrove wall time including imports: {dt_wall:.1f} s; RSS is the larger of its processes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=1, help="repeat the documents this many times")
    parser.add_argument("--only", choices=("rules", "minhash"), help="run one of the two benchmarks")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-minhash", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        ours(*args.child)
        return
    if args.child_minhash:
        ours_minhash(*args.child_minhash)
        return
    from warehouse.config import load_settings
    from warehouse.corpus import prepare

    corpus = {p.source.name: p for p in prepare(load_settings().cache_dir)}
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; date: {datetime.now(UTC):%Y-%m-%d}")
    if args.only in (None, "rules"):
        bench_rules(corpus, args.copies)
    if args.only in (None, "minhash"):
        bench_minhash(corpus, args.copies)


if __name__ == "__main__":
    main()
