"""Which snapshot of each table a report reads, spelled as time-travel SQL a reader can rerun.

A table the build tagged is read ``FOR VERSION AS OF 'build-N'``. Tables a build never tags (L0, which
ingest writes, and the append-only ops records) are pinned to the snapshot that was ``main`` when the
report was written, by its id: the numbers stay reproducible after later ingests and builds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pyiceberg.catalog import Catalog

from warehouse.builds import build_tag, list_builds
from warehouse.tables import BY_NAME

_TAG = re.compile(r"^build-(\d+)$")


class ReportError(LookupError):
    """No such build, or nothing recorded to report on."""


@dataclass
class Pins:
    """The build reported on, the one it is compared with, and each table's time-travel clause."""

    catalog: Catalog
    build: dict[str, Any]
    previous: dict[str, Any] | None
    _current: dict[str, int | None] = field(default_factory=dict)

    @property
    def build_id(self) -> int:
        return int(self.build["build_id"])

    @property
    def tag(self) -> str:
        return build_tag(self.build_id)

    def exists(self, name: str) -> bool:
        """A table this release knows and the lake has, with at least one snapshot."""
        return name in BY_NAME and self.catalog.table_exists(name) and self.snapshot(name) is not None

    def snapshot(self, name: str) -> int | None:
        if name not in self._current:
            self._current[name] = self.catalog.load_table(name).metadata.current_snapshot_id
        return self._current[name]

    def tagged(self, name: str, build_id: int) -> bool:
        return self.exists(name) and build_tag(build_id) in self.catalog.load_table(name).metadata.refs

    def at(self, name: str, alias: str = "", build_id: int | None = None) -> str:
        """``name FOR VERSION AS OF …`` for the reported build (or ``build_id``), with ``alias``."""
        wanted = self.build_id if build_id is None else build_id
        version = f"'{build_tag(wanted)}'" if self.tagged(name, wanted) else str(self.snapshot(name))
        return f"{name} FOR VERSION AS OF {version}" + (f" {alias}" if alias else "")


def _tagged_builds(catalog: Catalog) -> set[int]:
    """Builds that tagged a table, recorded or not (a build killed before its record still tagged what it published)."""
    found = set()
    for name in BY_NAME:
        if catalog.table_exists(name):
            found |= {int(m.group(1)) for ref in catalog.load_table(name).metadata.refs if (m := _TAG.match(ref))}
    return found


def resolve(catalog: Catalog, build_id: int | None, against: int | None) -> Pins:
    """Pins for ``build_id`` (default: the newest recorded build) against ``against`` (default: the build
    before it, recorded or only tagged)."""
    builds = {b["build_id"]: b for b in list_builds(catalog)}
    if not builds:
        raise ReportError("no build is recorded in ops.builds yet; run `tierhouse build` first")
    wanted = max(builds) if build_id is None else build_id
    if wanted not in builds:
        raise ReportError(f"no build {wanted} in ops.builds; recorded builds: {', '.join(map(str, sorted(builds)))}")
    known = set(builds) | _tagged_builds(catalog)
    if against is None:
        earlier = [b for b in known if b < wanted]
        against = max(earlier) if earlier else None
    elif against not in known:
        raise ReportError(f"--against {against}: no build of that id recorded or tagged; known: {sorted(known)}")
    previous = None if against is None else builds.get(against, {"build_id": against, "status": "not recorded"})
    return Pins(catalog, builds[wanted], previous)
