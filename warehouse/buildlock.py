"""One build at a time, across processes and machines: a lease held in the catalog itself.

Every build shares the ``audit`` branch, and publishing moves ``main`` unconditionally, so builds
must not overlap. The lock is the ``build-lock`` branch of ``ops.builds``: taking, renewing or
releasing it commits an empty snapshot to that branch whose summary holds the lease (build id,
holder, expiry). An Iceberg commit to a branch asserts the branch head it started from, so of two
builds that try at once exactly one wins, in any catalog (SQLite, PostgreSQL/JDBC, REST). A lease
that is not renewed expires: a build killed while holding it blocks the next one only until then,
and the next one says that it took over.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from warehouse.builds import next_build_id
from warehouse.catalog import lost_race
from warehouse.tables import BUILDS, ensure_table

BRANCH = "build-lock"
LEASE_PROPERTY = "tierhouse.lease"
DEFAULT_LEASE_S = 60.0


class BuildLockBusy(RuntimeError):
    """Another build holds the lock (raised instead of waiting when asked not to wait)."""


@dataclass(frozen=True)
class Lease:
    """Who holds the lock, for which build, until when (epoch seconds); ``released`` ends it early."""

    build_id: int
    holder: str
    expires_at: float
    released: bool = False
    purpose: str = "build"  # or "maintain", which takes no build id of its own

    def active(self, now: float) -> bool:
        return not self.released and now < self.expires_at

    @property
    def name(self) -> str:
        return f"build {self.build_id}" if self.purpose == "build" else self.purpose

    def describe(self) -> str:
        return f"{self.name} ({self.holder})"


def build_waits() -> bool:
    """Whether a build waits for the lock (default) or fails at once: ``TIERHOUSE_BUILD_WAIT=0``."""
    return os.environ.get("TIERHOUSE_BUILD_WAIT", "1") != "0"


def lease_seconds() -> float:
    """How long a lease lasts unless renewed: ``TIERHOUSE_BUILD_LEASE_S`` (default 60)."""
    return float(os.environ.get("TIERHOUSE_BUILD_LEASE_S") or DEFAULT_LEASE_S)


def holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def current_lease(table: Table) -> Lease | None:
    """The lease at the head of the lock branch, if the branch exists."""
    ref = table.metadata.refs.get(BRANCH)
    if ref is None:
        return None
    raw = table.snapshot_by_id(ref.snapshot_id).summary.additional_properties.get(LEASE_PROPERTY)
    return Lease(**json.loads(raw)) if raw else None


def _commit_lease(table: Table, lease: Lease) -> bool:
    """An empty snapshot on the lock branch carrying ``lease``: True when it landed, False when another
    writer committed to the table first (the caller reloads and decides again)."""
    try:
        if table.metadata.current_snapshot_id is None:  # a branch needs a snapshot to start from
            table.append(table.schema().as_arrow().empty_table(), snapshot_properties={"tierhouse.root": "true"})
        if BRANCH not in table.metadata.refs:
            table.manage_snapshots().create_branch(table.metadata.current_snapshot_id, BRANCH).commit()
        empty = table.schema().as_arrow().empty_table()
        table.append(empty, snapshot_properties={LEASE_PROPERTY: json.dumps(asdict(lease))}, branch=BRANCH)
    except Exception as error:
        if not lost_race(error):
            raise
        return False
    return True


class BuildLock:
    """``with BuildLock(catalog) as lock: lock.build_id``: waits its turn, holds a renewed lease."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        wait: bool = True,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = 1.0,
        say: Callable[[str], None] = print,
        purpose: str = "build",
    ) -> None:
        self.catalog, self.wait, self.lease_s, self.poll_s, self.say = catalog, wait, lease_s, poll_s, say
        self.purpose = purpose
        self.me = holder()
        self.lease: Lease | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def build_id(self) -> int:
        assert self.lease is not None, "the lock is not held"
        return self.lease.build_id

    def acquire(self) -> Lease:
        """Take the lock (waiting for the holder, or taking over an expired lease); allocates the build id."""
        announced = None
        while True:
            table = ensure_table(self.catalog, BUILDS)
            held = current_lease(table)
            now = time.time()
            if held is not None and held.active(now):
                if not self.wait:
                    raise BuildLockBusy(f"{held.describe()} is running (lease until {time.ctime(held.expires_at)})")
                if announced != held:
                    self.say(f"waiting for {held.describe()} to finish (its lease runs until "
                             f"{time.ctime(held.expires_at)} unless renewed)")  # fmt: skip
                    announced = held
                time.sleep(self.poll_s)
                continue
            last = max(next_build_id(self.catalog) - 1, held.build_id if held else 0)
            build_id = last + 1 if self.purpose == "build" else last  # only builds take an id
            lease = Lease(build_id, self.me, now + self.lease_s, purpose=self.purpose)
            if not _commit_lease(table, lease):
                time.sleep(self.poll_s * 0.5)  # another build won this round
                continue
            if held is not None and not held.released:
                self.say(f"{held.describe()} stopped renewing its lease (expired {time.ctime(held.expires_at)}); "
                         f"{lease.name} takes over")  # fmt: skip
            self.lease = lease
            return lease

    def _renew_forever(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.renew()
            except Exception as error:  # noqa: BLE001 - a dead renewer would let another build take over
                self.say(f"{self.lease.describe()}: renewing the lease failed ({type(error).__name__}: "
                         f"{str(error)[:200]}); retrying in {self.lease_s / 3:.0f} s")  # fmt: skip

    def renew(self) -> None:
        """Extend the lease, if it is still ours."""
        table = ensure_table(self.catalog, BUILDS)
        if current_lease(table) != self.lease:
            self.say(f"{self.lease.describe()}: the build lock was taken over; it is no longer held")
            self._stop.set()
            return
        renewed = Lease(self.build_id, self.me, time.time() + self.lease_s, purpose=self.purpose)
        if _commit_lease(table, renewed):  # else the next round retries; the lease has two thirds to run
            self.lease = renewed

    def release(self) -> None:
        """End the lease now, so the next build need not wait for it to expire."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        for _ in range(10):
            table = ensure_table(self.catalog, BUILDS)
            if current_lease(table) != self.lease:
                return
            if _commit_lease(table, Lease(self.build_id, self.me, time.time(), True, self.purpose)):
                return
            time.sleep(self.poll_s * 0.2)

    def __enter__(self) -> BuildLock:
        self.acquire()
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_forever, name="build-lease", daemon=True)
        self._renewer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
