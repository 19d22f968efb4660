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

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)
# cgroup v2, then v1: a container's limit, which the OOM killer enforces below the machine's RAM
_CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


class RssCeilingExceeded(MemoryError):
    """The process holds more resident memory than its ceiling allows."""

    def __init__(self, resident: int, ceiling: int) -> None:
        self.resident, self.ceiling = resident, ceiling
        held, allowed = f"{resident / 1e6:,.0f} MB", f"{ceiling / 1e6:,.0f} MB"
        super().__init__(f"the process held {held}, over its ceiling of {allowed} ({SETTING})")


def parse_size(text: str, setting: str = SETTING) -> int:
    """Bytes in ``text``: a number with an optional unit (``4GB``, ``3500MB``, ``2GiB``; bare numbers are bytes)."""
    found = _SIZE.fullmatch(text)
    if not found or found.group(2).lower() not in _UNITS:
        raise ValueError(f"config: {setting}={text!r} is not a size (e.g. 4GB, 3500MB, 2GiB)")
    return int(float(found.group(1)) * _UNITS[found.group(2).lower()])


def cgroup_limit(paths: tuple[Path, ...] = _CGROUP_LIMITS) -> int | None:
    """The memory limit of this process's cgroup (v2's file first, then v1's), or None where it sets none."""
    for path in paths:
        try:
            raw = path.read_text().strip()
        except OSError:
            continue
        return int(raw) if raw.isdigit() else None  # v2 says "max" for no limit
    return None


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
    """This process's resident set now (Linux's ``/proc/self/statm``); None where the system has no such file."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def check() -> None:
    """Raise :class:`RssCeilingExceeded` when the process holds more than :func:`rss_ceiling`."""
    resident, ceiling = resident_bytes(), rss_ceiling()
    if resident is not None and resident > ceiling:
        raise RssCeilingExceeded(resident, ceiling)
