"""Labelled news pages to score HTML extraction against: real pages with their article's reference text.

No public article-extraction benchmark ships in a package registry (the Zyte/Scrapinghub benchmark
is published only as a repository; trafilatura's source distribution leaves out its evaluation
pages). newspaper4k's source distribution does ship real news pages in 9 languages, each with
the reference text of its article, which is what extraction is scored against here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from udfs.boilerplate import TOKEN
from warehouse.corpus import fetch_package, load_manifest

PACKAGE = "newspaper4k"
_DATA = "newspaper4k-{version}/tests/data"


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


def overlap(output: str, reference: str) -> Overlap:
    """How much of ``output`` is reference text (precision) and of the reference is in it (recall)."""
    got, want = Counter(TOKEN.findall(output.lower())), Counter(TOKEN.findall(reference.lower()))
    common = sum((got & want).values())
    return Overlap(common / max(1, sum(got.values())), common / max(1, sum(want.values())))
