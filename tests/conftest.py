"""Shared fixtures: a fresh lake per test, and the real bundled corpus fetched once into the cache.

The suite runs on two pytest-xdist workers, a test module at a time (scripts/test.sh: --dist
loadfile, so module fixtures are made once). Each worker gets its own dbt target folder and its
share of the cores for llama.cpp.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from udfs.scorers.backends.llamacpp import packaged_model_path, threads
from warehouse.catalog import open_catalog
from warehouse.config import Settings, load_settings
from warehouse.corpus import PreparedSource, prepare
from warehouse.query import connect

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# LLM judging costs about a second a call on 2 cores: builds here make none unless a test asks
# (with --vars l2_max_llm_calls), so only the scoring tests pay for it
os.environ.setdefault("TIERHOUSE_MAX_LLM_CALLS", "0")
# the suite's many small `tierhouse build`s write no HTML report; tests/test_report.py writes its own
os.environ.setdefault("TIERHOUSE_REPORT", "0")

WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:
    # dbt writes its manifest and compiled SQL under the target folder: one per worker
    PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
    os.environ["DBT_TARGET_PATH"] = str(PROJECT / "target" / WORKER)
    os.environ["DBT_LOG_PATH"] = str(PROJECT / "logs" / WORKER)
    # the cores shared among the workers: llama.cpp's threads wait for each other by spinning
    share = (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ.setdefault("TIERHOUSE_LLM_THREADS", str(max(1, share)))


# Seconds each heavy module took on the 2-core CI machine (--durations). Workers take whole modules
# in collection order, so the heaviest go first: a long module started last would run on alone.
MODULE_SECONDS = {
    "test_ray_engine.py": 560, "test_corpus_lake.py": 340, "test_scorers.py": 330, "test_scores_build.py": 250,
    "test_refine_build.py": 230, "test_build.py": 210, "test_gates.py": 190, "test_shared_lake.py": 170,
    "test_bounded_memory.py": 170, "test_heuristics_parity.py": 140, "test_l1_build.py": 140, "test_maintain.py": 120,
    "test_build_lock.py": 110, "test_time_travel.py": 90, "test_evaluate.py": 90, "test_durability.py": 70,
    "test_report.py": 60, "test_export.py": 50,  # report: plus a minute where chromium is installed
}  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest modules first (with scripts/test.sh's --no-loadscope-reorder), keeping order within one."""
    items.sort(key=lambda item: -MODULE_SECONDS.get(item.path.name, 0))


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory):
    """``python -m llama_cpp.server`` with the packaged SmolLM2, for the whole session; its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("llm_server") / "server.log"
    model = packaged_model_path("smollm2-135m-instruct")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "smollm2-135m-instruct",
             "--port", str(port), "--n_ctx", "2048", "--n_threads", str(threads()), "--verbose", "False"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        process.kill()
        raise RuntimeError(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
    yield base
    process.kill()
    process.wait(timeout=30)


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of ``sql`` over the lake's latest snapshots."""
    return connect(settings).execute(sql, params or []).fetchall()


@pytest.fixture(scope="session")
def scale_servers():
    """PostgreSQL (the shared catalog) and moto (S3), started once per test run when a test asks."""
    from servers import servers

    with servers() as running:
        yield running
