"""One build at a time through a lease in the catalog: concurrent builds queue, a killed holder's
lease expires and the next build takes over, and --no-wait refuses at once naming the holder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import orjson
import pytest
from conftest import query

from warehouse.build import run_build
from warehouse.buildlock import BuildLock, BuildLockBusy, current_lease
from warehouse.builds import list_builds
from warehouse.catalog import commit_with_retry, open_catalog
from warehouse.ingest import ingest
from warehouse.tables import BUILDS, ensure_table, init_warehouse


def _lake(settings, corpus, tmp_path, n: int = 4):
    paths = sorted(corpus["sotu"].paths[0].glob("*.json"))[:n]
    docs = [json.loads(p.read_text())["text"] for p in paths]
    (tmp_path / "docs.jsonl").write_bytes(b"".join(orjson.dumps({"text": d[:3000]}) + b"\n" for d in docs))
    ingest([tmp_path / "docs.jsonl"], "sotu", settings=settings)
    init_warehouse(open_catalog(settings))


def _cli(settings, *args: str, lease: float = 60) -> subprocess.Popen:
    env = dict(os.environ, TIERHOUSE_HOME=str(settings.home), TIERHOUSE_BUILD_LEASE_S=str(lease))
    return subprocess.Popen([sys.executable, "-m", "warehouse.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


def test_three_builds_started_together_run_one_after_another(settings, corpus, tmp_path):
    _lake(settings, corpus, tmp_path)
    procs = [_cli(settings, "build") for _ in range(3)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[-3000:] for o in outputs]
    records = list_builds(open_catalog(settings))
    assert sorted(r["build_id"] for r in records) == [1, 2, 3]
    assert all(r["status"] == "success" for r in records)
    # each waited for the one before: their runs do not overlap, and the waiting ones said so
    spans = sorted((r["started_at"], r["ended_at"]) for r in records)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False)), spans
    assert sum("waiting for build" in out for out in outputs) >= 2
    # every build tagged every tier, and nothing was lost: L1 holds every L0 document
    tags = open_catalog(settings).load_table("tiers.l1_clean").metadata.refs
    assert {"build-1", "build-2", "build-3"} <= set(tags)
    l0 = query(settings, "SELECT count(*) FROM tiers.l0_raw")
    assert query(settings, "SELECT count(*) FROM tiers.l1_clean") == l0
    held = current_lease(ensure_table(open_catalog(settings), BUILDS))
    assert held is not None and held.released and held.build_id == 3


def test_a_killed_lock_holder_blocks_the_next_build_only_until_its_lease_expires(settings, corpus, tmp_path, capsys):
    _lake(settings, corpus, tmp_path, n=2)
    holder = textwrap.dedent(f"""
        from warehouse.buildlock import BuildLock
        from warehouse.catalog import commit_with_retry, open_catalog
        from warehouse.config import load_settings
        lock = BuildLock(open_catalog(load_settings({str(settings.home)!r})), lease_s=20).__enter__()
        print("held", lock.build_id, flush=True)
        import time; time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().split() == ["held", "1"]
    # while it runs (renewing its lease), a build that must not wait is refused, naming it
    time.sleep(2)
    with pytest.raises(BuildLockBusy, match=rf"build 1 \(.*:{proc.pid}\) is running"):
        run_build(settings, quiet=True, wait=False)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    expired = current_lease(ensure_table(open_catalog(settings), BUILDS)).expires_at
    started = time.monotonic()
    outcome = run_build(settings, quiet=True)
    waited = time.monotonic() - started
    assert outcome.success and outcome.record["build_id"] == 2  # build 1 stays the killed holder's id
    assert outcome.record["started_at"].timestamp() >= expired  # it ran only once the lease had run out ...
    assert waited < 50  # ... and the holder's 20 s lease, not the default 60 s, bounded the wait
    said = capsys.readouterr().out
    assert "stopped renewing its lease" in said and "build 2 takes over" in said


def test_a_second_lock_waits_for_the_first_and_gets_the_next_id(settings):
    catalog = open_catalog(settings)
    init_warehouse(catalog)
    first = BuildLock(catalog, lease_s=30).__enter__()
    with pytest.raises(BuildLockBusy, match="build 1"):
        BuildLock(open_catalog(settings), wait=False).acquire()
    said: list[str] = []
    threading.Timer(2.0, first.__exit__, (None, None, None)).start()
    started = time.monotonic()
    second = BuildLock(open_catalog(settings), poll_s=0.2, say=said.append).__enter__()
    assert time.monotonic() - started >= 1.5 and said and said[0].startswith("waiting for build 1")
    assert second.build_id == 2  # a released lease's id is never handed out again
    second.__exit__(None, None, None)


def test_a_failed_renewal_is_said_and_retried_not_fatal(settings, monkeypatch):
    catalog = open_catalog(settings)
    init_warehouse(catalog)
    said: list[str] = []
    lock = BuildLock(catalog, lease_s=1.5, say=said.append)
    real_renew, calls = lock.renew, []

    def flaky_renew() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("catalog unreachable")
        real_renew()

    monkeypatch.setattr(lock, "renew", flaky_renew)
    with lock:
        first = lock.lease
        time.sleep(2.0)  # four renewal rounds: the first fails, the rest extend the lease
        assert lock._renewer.is_alive()
        assert lock.lease.expires_at > first.expires_at
    assert len(calls) >= 2 and any("renewing the lease failed (OSError: catalog unreachable)" in s for s in said)


def test_a_build_record_beaten_by_a_lease_renewal_is_committed_again(settings):
    """The lease lives on a branch of ops.builds: a renewal that lands while a build records itself
    makes pyiceberg refuse that record (its sequence number is taken), and the commit is retried."""
    catalog = open_catalog(settings)
    init_warehouse(catalog)
    with BuildLock(catalog) as lock:
        stale = ensure_table(catalog, BUILDS)  # loaded before the renewal, as a build's record is
        lock.renew()
        empty = stale.schema().as_arrow().empty_table()
        with pytest.raises(ValueError, match="sequence number"):
            stale.append(empty)
        tables = iter([stale])
        commit_with_retry(lambda: (next(tables, None) or ensure_table(catalog, BUILDS)).append(empty))
        assert next(tables, None) is None  # the stale table was tried first, and lost
    assert current_lease(ensure_table(catalog, BUILDS)).released
