"""Where L1's time and memory go: each operator L1 calls, timed alone over a lake's L0, this tree against another.

    .venv/bin/python benchmarks/l1_operators.py --home LAKE [--against REV]

L0's documents are read once into a Parquet file. A child process per tree imports that tree's
``udfs`` and times each operator over every document, in batches of 2,048 rows (DuckDB's vector, as
the SQL functions receive them): extraction, language ID and the content hash on every document,
the quality rules on English texts (default rule profile), and MinHash signing of every text (default
configuration). An operator that tree's L1 model does not call is left out of its column. The child is
single-threaded, so each rise of its peak RSS happens in one operator's calls: the table of rises says
which operator's calls set new peaks (first-time model loads included; an operator working below an
earlier peak shows none), and between lakes of two sizes, which of them grows with the lake.
``--against REV`` checks REV out into a temporary worktree, so its operators run under this
interpreter and packages; the trees' runs alternate (``--repeat``, default 3) and each keeps its
fastest time per operator.
What this leaves out of a build: DuckDB's own SQL (reading, casting, the duplicate ranking), the
Iceberg writes, near-duplicate pairing and clustering, gates and start-up.
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
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCH = 2_048
#: each operator, and what in L1's model shows that it calls it
OPERATORS = {"th_extract": "th_extract", "th_language": "th_language", "th_content_hash": "th_content_hash",
             "th_quality_flags": "th_quality_flags", "minhash": "fuzzy_dedup"}  # fmt: skip


def _batches(path: str) -> Iterator[dict[str, list]]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(BATCH):
        yield batch.to_pydict()


def _peak_mb() -> float:
    # not warehouse.memory.steps.peak_rss_mb: the child imports only the tree under test's udfs
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _timed(seconds: dict[str, float], rises: dict[str, float], key: str, fn: Callable[[], list]) -> list:
    """``fn()``, adding its seconds to ``seconds[key]`` and the rise of the peak RSS it caused to ``rises[key]``."""
    started, peak = time.perf_counter(), _peak_mb()
    out = fn()
    seconds[key] += time.perf_counter() - started
    rises[key] += _peak_mb() - peak
    return out


def _called(tree: Path) -> set[str]:
    """The operators ``tree``'s L1 model calls (MinHash signing: when it configures near-duplicate marking)."""
    model = (tree / "dbt_project/models/tiers/l1_clean.sql").read_text()
    return {operator for operator, marker in OPERATORS.items() if marker in model}


def child(parquet: str, tree: str, out: str) -> None:
    """Run in a child process with ``tree`` first on sys.path: time its operators, per source."""
    sys.path.insert(0, tree)
    from udfs import registry

    udfs = {u.name: u for u in registry.UDFS}
    calls = _called(Path(tree))
    hasher = None
    if "minhash" in calls:
        from udfs.dedup import MinHasher

        hasher = MinHasher()
    rules = udfs.get("th_quality_flags") if "th_quality_flags" in calls else None
    seconds: dict[str, float] = defaultdict(float)
    rises: dict[str, float] = defaultdict(float)
    documents: dict[str, int] = defaultdict(int)
    timed = partial(_timed, seconds, rises)
    for batch in _batches(parquet):
        for source in sorted(set(batch["source"])):
            rows = [i for i, s in enumerate(batch["source"]) if s == source]
            documents[source] += len(rows)
            content = [(batch["content"][i], batch["content_type"][i]) for i in rows]
            x = timed(f"th_extract|{source}", lambda c=content: [udfs["th_extract"].fn(*r) for r in c])
            texts = [r["text"] for r in x]
            texts = [t for t in texts if t is not None]
            langs = timed(f"th_language|{source}", lambda t=texts: [udfs["th_language"].fn(s) for s in t])
            timed(f"th_content_hash|{source}", lambda t=texts: [udfs["th_content_hash"].fn(s) for s in t])
            english = [t for t, lang in zip(texts, langs, strict=True) if lang["language"] == "en"]
            if rules is not None and english:
                timed(f"th_quality_flags|{source}", lambda e=english: rules.fn(e))
            if hasher is not None and texts:
                timed(f"minhash|{source}", lambda t=texts: hasher.signatures(t))
    result = {"seconds": seconds, "rise_mb": rises, "peak_mb": _peak_mb(), "documents": documents}
    Path(out).write_text(json.dumps(result))


def _worktree(rev: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), rev], check=True,
                   capture_output=True)  # fmt: skip
    return into


def _profile(parquet: Path, tree: Path, work: Path) -> dict:
    out = work / f"{tree.name}.json"
    subprocess.run([sys.executable, __file__, "--child", str(parquet), "--tree", str(tree), "--out", str(out)],
                   check=True, env={**os.environ, "PYTHONPATH": str(tree)})  # fmt: skip
    return json.loads(out.read_text())


