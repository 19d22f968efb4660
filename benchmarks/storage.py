"""Storage under churn: bytes each incremental build writes per tier, as a share of the tier, and the
lake's size after `tierhouse maintain`, as a ratio to its size after one build.

    .venv/bin/python benchmarks/storage.py [--scale 1] [--builds 10] [--relabel-at 6]

The bundled corpus less every 25th document is ingested and built. Then each of ``--builds`` rounds
adds about 1% of the documents and builds again: 0.4% new documents (the held-out ones, a slice per
round), 0.4% near-duplicates of stored documents (every 60th word changed, Jaccard about 0.85) and
0.2% exact copies of stored documents, both under a source of their own. One round
(``--relabel-at``, with ``--judges``) also enlarges the judges' sample by half, so the distilled classifiers retrain
on the grown label set and rescore every text on purpose: that build is exempt from the target,
its record says which classifiers it replaced, and it accepts the score drift its gates then find
(`--accept-drift`), as a user making that change would. L3 and L4 make no LLM call (their budgets are 0),
so those tiers change by deterministic repairs and extracted facts only: the benchmark measures
storage, not generation. Every `tierhouse build` runs in its own process. Last, a fresh lake ingests
the same documents in the same order and builds once: the maintained lake's ratio to it is what the
churn cost beyond the content it added.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from build import ingest_all, split_corpus, timed_build  # noqa: E402

TIERS = ("l1_clean", "scores", "l2_selected", "l3_refined", "l4_knowledge")


def lake_bytes(home: Path) -> int:
    """Every file of the lake: data, manifests, metadata and the catalog (not the HTML build reports)."""
    reports = home / "reports"
    return sum(p.stat().st_size for p in home.rglob("*") if p.is_file() and reports not in p.parents)


def near_copy(text: str) -> str:
    words = text.split(" ")
    return " ".join("changed" if i % 60 == 30 else w for i, w in enumerate(words))


def build(home: Path, variables: dict, accept: tuple[str, ...] = ()) -> float:
    options = ["--vars", json.dumps(variables)]
    for tier in accept:  # a deliberate rescore moves the score distributions the gates compare
        options += ["--accept-drift", tier]
    options += ["--reason", "benchmark: the judges' label set grew by half"] if accept else []
    return timed_build(home, *options)[0]


def slices(held: dict[str, list[Path]], rounds: int) -> list[dict[str, list[Path]]]:
    """The held-out documents dealt into ``rounds`` parts, each a set of files per source."""
    parts: list[dict[str, list[Path]]] = [{} for _ in range(rounds)]
    for name, roots in held.items():
        for root in roots:
            if root.is_dir():  # HTML pages: deal the files
                pages = sorted(p for p in root.rglob("*") if p.is_file())
                for i in range(rounds):
                    parts[i].setdefault(name, []).extend(pages[i::rounds])
                continue
            lines = root.read_bytes().splitlines(keepends=True)
            for i in range(rounds):
                piece = root.with_name(f"{root.stem}-{i}.jsonl")
                piece.write_bytes(b"".join(lines[i::rounds]))
                parts[i].setdefault(name, []).append(piece)
    return parts


def copies(settings, work: Path, round_no: int, near: int, exact: int) -> dict[str, list[Path]]:
    """Near and exact copies of stored, kept, long documents (different ones each round)."""
    from warehouse.query import connect

    texts = [
        row[0]
        for row in connect(settings)
        .execute(
            "SELECT text FROM tiers.l1_clean WHERE kept AND n_words >= 300 ORDER BY hash(doc_id, ?) LIMIT ?",
            [round_no, near + exact],
        )
        .fetchall()
    ]
    files = {}
    for name, chosen, change in (("near", texts[:near], near_copy), ("exact", texts[near:], lambda t: t)):
        path = work / f"{name}-{round_no}.jsonl"
        path.write_bytes(b"".join(orjson.dumps({"text": change(t)}) + b"\n" for t in chosen))
        files[f"mirror_{name}"] = [path]
    return files


def ingest_jsonl(files: dict[str, list[Path]], settings) -> int:
    from warehouse.ingest import ingest

    return sum(ingest(paths, name, settings=settings, fmt="jsonl", show_progress=False).ingested
               for name, paths in files.items())  # fmt: skip


def one_shot(home: Path, arrivals: list[tuple[Callable, dict[str, list[Path]]]], variables: dict) -> int:
    """Bytes of a lake that ingests every round's documents (in the rounds' order) and builds once:
    what the churned lake's content alone takes, so its ratio to the maintained lake is the overhead."""
    from warehouse.config import load_settings

    os.environ["TIERHOUSE_HOME"] = str(home)
    settings = load_settings()
    for ingest, files in arrivals:
        ingest(files, settings)
    build(home, variables)
    return lake_bytes(home)


