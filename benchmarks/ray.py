"""L1's operators (or an LLM judge) in one process against the same calls as a Ray Data job, on the same
documents.

    PYTHONPATH=. .venv/bin/python benchmarks/ray.py [--languages 6] [--chunk-rows 100] [--cpus 2]
    PYTHONPATH=. .venv/bin/python benchmarks/ray.py --judge 40

``--judge N``: the edu judge (SmolLM2-135M on llama.cpp) on the first N English handbook texts, in
process (one model, every core's thread) and as ``ScoringActor`` batches on ``--actors`` actors (one
model each, the cores' threads shared out among them), one even batch per actor, committed to
``ops.measures`` as a Ray build does; ``same_scores`` compares the two (a text's score does not depend
on which texts its model judged before it: the llama.cpp backend evaluates each prompt's stem alone).

Documents: Debian handbook pages of the first ``--languages`` languages (127 pages each). Both sides
run extraction, language ID and, on English texts, the quality rules through ``udfs.registry.apply``,
batch by batch. In process: one Python loop. Ray: ``warehouse.engine.l1.run_l1`` on a local instance
of ``--cpus`` CPUs, reading L0 with ``ray.data.read_iceberg`` and committing each batch to
``ops.measures`` (the start of Ray itself is timed apart). The job's clock is read at each commit:
the first chunk carries the fixed costs (the driver's key query, read planning, actors loading their
models); from the first commit to the last is the steady state. Overhead per batch is, in that steady
state, the time a batch takes on one actor (seconds between commits times the actors) less the
in-process time of a batch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # not benchmarks/: this file's own name would shadow the ray package


def in_process(con, plan, chunk_rows: int) -> tuple[float, int]:
    """The operators over every L0 document in one process, ``chunk_rows`` at a time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from udfs.registry import apply

    started, batches = time.perf_counter(), 0
    reader = con.execute("SELECT doc_id, content, content_type FROM tiers.l0_raw").to_arrow_reader(chunk_rows)
    rules = plan.default_rules[0]
    for batch in reader:
        batches += 1
        extracted = apply("th_extract", batch.column("content"), batch.column("content_type"))
        texts = pc.struct_field(extracted, "text")
        languages = apply("th_language", texts).to_pylist()
        english = [t for t, lang in zip(texts.to_pylist(), languages, strict=True) if lang["language"] == "en"]
        if english:
            apply("th_content_hash", pa.array(english))
            apply("th_quality_flags", pa.array(english), pa.array([rules] * len(english)))
    return time.perf_counter() - started, batches


EDU = '{"prompt": "edu", "version": "v1", "llm": {"backend": "llamacpp", "model": "smollm2-135m-instruct"}}'


