"""Export throughput: a first export (every text tokenised), a re-export of the same build (token
counts read back from ``ops.token_counts``), and the tokenizer alone.

    .venv/bin/python benchmarks/export.py [--home lake] [--stage pretrain] [--tokens N]

Runs on an existing lake (default ./lake, the quick start's). The first export starts from an
empty token-count cache (the benchmark works on a copy of the lake, so the lake is not touched), so
it measures tokenising; the re-export must give byte-identical shards and manifest.
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

    from warehouse.build import default_project_dir
    from warehouse.catalog import open_catalog
    from warehouse.config import load_settings
    from warehouse.export.dataset import Mixture, export_stage
    from warehouse.export.stages import load_stages
    from warehouse.export.tokenizer import default_tokenizer
    from warehouse.query import connect

    work = Path(tempfile.mkdtemp(prefix="tierhouse-export-bench-"))
    shutil.copytree(args.home, work / "lake")
    settings = load_settings(work / "lake")
    catalog = open_catalog(settings)
    if catalog.table_exists("ops.token_counts"):
        catalog.purge_table("ops.token_counts")  # a cold cache: the first export tokenises everything
    stage = load_stages(default_project_dir())[args.stage]
    mixture = Mixture(stage.weights, f"default:{args.stage}", stage.overflow, stage.max_repeat)

    texts = [r[0] for r in connect(settings).execute("SELECT text FROM tiers.l2_selected LIMIT 2000").fetchall()]
    tokenizer = default_tokenizer()
    started = time.perf_counter()
    counted = sum(tokenizer.count(texts))
    tok_s = time.perf_counter() - started
    mb = sum(len(t.encode()) for t in texts) / 1e6

    runs = []
    for name in ("first", "again"):
        started = time.perf_counter()
        result = export_stage(catalog, args.stage, mixture, work / name, tokens=args.tokens, show_progress=False)
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
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
