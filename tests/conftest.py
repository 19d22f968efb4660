"""Shared fixtures: a fresh lake per test, and the real bundled corpus fetched once into the cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from warehouse.catalog import open_catalog
from warehouse.config import Settings, load_settings
from warehouse.corpus import PreparedSource, prepare
from warehouse.query import connect

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for an empty embedded lake under the test's own temporary folder."""
    monkeypatch.setenv("TIERHOUSE_HOME", str(tmp_path / "lake"))
    return load_settings()


@pytest.fixture
def catalog(settings: Settings):
    return open_catalog(settings)


@pytest.fixture(scope="session")
def corpus() -> dict[str, PreparedSource]:
    """The real corpus (Debian handbook, SOTU, SpamAssassin, fortunes), fetched once and cached."""
    return {p.source.name: p for p in prepare(load_settings().cache_dir)}


@pytest.fixture(scope="session")
def handbook_root(corpus: dict[str, PreparedSource]) -> Path:
    return corpus["debian_handbook"].paths[0]


@pytest.fixture(scope="session")
def sotu_root(corpus: dict[str, PreparedSource]) -> Path:
    return corpus["sotu"].paths[0]


@pytest.fixture(scope="session")
def corpus_lake(corpus: dict[str, PreparedSource], tmp_path_factory: pytest.TempPathFactory):
    """The whole bundled corpus ingested and built once (about a minute), shared by the tests that read it.

    Returns (settings, outcome of the first build). Tests that build again must query past states
    with ``FOR VERSION AS OF 'build-1'`` rather than assume the lake is as the first build left it.
    """
    from warehouse.build import run_build
    from warehouse.ingest import ingest

    settings = load_settings(tmp_path_factory.mktemp("corpus") / "lake")
    for name, item in corpus.items():
        s = item.source
        ingest(
            list(item.paths), name, settings=settings, fmt=s.format, id_field=s.id_field,
            pattern=s.pattern, uri_prefix=item.uri_prefix,
        )  # fmt: skip
    return settings, run_build(settings, quiet=True)


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of ``sql`` over the lake's latest snapshots."""
    return connect(settings).execute(sql, params or []).fetchall()
