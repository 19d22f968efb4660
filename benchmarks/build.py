"""Build cost: a full `tierhouse build` of the bundled corpus, an incremental one after +1% documents,
and a rebuild with nothing changed; each with its wall time and peak RSS.

    .venv/bin/python benchmarks/build.py [--scale 10] [--sources spamassassin,sotu] [--l1-only]

Every `tierhouse build` runs in its own process (as a user runs it), so each figure includes
start-up: the dbt parse, DuckDB and catalog set-up, and the Great Expectations import. Peak RSS is
the build process's own high-water mark (``wait4``'s ``ru_maxrss``). L1 alone is also built first,
on a copy of the ingested lake (``build --select l1_clean``), for its own peak. The held-out 1% is
every 100th document of every source, so the increment touches every tier. Copies beyond the first
(``--scale``) shuffle each line's words (warehouse/corpus/copies.py), so they are not near-duplicates
and every tier grows with the scale.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import re
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def split_corpus(
    work: Path, scale: int, held_every: int = 100, sources: set[str] | None = None
) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """Each source's documents less every ``held_every``-th, and those held out, ``scale`` times over
    (copies made distinct), as files; only ``sources`` when given."""
    from warehouse.config import load_settings
    from warehouse.corpus import prepare
    from warehouse.corpus.copies import distinct_copy, distinct_html_copy

    main: dict[str, list[Path]] = {}
    held: dict[str, list[Path]] = {}
    for item in prepare(load_settings().cache_dir):
        name = item.source.name
        if sources and name not in sources:
            continue
        if item.source.format == "html":
            pages = sorted(
                item.paths[0].glob(item.source.pattern if "/" in item.source.pattern else f"**/{item.source.pattern}")
            )
            for copy in range(scale):
                for i, page in enumerate(pages):
                    out = (
                        work
                        / "html"
                        / ("held" if i % held_every == 0 else "main")
                        / str(copy)
                        / page.relative_to(item.paths[0])
                    )
                    out.parent.mkdir(parents=True, exist_ok=True)
                    markup = page.read_bytes().decode("utf-8", errors="surrogateescape")
                    out.write_bytes(distinct_html_copy(markup, copy).encode("utf-8", errors="surrogateescape"))
            main[name], held[name] = [work / "html" / "main"], [work / "html" / "held"]
            continue
        if item.source.builder:
            with gzip.open(item.paths[0]) as fh:
                records = [orjson.loads(line) for line in fh]
        else:
            files = sorted(item.paths[0].glob(item.source.pattern))
            records = [orjson.loads(f.read_bytes()) for f in files]
        parts = {"main": [], "held": []}
        for copy in range(scale):
            for i, record in enumerate(records):
                variant = dict(record, text=distinct_copy(record["text"], copy))
                if "id" in variant:
                    variant["id"] = f"{variant['id']}-{copy}"
                parts["held" if i % held_every == 0 else "main"].append(orjson.dumps(variant) + b"\n")
        for part, lines in parts.items():
            (work / f"{name}-{part}.jsonl").write_bytes(b"".join(lines))
        main[name], held[name] = [work / f"{name}-main.jsonl"], [work / f"{name}-held.jsonl"]
    return main, held


def ingest_all(parts: dict[str, list[Path]], settings) -> int:
    from warehouse.corpus import load_manifest
    from warehouse.ingest import ingest

    _, sources = load_manifest()
    total = 0
    for name, files in parts.items():
        s = sources[name]
        fmt = "html" if s.format == "html" else "jsonl"
        total += ingest(files, name, settings=settings, fmt=fmt, id_field=s.id_field, show_progress=False).ingested
    return total


def timed_build(home: Path, *options: str) -> tuple[float, str, int, str]:
    """`tierhouse build [options]` in its own process: wall seconds, its output, its peak RSS in bytes
    and the steps that raised it (``peak_steps``); exits if it fails."""
    from warehouse.memory.peak import run_measured

    env = dict(os.environ, TIERHOUSE_HOME=str(home))
    done = run_measured([sys.executable, "-m", "warehouse.cli", "build", *options], env)
    if done.returncode != 0:
        raise SystemExit(f"build failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    return done.seconds, done.stdout, done.peak_rss, peak_steps(home, done.peak_rss // 1_000_000)


_MODEL_TIME = re.compile(r"iceberg model tiers\.(\w+) \.+ \[\S*OK\S* in ([\d.]+)s\]")


def model_seconds(dbt_output: str) -> str:
    """Per-model seconds as dbt reports them, e.g. ``l1 0.9, l2 1.5``."""
    found = _MODEL_TIME.findall(dbt_output)
    return ", ".join(f"{name.split('_')[0]} {float(sec):.1f}" for name, sec in found)


def peak_steps(home: Path, peak_mb: int, top: int = 4) -> str:
    """The steps of the lake's last build that raised its peak RSS most (``ModelResult.steps``, taken in
    the order they ended): each step's peak less the one before it, largest first. The first step's rise
    from start-up is not measured, and what came after the last step (dbt's tests, the report) is
    ``peak_mb``, the process's, less it."""
    from warehouse.builds import list_builds
    from warehouse.catalog import open_catalog
    from warehouse.config import load_settings

    models = list_builds(open_catalog(load_settings(home)))[0]["models"]
    ordered = sorted(
        (s["ended_at"], i, f"{model.split('_')[0]} {s['step'].split(' (')[0]}", s["peak_rss_mb"])
        for model, result in models.items()
        if isinstance(result, dict)
        for i, s in enumerate(result.get("steps") or [])
    )
    if not ordered:
        return ""
    names, peaks = [name for *_, name, _ in ordered], [mb for *_, mb in ordered]
    rises = sorted(zip((b - a for a, b in zip(peaks, peaks[1:], strict=False)), names[1:], strict=False), reverse=True)
    named = ", ".join(f"{name} +{rise:,}" for rise, name in rises[:top] if rise > 0)
    after = f"; after the last step +{peak_mb - peaks[-1]:,}" if peak_mb > peaks[-1] else ""
    return f"{names[0]} ended at {peaks[0]:,}; then {named or 'no step raised it'}{after}"


def l0_text_bytes(home: Path) -> int:
    """UTF-8 bytes of every document L0 holds."""
    from warehouse.config import load_settings
    from warehouse.query import connect

    lake = connect(load_settings(home))
    try:
        return lake.sql("SELECT sum(strlen(content)) FROM tiers.l0_raw").fetchone()[0]
    finally:
        lake.close()


def tier_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in (home / "warehouse" / "tiers").rglob("*.parquet") if "l0_raw" not in str(p))


