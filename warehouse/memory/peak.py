"""Run a command and read its own peak RSS: what a build costs in memory, as the kernel counts it."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Measured:
    """A finished command: exit code, output, wall seconds and peak resident set size in bytes."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss: int


def run_measured(command: Sequence[str], env: Mapping[str, str] | None = None) -> Measured:
    """Run ``command`` to its end; its peak RSS is ``wait4``'s ``ru_maxrss`` for that process alone
    (the VmHWM it died with), not that of this process or of other children."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            command, env=dict(env) if env is not None else None, stdout=out, stderr=err, text=True
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return Measured(process.returncode, out.read(), err.read(), seconds, usage.ru_maxrss * 1024)