def record(settings, build_id: int) -> dict:
    from warehouse.builds import list_builds
    from warehouse.catalog import open_catalog

    return next(r for r in list_builds(open_catalog(settings)) if r["build_id"] == build_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=1, help="copies of the corpus (each copy's texts made distinct)")
    parser.add_argument("--builds", type=int, default=10, help="incremental builds after the first")
    parser.add_argument("--judges", action="store_true",
                        help="let the LLM judges label their sample (about 10 minutes more on 2 cores)")  # fmt: skip
    parser.add_argument("--relabel-at", type=int, default=6, help="with --judges: the round that grows their sample")
    parser.add_argument("--keep-builds", type=int, default=3, help="tierhouse maintain --keep-builds")
    parser.add_argument("--lake", type=Path, help="build the lake here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    from warehouse.config import load_settings

    with tempfile.TemporaryDirectory(prefix="tierhouse-storage-bench-") as tmp:
        work = args.lake or Path(tmp)
        home = work / "lake"
        os.environ["TIERHOUSE_HOME"] = str(home)
        settings = load_settings()
        base, held = split_corpus(work, args.scale, held_every=25)
        docs = ingest_all(base, settings)
        no_generation = {"l3_max_llm_edits": 0, "l4_max_llm_calls": 0}
        if not args.judges:  # no label, so no distilled classifier: L2 selects on the heuristic score alone
            no_generation |= {"l2_max_llm_calls": 0, "l2_perplexity": None}
        full = build(home, no_generation)
        one_build = lake_bytes(home)
        print(f"build 1: {docs:,} documents, {full:.1f} s, lake {one_build / 1e6:.1f} MB", file=sys.stderr, flush=True)
        sample = 32  # dbt_project.yml's l2_llm_sample
        rows, arrivals = [], [(ingest_all, base)]
        for round_no, new in enumerate(slices(held, args.builds), start=1):
            mirrored = copies(settings, work, round_no, docs * 4 // 1000, docs * 2 // 1000)
            arrivals += [(ingest_all, new), (ingest_jsonl, mirrored)]
            added = ingest_all(new, settings)
            added += ingest_jsonl(mirrored, settings)
            relabel = args.judges and round_no == args.relabel_at
            sample = sample * 3 // 2 if relabel else sample
            seconds = build(
                home, {**no_generation, "l2_llm_sample": sample}, ("scores", "l2_selected") if relabel else ()
            )
            rows.append((round_no, added, seconds, record(settings, round_no + 1)))
            print(f"build {round_no + 1}: +{added:,} documents, {seconds:.1f} s, lake {lake_bytes(home) / 1e6:.1f} MB",
                  file=sys.stderr, flush=True)  # fmt: skip
        before = lake_bytes(home)
        env = dict(os.environ, TIERHOUSE_HOME=str(home))
        maintained = subprocess.run([sys.executable, "-m", "warehouse.cli", "maintain", "--keep-builds",
                                     str(args.keep_builds), "--grace-minutes", "0", "--json"],
                                    env=env, check=True, capture_output=True)  # fmt: skip
        after = lake_bytes(home)
        oneshot = one_shot(work / "oneshot", arrivals, {**no_generation, "l2_llm_sample": sample})

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; date: {datetime.now(UTC):%Y-%m-%d}")
    print(f"corpus x{args.scale}: {docs:,} documents, first build {full:.1f} s")
    print("| build | docs added | wall s (vs first) | written / tier bytes: " + " | ".join(TIERS) + " | note |")
    print("|---" * (len(TIERS) + 4) + "|")
    for round_no, added, seconds, rec in rows:
        cells = []
        for tier in TIERS:
            m = rec["models"].get(tier, {})
            total = m.get("table_bytes") or 0
            cells.append(f"{m.get('bytes_written', 0) / total:.1%}" if total else "-")
        retrained = rec["models"].get("scores", {}).get("operators", {}).get("retrained")
        note = ", ".join(f"retrained {r['scorer']}: {r['rescored']:,} rescored" for r in retrained or [])
        wall = f"{seconds:.1f} ({seconds / full:.2f})"
        print(f"| {round_no + 1} | {added:,} | {wall} | " + " | ".join(cells) + f" | {note} |")
    print(f"lake after one build {one_build / 1e6:.1f} MB; after {args.builds + 1} builds {before / 1e6:.1f} MB "
          f"({before / one_build:.2f}x); after maintain --keep-builds {args.keep_builds} "
          f"{after / 1e6:.1f} MB ({after / one_build:.2f}x)")  # fmt: skip
    print(f"the same documents ingested in the same order and built once: {oneshot / 1e6:.1f} MB; the maintained "
          f"lake is {after / oneshot:.2f}x that")  # fmt: skip
    print("maintain, per table: " + "; ".join(maintenance(orjson.loads(maintained.stdout))))


def maintenance(report: dict) -> list[str]:
    """Per table that maintain changed: the bytes it deleted and, if it compacted, the files and bytes packed."""
    lines = []
    for table in report["tables"]:
        packed = table["compaction"]
        if table["bytes_removed"] or packed:
            line = f"{table['table']} -{table['bytes_removed'] / 1e6:.1f} MB"
            if packed:
                line += (f" (packed {packed['files_before']} -> {packed['files_after']} files, "
                         f"{packed['bytes_rewritten'] / 1e6:.1f} MB rewritten)")  # fmt: skip
            lines.append(line)
    return lines


if __name__ == "__main__":
    main()
