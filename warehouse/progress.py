"""Progress bars for long work, on stderr so they never mix with a command's data output."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


@contextmanager
def progress_bar(
    description: str, total: int | None, *, unit: str = "bytes", enabled: bool | None = None
) -> Iterator[Callable[[int], None]]:
    """Yield an ``advance(n)`` callable; shown only on a terminal unless ``enabled`` says otherwise."""
    console = Console(file=sys.stderr)
    show = console.is_terminal if enabled is None else enabled
    counter = [DownloadColumn(), TransferSpeedColumn()] if unit == "bytes" else [MofNCompleteColumn()]
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        *counter,
        TimeRemainingColumn(),
        console=console,
        disable=not show,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
