"""Technical documentation in L1: Python 3.11's HTML docs (Debian python3.11-doc) under the default rules
and under the code-aware profile (fenced code blocks masked for the prose rules).

    .venv/bin/python benchmarks/docs.py [--sample 12]

The package is fetched and checked like the bundled corpus (warehouse/corpus/corpus.toml pins it).
Each page is extracted as L1 does and decided by L1's length rules (l1_min_chars, l1_min_words) and
the Gopher, C4 and FineWeb rules, with and without the profile; language ID and dedup are left out
(every page is English and distinct). Prints the kept shares, what each rule rejects, and a sample of
the pages the profile still rejects with their reasons.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# the profile README.md documents for documentation sources (var l1_source_rules)
CODE_PROFILE = {"mask_code": True}


def _plain(markup: str) -> str:
    """Extraction before code fencing: Resiliparse's main content, as L1 extracted it until now."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    return extract_plain_text(HTMLTree.parse(markup), main_content=True, alt_texts=False, comments=False).strip()


def _decide(text: str, profile: dict, settings: dict) -> list[str]:
    """L1's reasons to reject ``text`` (empty: kept) under a rule profile."""
    from udfs.heuristics import flag_texts

    reasons = []
    if len(text) < settings["l1_min_chars"]:
        reasons.append("too_short")
    if len(text.split()) < settings["l1_min_words"]:
        reasons.append("too_few_words")
    return reasons + flag_texts([text], [json.dumps(profile)])[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=12, help="rejected pages to list (default 12)")
    args = parser.parse_args()
    import yaml

    from udfs.codeblocks import has_code
    from udfs.extract import extract_html
    from warehouse.config import load_settings
    from warehouse.corpus import fetch_package, load_manifest

    packages, _ = load_manifest()
    package = packages["python3.11-doc"]
    root = fetch_package(package, load_settings().cache_dir / "corpus") / "usr/share/doc/python3.11/html"
    pages = sorted(root.rglob("*.html"))
    dbt_vars = yaml.safe_load((ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; date: {datetime.now(UTC):%Y-%m-%d}; {package.uri}: {len(pages)} pages")

    runs = {"before (no fences, default rules)": [], "fenced, default rules": [], "fenced, code profile": []}
    with_code = 0
    for page in pages:
        markup = page.read_text(errors="replace")
        fenced = extract_html(markup).text
        with_code += has_code(fenced)
        runs["before (no fences, default rules)"].append(_decide(_plain(markup), {}, dbt_vars))
        runs["fenced, default rules"].append(_decide(fenced, {}, dbt_vars))
        runs["fenced, code profile"].append(_decide(fenced, CODE_PROFILE, dbt_vars))
    print(f"pages with at least one fenced code block: {with_code} ({with_code / len(pages):.0%})")
    print("| extraction and rules | pages kept | kept share | top reasons (pages) |")
    print("|---|---|---|---|")
    for name, decisions in runs.items():
        kept = sum(not d for d in decisions)
        top = Counter(r for d in decisions for r in d).most_common(4)
        print(f"| {name} | {kept} | {kept / len(pages):.1%} | {', '.join(f'{r} {n}' for r, n in top)} |")
    print("\nStill rejected under the code profile (sample):")
    rejected = [(p, d) for p, d in zip(pages, runs["fenced, code profile"], strict=True) if d]
    for page, reasons in rejected[:: max(1, len(rejected) // args.sample)][: args.sample]:
        print(f"- {page.relative_to(root)}: {', '.join(reasons)}")


if __name__ == "__main__":
    main()
