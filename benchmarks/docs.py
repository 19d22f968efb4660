"""Technical documentation in L1: Python 3.11's HTML docs (Debian python3.11-doc) under the default rules
and under the code profiles (fenced code blocks masked for the prose rules, and a code-aware rule set).

    .venv/bin/python benchmarks/docs.py [--sample 12]

The package is fetched and checked like the bundled corpus (warehouse/corpus/corpus.toml pins it).
Each page is extracted as L1 does and decided by L1's length rules (l1_min_chars, l1_min_words) and
the Gopher, C4 and FineWeb rules, with and without the profiles; language ID and dedup are left out
(every page is English and distinct). Prints the kept shares, what each rule rejects, and a sample of
the pages the code-aware rule set still rejects with their reasons.
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

# the profiles README.md documents for documentation sources (var l1_source_rules): code masked, and
# the code-aware rule set, which also tolerates what API references repeat (signatures, parameter
# names, inline code with braces) in their prose
MASK_CODE = {"mask_code": True}
CODE_AWARE = {
    "mask_code": True,
    "gopher_quality": {"max_non_alpha_words_ratio": 0.6},
    "gopher_repetition": {"dup_n_grams": [[5, 0.3], [6, 0.28], [7, 0.26], [8, 0.24], [9, 0.22], [10, 0.2]]},
    "c4_quality": {"filter_curly_bracket": False},
    "fineweb_quality": {"char_duplicates_ratio": 0.1},
}


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
    from resiliparse.parse.html import HTMLTree

    from udfs.codeblocks import has_code
    from udfs.extract import extract_html, main_content
    from warehouse.config import load_settings
    from warehouse.corpus import fetch_package, load_manifest

    packages, _ = load_manifest()
    package = packages["python3.11-doc"]
    root = fetch_package(package, load_settings().cache_dir / "corpus") / "usr/share/doc/python3.11/html"
    pages = sorted(root.rglob("*.html"))
    dbt_vars = yaml.safe_load((ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; date: {datetime.now(UTC):%Y-%m-%d}; {package.uri}: {len(pages)} pages")

    runs = {"before (no fences), default rules": [], "fenced, default rules": [], "fenced, mask_code": []}
    runs["fenced, code-aware rule set"] = []
    with_code = 0
    for page in pages:
        markup = page.read_text(errors="replace")
        fenced = extract_html(markup).text
        with_code += has_code(fenced)
        runs["before (no fences), default rules"].append(_decide(main_content(HTMLTree.parse(markup)), {}, dbt_vars))
        runs["fenced, default rules"].append(_decide(fenced, {}, dbt_vars))
        runs["fenced, mask_code"].append(_decide(fenced, MASK_CODE, dbt_vars))
        runs["fenced, code-aware rule set"].append(_decide(fenced, CODE_AWARE, dbt_vars))
    print(f"pages with at least one fenced code block: {with_code} ({with_code / len(pages):.0%})")
    print("| extraction and rules | pages kept | kept share | top reasons (pages) |")
    print("|---|---|---|---|")
    for name, decisions in runs.items():
        kept = sum(not d for d in decisions)
        top = Counter(r for d in decisions for r in d).most_common(4)
        print(f"| {name} | {kept} | {kept / len(pages):.1%} | {', '.join(f'{r} {n}' for r, n in top)} |")
    print(f"\ncode-aware rule set: {json.dumps(CODE_AWARE)}\nStill rejected under it (sample):")
    rejected = [(p, d) for p, d in zip(pages, runs["fenced, code-aware rule set"], strict=True) if d]
    for page, reasons in rejected[:: max(1, len(rejected) // args.sample)][: args.sample]:
        print(f"- {page.relative_to(root)}: {', '.join(reasons)}")


if __name__ == "__main__":
    main()
