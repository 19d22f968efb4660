"""Buffers documents and rejections, and commits them to L0 and the quarantine in bounded chunks.

Each chunk is whole Iceberg commits: a kill at any moment leaves only complete
commits behind, and a re-run skips what they already hold (doc_id for L0;
file, place and raw hash for the quarantine), so it converges with no duplicate
and no loss. Concurrent writers are reconciled on commit conflicts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import hashlib
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from warehouse.catalog import commit_with_retry
from warehouse.config import Settings
from warehouse.duck import new_connection, quote_literal
from warehouse.ingest.known import EARLIER, MINE, NEW, KnownKeys
from warehouse.ingest.records import Document, Rejection, doc_id
from warehouse.ingest.summary import IngestSummary
from warehouse.tables import L0_RAW, QUARANTINE, ensure_table

_SEP = "\x1f"
_DOC_COLUMNS = ("doc_id", "uri", "source_id", "content_type", "content", "extra")


_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def release_memory() -> None:
    """Hand a flushed chunk's memory back to the OS, so peak RSS stays flat however long the input.

    Without this, cyclic garbage from pyiceberg metadata, Arrow's allocator cache and glibc's
    heap each keep part of every chunk, and RSS creeps up with input size.
    """
    gc.collect()
    pa.default_memory_pool().release_unused()
    if hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def quarantine_key(file: str, location: str, raw_sha256: str) -> str:
    """What makes a quarantine row unique: re-reading the same bad input must not add it twice."""
    return f"{file}{_SEP}{location}{_SEP}{raw_sha256}"


def _ids_added_since(table: Table, base_snapshot: int | None) -> list[str]:
    """doc_ids in data files that snapshots after ``base_snapshot`` added (another writer's work)."""
    now = {task.file.file_path for task in table.scan().plan_files()}
    before = set()
    if base_snapshot is not None:
        before = {task.file.file_path for task in table.scan(snapshot_id=base_snapshot).plan_files()}
    ids: list[str] = []
    for path in sorted(now - before):
        with table.io.new_input(path).open() as fh:
            ids.extend(pq.read_table(fh, columns=["doc_id"]).column("doc_id").to_pylist())
    return ids


class IngestWriter:
    """Collects what readers yield for one source and one ingest batch; flushes by size or row count."""

    def __init__(self, catalog: Catalog, settings: Settings, summary: IngestSummary) -> None:
        self.catalog = catalog
        self.settings = settings
        self.summary = summary
        self.con = new_connection(memory_limit="512MB")
        l0 = ensure_table(catalog, L0_RAW)
        quarantine = ensure_table(catalog, QUARANTINE)
        self.base_snapshot = l0.metadata.current_snapshot_id
        self.known_docs = KnownKeys(
            self.con, "known_docs", f"SELECT doc_id AS k FROM iceberg_scan({quote_literal(l0.metadata_location)})"
        )
        self.known_rejects = KnownKeys(
            self.con,
            "known_rejects",
            "SELECT concat_ws(chr(31), file, location, raw_sha256) AS k "
            f"FROM iceberg_scan({quote_literal(quarantine.metadata_location)})",
        )
        self._reset()

    def _reset(self) -> None:
        # documents are buffered as columns, not objects: less memory, and one vectorised build per chunk
        self.columns: dict[str, list] = {name: [] for name in _DOC_COLUMNS}
        self.chunk_ids: set[str] = set()
        self.rejections: list[Rejection] = []
        self.pending_bytes = 0
        self.pending_rows = 0

    def add_document(self, doc: Document) -> None:
        key = doc_id(doc)
        if key in self.chunk_ids:
            self.summary.duplicates_in_input += 1
            return
        self.chunk_ids.add(key)
        cols = self.columns
        cols["doc_id"].append(key)
        cols["uri"].append(doc.uri)
        cols["source_id"].append(doc.source_id)
        cols["content_type"].append(doc.content_type)
        cols["content"].append(doc.content)
        cols["extra"].append(doc.extra)
        self.pending_bytes += len(doc.content)
        self.pending_rows += 1
        self._maybe_flush()

    def add_rejection(self, rejection: Rejection) -> None:
        self.rejections.append(rejection)
        self.pending_bytes += len(rejection.raw)
        self.pending_rows += 1
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if self.pending_bytes >= self.settings.commit_bytes or self.pending_rows >= self.settings.commit_rows:
            self.flush()

    def flush(self) -> None:
        """Commit everything buffered: quarantine first, then L0, each as one atomic commit."""
        if self.rejections:
            self._commit_rejections()
        if self.columns["doc_id"]:
            self._commit_documents()
        self._reset()
        release_memory()

    def _snapshot_properties(self) -> dict[str, str]:
        return {"tierhouse.ingest_batch": self.summary.ingest_batch, "tierhouse.source": self.summary.source}

    def _commit_rejections(self) -> None:
        now = datetime.now(UTC)
        rows = []
        for r in self.rejections:
            sha = hashlib.sha256(r.raw).hexdigest()
            rows.append((quarantine_key(r.file, r.location, sha), sha, r))
        status = self.known_rejects.lookup([key for key, _, _ in rows])
        fresh = [row for row, s in zip(rows, status, strict=True) if s == NEW]
        if not fresh:
            return
        table = pa.Table.from_pydict(
            {
                "quarantined_at": [now] * len(fresh),
                "ingest_batch": [self.summary.ingest_batch] * len(fresh),
                "source": [self.summary.source] * len(fresh),
                "file": [r.file for _, _, r in fresh],
                "location": [r.location for _, _, r in fresh],
                "reason": [str(r.reason) for _, _, r in fresh],
                "message": [r.message for _, _, r in fresh],
                "raw": [r.raw for _, _, r in fresh],
                "raw_sha256": [sha for _, sha, _ in fresh],
                "raw_length": [r.raw_length if r.raw_length is not None else len(r.raw) for _, _, r in fresh],
                "raw_complete": [r.raw_length is None for _, _, r in fresh],
            },
            schema=QUARANTINE.schema,
        )

        def attempt() -> None:
            self.catalog.load_table(QUARANTINE.name).append(table, snapshot_properties=self._snapshot_properties())

        commit_with_retry(attempt)
        self.known_rejects.add([key for key, _, _ in fresh], mine=True)
        self.summary.quarantine_rows_added += len(fresh)

    def _commit_documents(self) -> None:
        ids = self.columns["doc_id"]
        status = self.known_docs.lookup(ids)
        self.summary.duplicates_in_input += status.count(MINE)
        self.summary.duplicates_in_l0 += status.count(EARLIER)
        if status.count(NEW) == 0:
            return
        content = pa.array(self.columns["content"], pa.large_string())
        n = len(ids)
        pending = pa.Table.from_arrays(
            [
                pa.array(ids, pa.string()),
                pa.array([self.summary.source] * n, pa.string()),
                pa.array(self.columns["uri"], pa.string()),
                pa.array(self.columns["source_id"], pa.string()),
                pa.array(self.columns["content_type"], pa.string()),
                content,
                pc.binary_length(content).cast(pa.int64()),
                pa.array([datetime.now(UTC)] * n, L0_RAW.schema.field("ingested_at").type),
                pa.array([self.summary.ingest_batch] * n, pa.string()),
                pa.array(self.columns["extra"], pa.string()),
            ],
            schema=L0_RAW.schema,
        ).filter(pa.array([s == NEW for s in status]))

        def attempt() -> int | None:
            nonlocal pending
            table = self.catalog.load_table(L0_RAW.name)
            current = table.metadata.current_snapshot_id
            if current != self.base_snapshot:  # someone else committed: drop what they already stored
                self.known_docs.add(_ids_added_since(table, self.base_snapshot), mine=False)
                self.base_snapshot = current
                clash = self.known_docs.lookup(pending.column("doc_id").to_pylist())
                keep = pa.array([s == NEW for s in clash])
                self.summary.duplicates_in_l0 += len(clash) - pc.sum(keep).as_py()
                pending = pending.filter(keep)
            if pending.num_rows == 0:
                return None
            table.append(pending, snapshot_properties=self._snapshot_properties())
            return table.metadata.current_snapshot_id

        snapshot = commit_with_retry(attempt)
        if snapshot is None:
            return
        self.base_snapshot = snapshot
        self.known_docs.add(pending.column("doc_id").to_pylist(), mine=True)
        self.summary.ingested += pending.num_rows
        self.summary.snapshots.append(snapshot)
