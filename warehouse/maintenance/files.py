"""Files no kept snapshot references: found by walking the table's folder, deleted only when old.

pyiceberg expires snapshots in metadata only. The files a table still needs are its current metadata
file, and for every remaining snapshot its manifest list, manifests and data files;
anything else under the table's folder is unreferenced. A writer running beside ``maintain`` (an
ingest; builds wait for the build lock) may have written files it has not committed yet, so only
files older than a grace period are deleted.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from pyiceberg.table import Table


@dataclass(frozen=True)
class Orphan:
    """An unreferenced file: its path, size, and whether the grace period protects it for now."""

    path: Path
    bytes: int
    too_recent: bool


def _local(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise NotImplementedError(f"maintain removes files from local warehouses only, not {parsed.scheme}://")
    return Path(parsed.path)


def referenced(table: Table, snapshots: set[int]) -> set[Path]:
    """The table's current metadata file and every file the given snapshots reference.

    Earlier metadata files (the metadata log) are not needed to read any snapshot: every reader here
    opens the current one. Each commit writes a whole new one, so they are most of what a lake's
    history costs; they go like any unreferenced file, once older than the grace period."""
    keep = {_local(table.metadata_location)}
    for snapshot in (s for s in table.snapshots() if s.snapshot_id in snapshots):
        keep.add(_local(snapshot.manifest_list))
        for manifest in snapshot.manifests(table.io):
            keep.add(_local(manifest.manifest_path))
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
                keep.add(_local(entry.data_file.file_path))
    return keep


def orphans(table: Table, snapshots: set[int], grace_s: float) -> list[Orphan]:
    """Files under the table's folder that neither its metadata nor the given snapshots reference."""
    keep = referenced(table, snapshots)
    root = _local(table.location())
    now = time.time()
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path not in keep:
                stat = path.stat()
                found.append(Orphan(path, stat.st_size, now - stat.st_mtime < grace_s))
    return sorted(found, key=lambda o: str(o.path))


def table_bytes(table: Table) -> int:
    """Bytes on disk under the table's folder."""
    return sum((Path(f) / n).stat().st_size for f, _, names in os.walk(_local(table.location())) for n in names)
