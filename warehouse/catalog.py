"""Open the Iceberg catalog and commit to it safely under concurrency."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import CommitFailedException
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from tenacity import retry, retry_if_exception, stop_after_delay, wait_random_exponential

from warehouse.config import Settings

T = TypeVar("T")

#: Errors that mean "someone else committed first" or "the catalog was busy": safe to retry.
RETRYABLE = (CommitFailedException, OperationalError, sqlite3.OperationalError)


def lost_race(error: BaseException) -> bool:
    """Whether ``error`` means another writer committed first, so the commit is safe to try again.

    Besides ``RETRYABLE``: pyiceberg checks only the committed branch's head, so when another thread
    committed to a different branch of the same table meanwhile (the build lock's lease branch of
    ops.builds), the commit fails as a ValueError about its snapshot's sequence number."""
    return isinstance(error, RETRYABLE) or (
        isinstance(error, ValueError) and str(error).startswith("Cannot add snapshot with sequence number")
    )


def catalog_properties(name: str) -> dict[str, str]:
    """What pyiceberg's configuration (``~/.pyiceberg.yaml``, ``PYICEBERG_CATALOG__*``) says of ``name`` now.

    Read afresh on each call: pyiceberg reads its own once, at import, so a process whose environment
    changed later would otherwise open a catalog other than the one DuckDB is given credentials for.
    """
    from pyiceberg.utils.config import Config

    return {k: str(v) for k, v in (Config().get_catalog_config(name) or {}).items()}


def open_catalog(settings: Settings) -> Catalog:
    """The configured catalog: the embedded SQLite one unless ``TIERHOUSE_CATALOG`` names another."""
    if not settings.embedded:
        properties = catalog_properties(settings.catalog_name)
        try:
            return load_catalog(settings.catalog_name, **properties)
        except (IntegrityError, ProgrammingError):
            # a SQL catalog creates its own tables on first use, checking first: on PostgreSQL two
            # processes opening a new catalog at once both create, and the loser fails; they exist now
            return load_catalog(settings.catalog_name, **properties)
    from pyiceberg.catalog.sql import SqlCatalog

    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    properties = catalog_kwargs(settings)
    return SqlCatalog(properties.pop("name"), **properties)


def catalog_kwargs(settings: Settings) -> dict[str, str]:
    """pyiceberg's ``load_catalog`` arguments (``name`` included) for the catalog ``open_catalog`` opens:
    what another process, such as a Ray worker, needs to open the same one. They may hold credentials."""
    if not settings.embedded:
        return {"name": settings.catalog_name, **catalog_properties(settings.catalog_name)}
    return {
        "name": "tierhouse",
        "type": "sql",
        "uri": f"sqlite:///{settings.catalog_db}",
        "warehouse": settings.warehouse_dir.as_uri(),
    }


def commit_with_retry(attempt: Callable[[], T], give_up_after_s: float = 300.0) -> T:
    """Run ``attempt`` (which must reload what it commits against) until no concurrent writer wins.

    Iceberg commits are optimistic: a writer that lost the race reloads the table
    and tries again, with jittered exponential backoff so racing writers spread out.
    The limit is time, not a count of tries: on a loaded machine several writers
    committing every few seconds can each lose a dozen rounds in a row and still
    all land (every round someone wins).
    """
    runner = retry(
        retry=retry_if_exception(lost_race),
        wait=wait_random_exponential(multiplier=0.05, max=2.0),
        stop=stop_after_delay(give_up_after_s),
        reraise=True,
    )(attempt)
    return runner()
