"""Operator versions in the fingerprint: bumping one operator recomputes the rows it measured with an
older version, and only those; --full-refresh recomputes every measurement."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import orjson
import pytest
from conftest import query

import udfs.extract
from udfs import registry
from warehouse.build import run_build
from warehouse.ingest import ingest


@pytest.fixture
def calls(monkeypatch) -> Counter:
    """Texts the extractor and the quality rules are called on, counted through the real operators."""
    seen: Counter = Counter()
    extract = udfs.extract.extract
    flags = next(u for u in registry.UDFS if u.name == "th_quality_flags").fn

    def counted_extract(content, content_type):
        seen["th_extract"] += 1
        return extract(content, content_type)

    def counted_flags(texts, rules):
        seen["th_quality_flags"] += len(texts)
        return flags(texts, rules)

    monkeypatch.setattr(udfs.extract, "extract", counted_extract)
    monkeypatch.setattr(registry, "UDFS", tuple(
        dataclasses.replace(u, fn=counted_flags) if u.name == "th_quality_flags" else u for u in registry.UDFS
    ))  # fmt: skip
    return seen


def bump(monkeypatch, name: str, version: str) -> None:
    monkeypatch.setattr(
        registry, "UDFS", tuple(dataclasses.replace(u, version=version) if u.name == name else u for u in registry.UDFS)
    )


def test_a_bumped_operator_recomputes_only_its_measurements(settings, corpus, tmp_path, calls, monkeypatch):
    speeches = sorted(corpus["sotu"].paths[0].glob("*.json"))[:5]
    texts = [json.loads(p.read_text())["text"][:4000] for p in speeches]
    (tmp_path / "docs.jsonl").write_bytes(b"".join(orjson.dumps({"text": t}) + b"\n" for t in texts))
    ingest([tmp_path / "docs.jsonl"], "sotu", settings=settings)
    pages = corpus["debian_handbook"]
    ingest(pages.paths, "debian_handbook", settings=settings, pattern="en-US/a*.html", uri_prefix=pages.uri_prefix)
    docs = query(settings, "SELECT count(*) FROM tiers.l0_raw")[0][0]

    def build(full_refresh: bool = False) -> dict[str, int]:
        calls.clear()
        outcome = run_build(settings, quiet=True, full_refresh=full_refresh)
        assert outcome.success, outcome.record
        return dict(calls)

    first = build()
    english = query(settings, "SELECT count(*) FROM tiers.l1_clean WHERE language = 'en'")[0][0]
    assert first == {"th_extract": docs, "th_quality_flags": english} and english > 0
    bump(monkeypatch, "th_quality_flags", "2")
    assert build() == {"th_quality_flags": english}  # only the rules run again
    assert query(settings, "SELECT DISTINCT regexp_extract(quality_rules, '@(.*)$', 1) FROM tiers.l1_clean") == [("2",)]
    bump(monkeypatch, "th_extract", "resiliparse-next")
    assert build()["th_extract"] == docs  # every row was extracted by the older version
    assert query(settings, "SELECT DISTINCT extractor FROM tiers.l1_clean") == [("resiliparse-next+lid176-1",)]
    assert build(full_refresh=True) == {"th_extract": docs, "th_quality_flags": english}
