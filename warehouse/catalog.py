"""Open the Iceberg catalog and commit to it safely under concurrency."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import CommitFailedException
from sqlalchemy.exc import OperationalError
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_random_exponential

from warehouse.config import Settings

T = TypeVar("T")

#: Errors that mean "someone else committed first" or "the catalog was busy": safe to retry.
RETRYABLE = (CommitFailedException, OperationalError, sqlite3.OperationalError)


def open_catalog(settings: Settings) -> Catalog:
    """The configured catalog: the embedded SQLite one unless ``TIERHOUSE_CATALOG`` names another."""
    if not settings.embedded:
        return load_catalog(settings.catalog_name)
    from pyiceberg.catalog.sql import SqlCatalog

    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    return SqlCatalog(
        "tierhouse",
        uri=f"sqlite:///{settings.catalog_db}",
        warehouse=settings.warehouse_dir.as_uri(),
    )


def commit_with_retry(attempt: Callable[[], T], give_up_after_s: float = 300.0) -> T:
    """Run ``attempt`` (which must reload what it commits against) until no concurrent writer wins.

    Iceberg commits are optimistic: a writer that lost the race reloads the table
    and tries again, with jittered exponential backoff so racing writers spread out.
    The limit is time, not a count of tries: on a loaded machine several writers
    committing every few seconds can each lose a dozen rounds in a row and still
    all land (every round someone wins).
    """
    runner = retry(
        retry=retry_if_exception_type(RETRYABLE),
        wait=wait_random_exponential(multiplier=0.05, max=2.0),
        stop=stop_after_delay(give_up_after_s),
        reraise=True,
    )(attempt)
    return runner()
