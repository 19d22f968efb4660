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


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of ``sql`` over the lake's latest snapshots."""
    return connect(settings).execute(sql, params or []).fetchall()
