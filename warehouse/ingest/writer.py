"""Buffers documents and rejections, and commits them to L0 and the quarantine in bounded chunks.

Each chunk is whole Iceberg commits: a kill at any moment leaves only complete
commits behind, and a re-run skips what they already hold (doc_id for L0;
file, place and raw hash for the quarantine), so it converges with no duplicate
and no loss. Concurrent writers are reconciled on commit conflicts.
"""

from __future__ import annotations

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
        self.docs: list[tuple[str, Document]] = []
        self.chunk_ids: set[str] = set()
        self.rejections: list[Rejection] = []
        self.pending_bytes = 0

    def add_document(self, doc: Document) -> None:
        key = doc_id(doc)
        if key in self.chunk_ids:
            self.summary.duplicates_in_input += 1
            return
        self.chunk_ids.add(key)
        self.docs.append((key, doc))
        self.pending_bytes += len(doc.content)
        self._maybe_flush()

    def add_rejection(self, rejection: Rejection) -> None:
        self.rejections.append(rejection)
        self.pending_bytes += len(rejection.raw)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if (
            self.pending_bytes >= self.settings.commit_bytes
            or len(self.docs) + len(self.rejections) >= self.settings.commit_rows
        ):
            self.flush()

    def flush(self) -> None:
        """Commit everything buffered: quarantine first, then L0, each as one atomic commit."""
        if self.rejections:
            self._commit_rejections()
        if self.docs:
            self._commit_documents()
        self._reset()

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
        status = self.known_docs.lookup([key for key, _ in self.docs])
        self.summary.duplicates_in_input += status.count(MINE)
        self.summary.duplicates_in_l0 += status.count(EARLIER)
        fresh = [item for item, s in zip(self.docs, status, strict=True) if s == NEW]
        if not fresh:
            return
        now = datetime.now(UTC)
        batch = self.summary.ingest_batch
        pending = pa.Table.from_pydict(
            {
                "doc_id": [key for key, _ in fresh],
                "source": [self.summary.source] * len(fresh),
                "uri": [d.uri for _, d in fresh],
                "source_id": [d.source_id for _, d in fresh],
                "content_type": [d.content_type for _, d in fresh],
                "content": [d.content for _, d in fresh],
                "content_bytes": [len(d.hash_bytes) if d.hash_bytes else len(d.content.encode()) for _, d in fresh],
                "ingested_at": [now] * len(fresh),
                "ingest_batch": [batch] * len(fresh),
                "extra": [d.extra for _, d in fresh],
            },
            schema=L0_RAW.schema,
        )

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
