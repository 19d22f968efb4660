"""Export throughput: a first export (every text tokenised), a re-export of the same build (token
counts read back from ``ops.token_counts``), and the tokenizer alone.

    .venv/bin/python benchmarks/export.py [--home lake] [--stage pretrain] [--tokens N]

Runs on an existing lake (default ./lake, the quick start's) and records its two exports in that
lake's ``ops.exports`` like any export. The first export counts tokens under a tokenizer name of its
own, so it finds nothing cached and measures tokenising; those counts are deleted afterwards. The
re-export must give byte-identical shards and manifest.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path("lake"))
    parser.add_argument("--stage", default="pretrain")
    parser.add_argument("--tokens", type=int)
    args = parser.parse_args()

    from pyiceberg.expressions import EqualTo

    from warehouse.build import default_project_dir
    from warehouse.catalog import open_catalog
    from warehouse.config import load_settings
    from warehouse.export.dataset import Mixture, export_stage
    from warehouse.export.stages import load_stages
    from warehouse.export.tokenizer import Tokenizer
    from warehouse.query import connect
    from warehouse.tables import TOKEN_COUNTS, ensure_table

    work = Path(tempfile.mkdtemp(prefix="tierhouse-export-bench-"))
    settings = load_settings(args.home)
    catalog = open_catalog(settings)
    stage = load_stages(default_project_dir())[args.stage]
    mixture = Mixture(stage.weights, f"default:{args.stage}", stage.overflow, stage.max_repeat)

    texts = [r[0] for r in connect(settings).execute("SELECT text FROM tiers.l2_selected LIMIT 2000").fetchall()]
    tokenizer = Tokenizer()
    tokenizer.name = f"{tokenizer.name}-bench-{os.getpid()}"  # a cold cache: every candidate is tokenised
    started = time.perf_counter()
    counted = sum(tokenizer.count(texts))
    tok_s = time.perf_counter() - started
    mb = sum(len(t.encode()) for t in texts) / 1e6

    runs = []
    for name in ("first", "again"):
        started = time.perf_counter()
        result = export_stage(catalog, args.stage, mixture, work / name, tokens=args.tokens, tokenizer=tokenizer,
                              show_progress=False)  # fmt: skip
        runs.append((name, time.perf_counter() - started, result))
    first, again = runs[0][2], runs[1][2]
    identical = _digest(first.folder) == _digest(again.folder)
    exported = first.manifest["tokens"]["exported"]
    print(f"# export benchmark ({datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} cores)")
    print(f"lake: {args.home} build {first.manifest['build']['id']}; stage {args.stage}; mixture {mixture.weights}")
    print(f"tokenizer alone: {counted:,} tokens of {mb:.1f} MB in {tok_s:.2f} s = {mb / tok_s:.2f} MB/s, "
          f"{counted / tok_s:,.0f} tokens/s")  # fmt: skip
    print("| export | seconds | exported tokens | tokens/s | records |")
    print("|---|---|---|---|---|")
    for name, seconds, result in runs:
        records = sum(s["records"] for s in result.manifest["shards"])
        print(f"| {name} | {seconds:.1f} | {exported:,} | {exported / seconds:,.0f} | {records:,} |")
    candidates = sum(s["available"]["tokens"] for s in first.manifest["slices"].values())
    print(f"the first export tokenised every candidate text: {candidates:,} tokens, "
          f"{candidates / runs[0][1]:,.0f} tokens/s end to end")  # fmt: skip
    print(f"re-export / first export time: {runs[1][1] / runs[0][1]:.2f}x; byte-identical: {identical}")
    ensure_table(catalog, TOKEN_COUNTS).delete(EqualTo("tokenizer", tokenizer.name))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