def _dump_l0(home: str, parquet: Path) -> int:
    """L0's documents in key order into ``parquet``, streamed by DuckDB (a 10x lake's L0 does not fit in memory)."""
    os.environ["TIERHOUSE_HOME"] = home
    sys.path.insert(0, str(ROOT))
    from warehouse.config import load_settings
    from warehouse.query import connect

    lake = connect(load_settings())
    try:
        query = "SELECT source, content, content_type FROM tiers.l0_raw ORDER BY doc_id"
        lake.con.execute(f"COPY ({query}) TO '{parquet}' (FORMAT parquet, ROW_GROUP_SIZE 20000)")
        return lake.con.execute(f"SELECT count(*) FROM read_parquet('{parquet}')").fetchone()[0]
    finally:
        lake.close()


def _total(result: dict, operator: str, source: str | None = None, measure: str = "seconds") -> float | None:
    keys = [k for k in result[measure] if k.split("|")[0] == operator and source in (None, k.split("|")[1])]
    return sum(result[measure][k] for k in keys) if keys else None


def _cell(result: dict, operator: str | None, measure: str = "seconds") -> float | None:
    """An operator's seconds (or rise of the peak RSS), or (``None``) every operator's."""
    if operator is None:
        return sum(filter(None, (_total(result, o, measure=measure) for o in OPERATORS)))
    return _total(result, operator, measure=measure)


def _best(runs: list[dict]) -> dict:
    """Each operator's and source's least time and least rise of the peak RSS over ``runs``."""
    best = {m: {k: min(r[m].get(k, float("inf")) for r in runs) for k in runs[0][m]} for m in ("seconds", "rise_mb")}
    return {**best, "peak_mb": min(r["peak_mb"] for r in runs), "documents": runs[0]["documents"]}


def _table(ours: dict, other: dict | None, rev: str | None, measure: str, unit: str) -> None:
    """Markdown: per operator ``measure`` for this tree, and beside it the other tree's and the ratio."""
    header = f"| operator | this tree {unit} |" + (f" {rev} {unit} | this / {rev} |" if other else "")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for operator in (*OPERATORS, None):
        mine = _cell(ours, operator, measure)
        row = f"| {operator or '**all**'} | {mine:.1f} |" if mine is not None else f"| {operator} | - |"
        if other:
            theirs = _cell(other, operator, measure)
            ratio = f"{mine / theirs:.2f}x" if mine and theirs else "-"
            row += f" {theirs:.1f} | {ratio} |" if theirs is not None else " - | - |"
        print(row)


def report(ours: dict, other: dict | None, rev: str | None, documents: int, repeat: int) -> None:
    """Markdown: per operator seconds and peak RSS rises (this tree, the other, ratio), then this tree per source."""
    print(f"\nL1 operators over {documents:,} L0 documents, best of {repeat} alternating runs per tree; "
          f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{datetime.now(UTC):%Y-%m-%d}\n")  # fmt: skip
    _table(ours, other, rev, "seconds", "s")
    print(f"\nRise of the child's peak RSS during each operator's calls (its peak: {ours['peak_mb']:,.0f} MB"
          + (f"; {rev}'s: {other['peak_mb']:,.0f} MB" if other else "") + ")\n")  # fmt: skip
    _table(ours, other, rev, "rise_mb", "MB")
    sources = sorted(ours["documents"])
    print("\n| this tree, s | " + " | ".join(f"{s} ({ours['documents'][s]:,})" for s in sources) + " |")
    print("|---|" + "---|" * len(sources))
    for operator in OPERATORS:
        cells = [_total(ours, operator, s) for s in sources]
        print(f"| {operator} | " + " | ".join("-" if c is None else f"{c:.1f}" for c in cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", help="the lake whose L0 is read (its TIERHOUSE_HOME)")
    parser.add_argument("--against", help="a git revision whose operators run on the same documents")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tree, alternating; the best of each is kept")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.tree, args.out)
        return
    if not args.home:
        parser.error("--home is required")
    with tempfile.TemporaryDirectory(prefix="l1-operators-") as tmp:
        work = Path(tmp)
        documents = _dump_l0(args.home, work / "l0.parquet")
        tree = _worktree(args.against, work / "against") if args.against else None
        try:
            runs: dict[Path, list[dict]] = defaultdict(list)
            for _ in range(args.repeat):  # the trees alternate, so a slow spell of the machine hits both
                for t in filter(None, (ROOT, tree)):
                    runs[t].append(_profile(work / "l0.parquet", t, work))
        finally:
            if tree:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)
        report(_best(runs[ROOT]), _best(runs[tree]) if tree else None, args.against, documents, args.repeat)


if __name__ == "__main__":
    main()
