"""``tierhouse ingest``: read files of any supported format into ``tiers.l0_raw``, rejects to quarantine."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pyiceberg.catalog import Catalog

from warehouse.catalog import open_catalog
from warehouse.config import Settings, load_settings
from warehouse.ingest.readers import FORMATS, READERS, ReadOptions, expand_inputs
from warehouse.ingest.records import Document, Skip
from warehouse.ingest.summary import IngestSummary
from warehouse.ingest.writer import IngestWriter
from warehouse.progress import progress_bar


def new_batch_id() -> str:
    """A sortable, unique name for one ingest run: UTC time plus random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def ingest(
    paths: Sequence[str | os.PathLike[str]],
    source: str,
    *,
    settings: Settings | None = None,
    catalog: Catalog | None = None,
    fmt: str | None = None,
    text_field: str = "text",
    id_field: str | None = None,
    pattern: str | None = None,
    uri_prefix: str | None = None,
    wiki_infobox: bool = False,
    show_progress: bool | None = None,
) -> IngestSummary:
    """Ingest ``paths`` as ``source``; returns the summary (read = ingested + duplicates + quarantined + skipped)."""
    if not source or not source.strip():
        raise ValueError("ingest: --source must name the source (for example 'crawl-2026-11')")
    settings = settings or load_settings()
    catalog = catalog or open_catalog(settings)
    inputs = expand_inputs([Path(p) for p in paths], fmt, pattern, uri_prefix)
    summary = IngestSummary(source=source, ingest_batch=new_batch_id(), files=len(inputs))
    summary.bytes_read = sum(i.size for i in inputs)
    started = time.perf_counter()
    writer = IngestWriter(catalog, settings, summary)
    with progress_bar(f"ingest {source}", summary.bytes_read, enabled=show_progress) as advance:
        options = ReadOptions(text_field, id_field, settings.max_record_bytes, advance, wiki_infobox)
        for item_file in inputs:
            for item in READERS[item_file.format].read(item_file.path, item_file.uri, options):
                summary.read += 1
                if isinstance(item, Document):
                    writer.add_document(item)
                elif isinstance(item, Skip):
                    summary.count_skip(item)
                else:
                    summary.count_rejection(item)
                    writer.add_rejection(item)
        writer.flush()
    summary.seconds = time.perf_counter() - started
    return summary


__all__ = ["FORMATS", "IngestSummary", "ingest", "new_batch_id"]
