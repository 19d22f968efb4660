"""Files no kept snapshot references: found by listing the table's location, deleted only when old.

pyiceberg expires snapshots in metadata only. The files a table still needs are its current metadata
file, and for every remaining snapshot its manifest list, manifests and data files;
anything else under the table's location is unreferenced. A writer running beside ``maintain`` (an
ingest; builds wait for the build lock) may have written files it has not committed yet, so only
files older than a grace period are deleted.

Listing and deleting go through the filesystem pyiceberg's pyarrow FileIO opens for the table (with
the catalog's credentials and endpoint), so a warehouse on S3 is maintained like a local one.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from pyarrow.fs import FileSelector, FileSystem, FileType
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.table import Table


@dataclass(frozen=True)
class Orphan:
    """An unreferenced file: its path on the table's filesystem, size, and whether the grace period
    protects it for now."""

    path: str
    bytes: int
    too_recent: bool


def _io(table: Table) -> PyArrowFileIO:
    return table.io if isinstance(table.io, PyArrowFileIO) else PyArrowFileIO(table.io.properties)


def _filesystem(table: Table) -> FileSystem:
    io = _io(table)
    scheme, netloc, _ = io.parse_location(table.location(), io.properties)
    return io.fs_by_scheme(scheme, netloc)


def _path(table: Table, uri: str) -> str:
    """A location as the table's filesystem names it (``/abs/path`` locally, ``bucket/key`` on S3)."""
    io = _io(table)
    return io.parse_location(uri, io.properties)[2]


def _manifests(table: Table, snapshots: set[int]) -> tuple[set[str], list]:
    """The manifest lists of the given snapshots, and their manifests, each read once (snapshots share
    most of their manifests)."""
    lists, seen, manifests = set(), set(), []
    for snapshot in (s for s in table.snapshots() if s.snapshot_id in snapshots):
        lists.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            if manifest.manifest_path not in seen:
                seen.add(manifest.manifest_path)
                manifests.append(manifest)
    return lists, manifests


def referenced(table: Table, snapshots: set[int]) -> set[str]:
    """The table's current metadata file and every file the given snapshots reference.

    Earlier metadata files (the metadata log) are not needed to read any snapshot: every reader here
    opens the current one. Each commit writes a whole new one, so they are most of what a lake's
    history costs; they go like any unreferenced file, once older than the grace period. A manifest's
    deleted entries name files its snapshot removed, which it does not read: once no kept snapshot
    reads a file live, it goes too (a compaction's inputs, a copy-on-write's rewritten files)."""
    lists, manifests = _manifests(table, snapshots)
    keep = {_path(table, table.metadata_location)} | {_path(table, uri) for uri in lists}
    for manifest in manifests:
        keep.add(_path(table, manifest.manifest_path))
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            keep.add(_path(table, entry.data_file.file_path))
    return keep


def read_elsewhere(table: Table) -> set[str]:
    """Data files (as manifests name them) that a snapshot other than the current one reads."""
    others = {s.snapshot_id for s in table.snapshots()} - {table.metadata.current_snapshot_id}
    _, manifests = _manifests(table, others)
    return {e.data_file.file_path for m in manifests for e in m.fetch_manifest_entry(table.io, discard_deleted=True)}


def _listing(table: Table) -> list:
    selector = FileSelector(_path(table, table.location()), recursive=True, allow_not_found=True)
    return [info for info in _filesystem(table).get_file_info(selector) if info.type == FileType.File]


def orphans(table: Table, snapshots: set[int], grace_s: float) -> list[Orphan]:
    """Files under the table's location that neither its metadata nor the given snapshots reference."""
    keep = referenced(table, snapshots)
    now = time.time()
    found = [
        Orphan(info.path, info.size, now - info.mtime.timestamp() < grace_s)
        for info in _listing(table)
        if info.path not in keep
    ]
    return sorted(found, key=lambda o: o.path)


def remove(table: Table, unused: list[Orphan]) -> None:
    """Delete ``unused`` files (already gone is fine: another maintain run may have taken them)."""
    fs = _filesystem(table)
    for orphan in unused:
        with contextlib.suppress(FileNotFoundError):
            fs.delete_file(orphan.path)


def table_bytes(table: Table) -> int:
    """Bytes stored under the table's location."""
    return sum(info.size for info in _listing(table))
