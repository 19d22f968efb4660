"""L3 editing and L4 QA on the CPU backend: speed, and the LLM calls that repairs and the cache avoid.

    .venv/bin/python benchmarks/refine.py [--docs 6]

1. Triage over the L2 tier of a built lake (``--lake``), or else over the bundled corpus's handbook
   pages, addresses and e-mails: the share that deterministic repairs leave clean, i.e. the edit
   calls they avoid.
2. The cleanup editor (SmolLM2-135M, llama.cpp) on documents that need it: docs/s and guard outcomes.
3. QA synthesis plus independent verification on English texts: pairs/s and how many verify.
4. The cache across two builds of a small lake (pages that need editing, then 2 more): edit calls
   made in the second build against the calls an uncached pipeline would make.
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
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=6, help="documents edited and texts turned into QA pairs")
    parser.add_argument("--lake", help="triage this lake's L2 tier (e.g. ./lake after the quick start)")
    args = parser.parse_args()
    import orjson
    from planted import real_documents
    from test_refine import furnished

    from udfs.editors.guards import reject_reason
    from udfs.editors.triage import needs_llm
    from udfs.extract import extract_html
    from udfs.knowledge.qa import parse_qa, verdict
    from udfs.repairs import repair
    from udfs.scorers import config as scorer_config
    from warehouse.build import run_build
    from warehouse.config import load_settings
    from warehouse.corpus import prepare
    from warehouse.ingest import ingest
    from warehouse.query import connect

    corpus = {p.source.name: p for p in prepare(load_settings().cache_dir)}
    if args.lake:  # what actually reaches L3: the L2 tier of a built lake
        texts = [
            r[0] for r in connect(load_settings(args.lake)).execute("SELECT text FROM tiers.l2_selected").fetchall()
        ]
        population = f"the L2 tier of {args.lake}"
    else:
        pages = sorted(corpus["debian_handbook"].paths[0].glob("en-US/*.html"))
        texts = [extract_html(p.read_text()).text for p in pages] + real_documents(corpus, min_words=100)
        population = "handbook pages, addresses and e-mails"
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; date: {datetime.now(UTC):%Y-%m-%d}")

    repaired = [repair(t) for t in texts]
    needing = [t for t in repaired if needs_llm(t)]
    print(f"\n### triage: {len(texts):,} documents ({population})")
    print(f"left clean by deterministic repairs: {1 - len(needing) / len(texts):.1%} (edit calls avoided); "
          f"sent to the editor: {len(needing):,}")  # fmt: skip

    editor = scorer_config.judge(json.dumps({"prompt": "cleanup", "version": "v1"}))
    sample = [repair(furnished(t[:900])) for t in real_documents(corpus, min_words=150)[: args.docs]]
    editor.score(sample[:1])  # load the model outside the clock
    started = time.perf_counter()
    edits = editor.score(sample)
    seconds = time.perf_counter() - started
    outcomes = [
        reject_reason(b, e.raw) or "accepted" if e.status == "ok" else e.status
        for b, e in zip(sample, edits, strict=True)
    ]
    print(f"\n### cleanup editor ({editor.id.model}), {len(sample)} pages needing it")
    counts = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    print(f"{len(sample) / seconds:.2f} docs/s; guard outcomes: {counts}")

    generator = scorer_config.judge(json.dumps({"prompt": "qa", "version": "v1"}))
    verifier = scorer_config.judge(json.dumps({"prompt": "answer", "version": "v1"}))
    english = [t[:1500] for t in real_documents(corpus, min_words=150)[args.docs : 2 * args.docs]]
    started = time.perf_counter()
    pairs = [parse_qa(s.raw) for s in generator.score(english)]
    asked = [(t, p) for t, p in zip(english, pairs, strict=True) if p]
    answers = verifier.score([t for t, _ in asked], [p["question"] for _, p in asked]) if asked else []
    seconds = time.perf_counter() - started
    verdicts = [verdict(p, t, a.raw)[0] for (t, p), a in zip(asked, answers, strict=True)]
    print(f"\n### QA synthesis + verification ({generator.id.model}), {len(english)} texts")
    print(f"{len(english) / seconds:.2f} texts/s (synthesis and verification); parsed {len(asked)}/{len(english)}; "
          f"verdicts: { {v: verdicts.count(v) for v in sorted(set(verdicts))} }")  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(Path(tmp) / "lake")
        docs = [furnished(t[:700]) for t in real_documents(corpus, min_words=150)[40:52]]
        variables = json.dumps({"l2_max_llm_calls": 0, "l3_max_llm_edits": 20, "l4_max_llm_calls": 0})
        edits_made = []
        for name, chunk in (("first", docs[:10]), ("later", docs[10:])):
            path = Path(tmp) / f"{name}.jsonl"
            path.write_bytes(b"".join(orjson.dumps({"text": t}) + b"\n" for t in chunk))
            ingest([path], "site", settings=settings)
            run_build(settings, quiet=True, variables=variables)
            edits_made.append(connect(settings).execute("SELECT count(*) FROM ops.edits").fetchone()[0])
        needed = connect(settings).execute("SELECT count(*) FROM tiers.l3_refined WHERE llm_edit <> 'not_needed'")
        needed = needed.fetchone()[0]
    second = edits_made[1] - edits_made[0]
    print(f"\n### cache: a second build after +2 pages ({needed} documents need an edit)")
    print(f"edit calls in the second build: {second} of {needed} ({1 - second / needed:.0%} avoided by the cache)")


if __name__ == "__main__":
    main()
