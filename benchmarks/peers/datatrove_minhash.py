"""Run DataTrove's four MinHash deduplication stages over a JSONL of documents (inside .venv-peers).

    .venv-peers/bin/python benchmarks/peers/datatrove_minhash.py docs.jsonl workdir bands rows

Stages: signatures, band buckets, clustering, filtering, each with ``LocalPipelineExecutor``
(bucket tasks spread over the machine's cores). Prints one JSON line: seconds per stage and the
ids DataTrove removed, so the benchmark can compare decisions as well as speed.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import sys
import time
from pathlib import Path

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter


def main(source: str, work: str, bands: int, rows: int) -> None:
    folder = Path(source).parent
    config = MinhashConfig(n_grams=5, num_buckets=bands, hashes_per_bucket=rows)
    reader = JsonlReader(str(folder), glob_pattern=Path(source).name, id_key="id")
    stages = {
        "signatures": ([reader, MinhashDedupSignature(f"{work}/sigs", config=config)], 1),
        "buckets": ([MinhashDedupBuckets(f"{work}/sigs", f"{work}/buckets", config=config)], bands),
        "clusters": ([MinhashDedupCluster(f"{work}/buckets", f"{work}/remove", config=config)], 1),
        "filter": (
            [
                JsonlReader(str(folder), glob_pattern=Path(source).name, id_key="id"),
                MinhashDedupFilter(f"{work}/remove", exclusion_writer=JsonlWriter(f"{work}/removed")),
                JsonlWriter(f"{work}/kept"),
            ],
            1,
        ),
    }
    seconds = {}
    for name, (pipeline, tasks) in stages.items():
        started = time.perf_counter()
        LocalPipelineExecutor(
            pipeline=pipeline, tasks=tasks, workers=min(tasks, os.cpu_count() or 1), logging_dir=f"{work}/logs/{name}"
        ).run()
        seconds[name] = time.perf_counter() - started
    removed = []
    for path in sorted(Path(f"{work}/removed").glob("*.jsonl*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as fh:
            removed += [json.loads(line)["id"] for line in fh]
    rss_kb = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(json.dumps({"seconds": seconds, "removed": removed, "rss_kb": rss_kb}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
