"""A ceiling on a build process's resident memory, checked where the memory DuckDB does not govern grows.

DuckDB's ``memory_limit`` bounds DuckDB alone. The Python operators, pyarrow's chunks and the gate's
frames sit beside it, and past what the machine holds the kernel's OOM killer ends the process without
a word. So each operator batch and each streamed chunk first reads the process's RSS (:func:`check`):
past ``TIERHOUSE_RSS_CEILING`` it raises :class:`RssCeilingExceeded`, and the build step running fails
with its name and the figures (``warehouse.memory.steps``) while the process can still say so.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from warehouse.memory.limits import physical_memory

#: the default ceiling's share of the memory this process may use: the rest is the margin the kernel needs
DEFAULT_SHARE = 0.9
SETTING = "TIERHOUSE_RSS_CEILING"

# DuckDB's size syntax (its single letters are decimal too), and bare numbers as bytes
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9}
_UNITS |= {"t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_MEMBERSHIP = Path("/proc/self/cgroup")


class RssCeilingExceeded(MemoryError):
    """The process holds more memory than its ceiling allows."""

    def __init__(self, resident: int, ceiling: int) -> None:
        self.resident, self.ceiling = resident, ceiling
        held, allowed = f"{resident / 1e6:,.0f} MB", f"{ceiling / 1e6:,.0f} MB"
        super().__init__(f"the process held {held}, over its ceiling of {allowed} ({SETTING})")


def parse_size(text: str) -> int:
    """Bytes in ``text``: a positive number with an optional unit (``4GB``, ``3500MB``, ``2GiB``, ``4G``)."""
    found = _SIZE.fullmatch(text)
    unit = _UNITS.get(found.group(2).lower()) if found else None
    size = int(float(found.group(1)) * unit) if unit else 0
    if size <= 0:
        raise ValueError(f"config: {SETTING}={text!r} is not a positive size (e.g. 4GB, 3500MB, 2GiB)")
    return size


def cgroup_limit(root: Path = _CGROUP_ROOT, membership: Path = _MEMBERSHIP) -> int | None:
    """The lowest memory limit on this process's cgroup and its ancestors (v2's ``memory.max``, v1's
    ``memory.limit_in_bytes``), or None where none is set: the kernel's OOM killer enforces it below RAM."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            base, name = root, "memory.max"
        elif "memory" in controllers.split(","):
            base, name = root / "memory", "memory.limit_in_bytes"
        else:
            continue
        limits += filter(None, (_limit(group / name) for group in _up_to(base / path.strip("/"), base)))
    return min(limits, default=None)


def _up_to(folder: Path, base: Path) -> list[Path]:
    """``folder`` and each parent of it down to ``base``, which is included."""
    return [folder, *folder.parents[: len(folder.relative_to(base).parts)]]


def _limit(path: Path) -> int | None:
    try:
        raw = path.read_text().strip()
    except OSError:
        return None
    return int(raw) if raw.isdigit() else None  # v2 says "max" for no limit


@cache
def memory_allowed() -> int:
    """Bytes this process may hold: the machine's RAM, or its cgroup's limit where that is lower."""
    limit = cgroup_limit()
    return min(physical_memory(), limit) if limit else physical_memory()


def rss_ceiling() -> int:
    """``TIERHOUSE_RSS_CEILING`` in bytes, else 90% of :func:`memory_allowed`."""
    raw = os.environ.get(SETTING)
    return parse_size(raw) if raw else int(DEFAULT_SHARE * memory_allowed())


def resident_bytes() -> int | None:
    """This process's resident memory that is not file-backed or shared (Linux's ``/proc/self/statm``):
    what the kernel cannot reclaim by dropping pages, unlike a model file mapped in. None off Linux."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            _, resident, shared, *_ = statm.read().split()
    except OSError:
        return None
    return (int(resident) - int(shared)) * os.sysconf("SC_PAGE_SIZE")


def check(ceiling: int | None = None) -> None:
    """Raise :class:`RssCeilingExceeded` when the process holds more than ``ceiling`` (default :func:`rss_ceiling`)."""
    resident, ceiling = resident_bytes(), ceiling or rss_ceiling()
    if resident is not None and resident > ceiling:
        raise RssCeilingExceeded(resident, ceiling)