def judge_case(con, catalog, catalog_kwargs: dict[str, str], texts: int, actors: int, cpus: int) -> dict:
    """The edu judge over ``texts`` English texts in process, then on Ray: seconds, texts per second, equality."""
    import itertools
    import math

    import pyarrow as pa
    import pyarrow.compute as pc
    import ray

    from udfs.registry import apply
    from udfs.scorers.config import judge
    from warehouse.engine.job import Job, Pool, run_jobs
    from warehouse.engine.scores import ScoringActor
    from warehouse.query import register_table
    from warehouse.tables import MEASURES, ensure_table

    pages = con.execute("SELECT content, content_type FROM tiers.l0_raw ORDER BY doc_id").to_arrow_table()
    extracted = pc.struct_field(apply("th_extract", pages.column("content"), pages.column("content_type")), "text")
    languages = [lang["language"] for lang in apply("th_language", extracted).to_pylist()]
    pairs = zip(extracted.to_pylist(), languages, strict=True)
    english = list(itertools.islice((t for t, lang in pairs if lang == "en" and len(t) > 500), texts))
    hashes = [str(h) for h in apply("th_content_hash", pa.array(english)).to_pylist()]
    batch = math.ceil(len(english) / actors)

    started = time.perf_counter()
    local = [s.score for s in judge(EDU).score(english)]
    local_s = time.perf_counter() - started

    os.environ["TIERHOUSE_LLM_THREADS"] = str(max(1, cpus // actors))  # the actors share the cores
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    ensure_table(catalog, MEASURES)
    table = pa.table({"content_hash": hashes, "text": english})
    blocks = [table.slice(start, batch) for start in range(0, len(english), batch)]
    kwargs = {"catalog_kwargs": catalog_kwargs, "scorer": EDU, "operator": "th_judge", "version": "bench"}
    job = Job(ray.data.from_arrow(blocks), ScoringActor, kwargs, "judged", batch)
    stats = run_jobs(catalog, MEASURES, [job], len(english), Pool(batch, actors), label="Ray: edu judge")
    ray.shutdown()
    register_table(con, catalog, MEASURES)
    measured = dict(con.execute("SELECT input_hash, score FROM ops.measures WHERE version = 'bench'").fetchall())
    same = all(s is None or abs(measured[h] - s) < 1e-9 for h, s in zip(hashes, local, strict=True))
    return {
        "texts": len(english), "actors": actors, "threads_per_actor": max(1, cpus // actors),
        "in_process_s": round(local_s, 2), "in_process_texts_per_s": round(len(english) / local_s, 3),
        "ray_job_s": round(stats.seconds, 2), "ray_texts_per_s": round(len(english) / stats.seconds, 3),
        "ray_vs_in_process": round(local_s / stats.seconds, 2), "ray_workers": len(stats.workers),
        "same_scores": same,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", type=int, default=6)
    parser.add_argument("--chunk-rows", type=int, default=100)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--judge", type=int, metavar="N", help="time the edu judge on N English texts instead")
    args = parser.parse_args()

    import ray

    from warehouse.catalog import catalog_kwargs
    from warehouse.config import load_settings
    from warehouse.corpus import prepare
    from warehouse.engine.job import Pool
    from warehouse.engine.l1 import run_l1
    from warehouse.engine.plan import default_plan
    from warehouse.ingest import ingest
    from warehouse.query import connect

    settings = load_settings(Path(tempfile.mkdtemp(prefix="th-ray-")) / "lake")
    corpus = {p.source.name: p for p in prepare(settings.cache_dir)}
    root = corpus["debian_handbook"].paths[0]
    for language in sorted(p.name for p in root.iterdir())[: args.languages]:
        ingest([root / language], "debian_handbook", settings=settings)
    lake = connect(settings)
    (documents,) = lake.execute("SELECT count(*) FROM tiers.l0_raw").fetchone()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    if args.judge:
        case = judge_case(lake.con, lake.catalog, catalog_kwargs(settings), args.judge, args.actors, args.cpus)
        print(json.dumps({"date": datetime.now(UTC).date().isoformat(), "machine": machine, **case}, indent=2))
        return
    plan = default_plan()

    local_s, batches = in_process(lake.con, plan, args.chunk_rows)
    began = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    ray_start_s = time.perf_counter() - began
    job_began, commits = time.perf_counter(), []
    stats = run_l1(
        lake.con, lake.catalog, catalog_kwargs(settings), plan, Pool(args.chunk_rows, args.actors),
        on_chunk=lambda s: commits.append((time.perf_counter() - job_began, s.measured)),
    )  # fmt: skip
    ray.shutdown()
    assert stats.measured == documents, (stats.measured, documents)
    assert len(commits) > 1, "one chunk only: lower --chunk-rows to see a steady state"
    (first_s, first_docs), (last_s, _) = commits[0], commits[-1]
    between = (last_s - first_s) / (len(commits) - 1)  # seconds from one commit to the next
    overhead = between * args.actors - local_s / batches
    steady = (documents - first_docs) / (last_s - first_s)  # documents per second after the first commit
    print(
        json.dumps(
            {
                "date": datetime.now(UTC).date().isoformat(),
                "machine": machine,
                "documents": documents,
                "batches": batches,
                "chunk_rows": args.chunk_rows,
                "ray_cpus": args.cpus,
                "actors": args.actors,
                "in_process_s": round(local_s, 2),
                "in_process_docs_per_s": round(documents / local_s, 1),
                "ray_start_s": round(ray_start_s, 2),
                "ray_job_s": round(stats.seconds, 2),
                "ray_docs_per_s": round(documents / stats.seconds, 1),
                "ray_vs_in_process": round(local_s / stats.seconds, 2),
                "ray_first_chunk_s": round(first_s, 2),
                "ray_steady_docs_per_s": round(steady, 1),
                "ray_steady_vs_in_process": round(steady * local_s / documents, 2),
                "ray_workers_that_took_batches": len(stats.workers),
                "overhead_s_per_batch": round(overhead, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