def header(
    scale: int, sources: set[str] | None, memory_limit: str, docs: int, text_mb: float, added: int | None
) -> None:
    """Machine, date, memory limit and the corpus measured."""
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; date: {datetime.now(UTC):%Y-%m-%d}; memory limit: {memory_limit}")
    increment = "" if added is None else f", then +{added:,} (every 100th document of every source)"
    print(
        f"corpus x{scale} ({', '.join(sorted(sources)) if sources else 'every source'}): {docs:,} documents, "
        f"{text_mb:.0f} MB of text in L0{increment}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=1, help="copies of the corpus (each copy's texts made distinct)")
    parser.add_argument("--sources", help="comma-separated sources to use (default: every bundled source)")
    parser.add_argument("--l1-only", action="store_true", help="build L1 alone (its peak RSS), skip the full builds")
    parser.add_argument("--skip-l1-alone", action="store_true", help="skip the separate L1-only build (saves its time)")
    args = parser.parse_args()
    if args.l1_only and args.skip_l1_alone:
        parser.error("--l1-only and --skip-l1-alone exclude each other")
    from warehouse.config import load_settings

    sources = set(args.sources.split(",")) if args.sources else None
    with tempfile.TemporaryDirectory(prefix="tierhouse-build-bench-") as tmp:
        work = Path(tmp)
        home = work / "lake"
        os.environ["TIERHOUSE_HOME"] = str(home)
        settings = load_settings()
        main_part, held_part = split_corpus(work, args.scale, sources=sources)
        docs = ingest_all(main_part, settings)
        text_mb = l0_text_bytes(home) / 1e6
        l1 = None
        if not args.skip_l1_alone:
            shutil.copytree(home, work / "l1-lake")
            l1 = timed_build(work / "l1-lake", "--select", "l1_clean")
        if args.l1_only:
            header(args.scale, sources, settings.memory_limit, docs, text_mb, None)
            seconds, output, peak, steps = l1
            print(f"L1 only: {seconds:.1f} s ({model_seconds(output)}), {docs / seconds:.1f} docs/s, ", end="")
            print(f"peak RSS {peak / 1e6:,.0f} MB; peak after each step, MB: {steps}")
            return
        full = timed_build(home)
        size_full = tier_bytes(home)
        added = ingest_all(held_part, settings)
        incremental = timed_build(home)
        size_incremental = tier_bytes(home)
        rebuild = timed_build(home)
        size_rebuild = tier_bytes(home)
    header(args.scale, sources, settings.memory_limit, docs, text_mb, added)
    print("| build | wall s | vs full | peak RSS MB | model seconds (dbt) | tier data files MB (L1-L4) |")
    print("|---|---|---|---|---|---|")
    rows = [
        *([("L1 only (`--select l1_clean`)", l1, None)] if l1 else []),
        ("full", full, size_full),
        ("incremental, +1% documents", incremental, size_incremental),
        ("rebuild, nothing changed", rebuild, size_rebuild),
    ]
    for name, (seconds, output, peak, _), size in rows:
        files = "" if size is None else f"{size / 1e6:.1f}"
        print(
            f"| {name} | {seconds:.1f} | {seconds / full[0]:.2f} | {peak / 1e6:,.0f} | {model_seconds(output)} "
            f"| {files} |"
        )
    print("\nThe steps that raised each build's peak RSS (MB; the peak after each step, memory/steps.py):")
    for name, (*_, steps), _ in rows:
        print(f"- {name}: {steps}")


if __name__ == "__main__":
    main()
