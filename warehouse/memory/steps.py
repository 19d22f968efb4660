"""Build steps: out-of-memory errors that say which step ran out and how much it asked for (or that the
process passed its RSS ceiling), and the process's peak RSS after each step, which says the step that raised it."""

from __future__ import annotations

import re
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from warehouse.memory.ceiling import SETTING as CEILING_SETTING
from warehouse.memory.ceiling import RssCeilingExceeded
from warehouse.memory.limits import spill_directory

# "failed to pin block of size 256.0 KiB (95.6 MiB/95.3 MiB used)", "failed to allocate data of size 16.0 MiB (...)"
_DUCKDB_NEED = re.compile(r"of size ([\d.]+ \w+) \(([\d.]+ \w+)/([\d.]+ \w+) used\)")
# an operator's MemoryError (the ceiling's included) as DuckDB passes it on: "... executing the UDF: <class>: <what>"
_OPERATOR_MEMORY_ERROR = re.compile(rf"\b({RssCeilingExceeded.__name__}|MemoryError): (.+)")


#: per table, each step it ran: its name, when it ended and the process's peak RSS in MB then; the build
#: plugin takes a table's entry when it records the model (``ModelResult.steps``)
FINISHED_STEPS: dict[str, list[dict[str, str | int]]] = {}


def peak_rss_mb() -> int:
    """This process's resident high-water mark in MB of 10^6 bytes (``ru_maxrss``, in KiB: the kernel's
    VmHWM on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 // 1_000_000


class StepOutOfMemory(RuntimeError):
    """A build step needed more memory than it may use; the message names the table and the step."""

    def __init__(self, table: str, step: str, memory_limit: str, cause: BaseException) -> None:
        self.table, self.step = table, step
        said = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        found = _DUCKDB_NEED.search(said)
        ceiling = _ceiling_reason(cause)
        if ceiling:
            advice = (
                f"{ceiling}, and stopped before the kernel's OOM killer would end it; raise {CEILING_SETTING} where "
                f"the machine has room, or lower TIERHOUSE_MEMORY_LIMIT ({memory_limit}) to leave Python more of it"
            )
        elif isinstance(cause, duckdb.OutOfMemoryException):
            need = (
                f"it asked for {found.group(1)} more with {found.group(2)} of {found.group(3)} in use"
                if found
                else "it needed more than that"
            )
            advice = (
                f"DuckDB may use {memory_limit} (TIERHOUSE_MEMORY_LIMIT) and {need}; raise TIERHOUSE_MEMORY_LIMIT, "
                f"or free disk under {spill_directory().parent} for spilling"
            )
        else:
            advice = "Python could not allocate memory (pyarrow or pandas, outside DuckDB's limit)"
        detail = "" if ceiling else f" ({said})"  # the ceiling's own words are the whole of it
        super().__init__(f"{table}: step '{step}' ran out of memory: {advice}.{detail}")


def _ceiling_reason(cause: BaseException) -> str | None:
    """What the RSS ceiling said when it stopped the step: raised in this thread, or in an operator DuckDB ran."""
    if isinstance(cause, RssCeilingExceeded):
        return str(cause)
    found = _OPERATOR_MEMORY_ERROR.search(str(cause))
    return found.group(2).strip() if found and found.group(1) == RssCeilingExceeded.__name__ else None


@contextmanager
def step(table: str, name: str, memory_limit: str) -> Iterator[None]:
    """Run a build step and note the peak RSS after it in ``FINISHED_STEPS``; out of memory or past the
    RSS ceiling (``warehouse.memory.ceiling``), raise :class:`StepOutOfMemory` naming it (the innermost step wins)."""
    try:
        yield
    except StepOutOfMemory:
        raise
    except (duckdb.OutOfMemoryException, MemoryError, pa.ArrowMemoryError) as exc:
        raise StepOutOfMemory(table, name, memory_limit, exc) from exc
    except duckdb.Error as exc:  # an operator's MemoryError or RssCeilingExceeded, as DuckDB passes it on
        if not _OPERATOR_MEMORY_ERROR.search(str(exc)):
            raise
        raise StepOutOfMemory(table, name, memory_limit, exc) from exc
    finally:
        ended = datetime.now(UTC).isoformat(timespec="milliseconds")
        FINISHED_STEPS.setdefault(table, []).append({"step": name, "ended_at": ended, "peak_rss_mb": peak_rss_mb()})
