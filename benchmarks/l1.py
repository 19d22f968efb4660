"""L1 heuristic rules against DataTrove's own filters, in one run, on the same real documents.

    ./scripts/peers.sh                      # once: DataTrove in .venv-peers
    .venv/bin/python benchmarks/l1.py [--copies 2]

Both sides run Gopher quality, Gopher repetition, C4 quality and FineWeb quality on the parity
sample of the bundled corpus (handbook pages, addresses, e-mails, fortunes; ``--copies`` repeats it),
each in its own process, and report docs/s, MB/s and peak RSS. Decisions are compared too.
(MinHash deduplication against DataTrove's minhash stages is not measured yet.)
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
    from udfs.heuristics import DEFAULT_RULES, views

    docs = [json.loads(line) for line in Path(docs_path).read_text().splitlines()]
    started = time.perf_counter()
    verdicts = [{rule.name: rule.filter(view) for rule in DEFAULT_RULES} for view in views([d["text"] for d in docs])]
    seconds = time.perf_counter() - started
    with open(out_path, "w") as out:
        for doc, verdict in zip(docs, verdicts, strict=True):
            out.write(json.dumps({"id": doc["id"], **verdict}) + "\n")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "rss_kb": rss}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        ours(*args.child)
        return
    from test_heuristics_parity import sample_documents

    from warehouse.config import load_settings
    from warehouse.corpus import prepare

    corpus = {p.source.name: p for p in prepare(load_settings().cache_dir)}
    docs = [dict(d, id=f"{d['id']}#{c}") for c in range(args.copies) for d in sample_documents(corpus)]
    megabytes = sum(len(d["text"].encode()) for d in docs) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "docs.jsonl"
        source.write_text("".join(json.dumps(d) + "\n" for d in docs))
        peer = ROOT / ".venv-peers" / "bin" / "python"
        started = time.perf_counter()
        script = ROOT / "benchmarks" / "peers" / "datatrove_filters.py"
        subprocess.run([str(peer), str(script), str(source), f"{tmp}/dt.jsonl"], capture_output=True, check=True)
        dt_wall = time.perf_counter() - started
        dt_rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the only child waited for so far
        dt_lines = Path(f"{tmp}/dt.jsonl").read_text().splitlines()
        dt_seconds = sum(json.loads(dt_lines[-1])["seconds"].values())
        theirs = {r["id"]: r for r in map(json.loads, dt_lines[:-1])}
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(source), f"{tmp}/ours.jsonl"],
            capture_output=True,
            text=True,
            check=True,
        )
        mine = json.loads(child.stdout.strip().splitlines()[-1])
        agree = {name: 0 for name in ("gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality")}
        for row in map(json.loads, Path(f"{tmp}/ours.jsonl").read_text().splitlines()):
            for name in agree:
                agree[name] += (row[name] is None) == theirs[row["id"]][name][0]
    n = len(docs)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; date: {datetime.now(UTC):%Y-%m-%d}; {n:,} documents, {megabytes:.1f} MB")
    print("| Gopher quality + repetition, C4, FineWeb | seconds | docs/s | MB/s | peak RSS MB | speed vs DataTrove |")
    print("|---|---|---|---|---|---|")
    for name, seconds, rss_kb in (
        ("DataTrove 0.10.1 filters", dt_seconds, dt_rss_kb),
        ("tierhouse udfs.heuristics", mine["seconds"], mine["rss_kb"]),
    ):
        print(
            f"| {name} | {seconds:.1f} | {n / seconds:,.0f} | {megabytes / seconds:.2f} | {rss_kb / 1024:,.0f} "
            f"| {dt_seconds / seconds:.2f}x |"
        )
    print("decision agreement: " + ", ".join(f"{k} {v / n:.2%}" for k, v in agree.items()))
    print(f"(DataTrove process wall time including imports: {dt_wall:.1f} s)")


if __name__ == "__main__":
    main()
