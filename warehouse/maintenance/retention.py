"""Which snapshots a table keeps: what users pinned, what exports used, recent builds, what builds need.

Every build tags every tier it wrote (``build-N``), so tags alone would keep everything. Kept are:
hand tags (any tag that is not ``build-N``); the builds any export used (``ops.exports``); the last
``keep_builds`` builds' tags; every branch head (``main``, ``audit``, ``build-lock``); and the input
snapshots the next incremental build reads (each table's ``tierhouse.inputs-seen``, L0 included), or
the compaction that stands in for one once it is older than the grace period.
Every other snapshot expires, and the ``build-N`` tags of builds not kept are removed.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from warehouse.fingerprint import SEEN
from warehouse.maintenance.compaction import holder
from warehouse.tables import ALL_TABLES, EXPORTS, ensure_table

_BUILD_TAG = re.compile(r"^build-(\d+)$")


@dataclass
class TablePlan:
    """One table's retention: snapshots and tags to drop, and why the rest stay."""

    table: str
    keep: dict[int, list[str]] = field(default_factory=dict)  # snapshot id -> reasons
    expire: list[int] = field(default_factory=list)
    drop_tags: list[str] = field(default_factory=list)


def exported_builds(catalog: Catalog) -> set[int]:
    """Builds some export pinned: their snapshots must stay readable for byte-identical re-exports."""
    table = ensure_table(catalog, EXPORTS)
    if table.metadata.current_snapshot_id is None:
        return set()
    ids = table.scan(selected_fields=("build_id",)).to_arrow().column("build_id").to_pylist()
    return {i for i in ids if i is not None}


def inputs_needed(catalog: Catalog) -> dict[str, set[int]]:
    """Per table, the snapshots some model's ``previous(...)`` view reads next build."""
    needed: dict[str, set[int]] = {}
    for tdef in ALL_TABLES:
        raw = ensure_table(catalog, tdef).properties.get(SEEN)
        for name, snapshot in (json.loads(raw)["inputs"] if raw else {}).items():
            if snapshot is not None:
                needed.setdefault(name, set()).add(snapshot)
    return needed


def plan_table(
    table: Table, name: str, keep_builds: set[int], needed: set[int], settled_ms: int | None = None
) -> TablePlan:
    """Decide, for one table, what stays (with reasons) and what goes."""
    plan = TablePlan(name)

    def keep(snapshot_id: int, reason: str) -> None:
        plan.keep.setdefault(snapshot_id, []).append(reason)

    for ref_name, ref in table.metadata.refs.items():
        match = _BUILD_TAG.match(ref_name)
        if ref.snapshot_ref_type == "branch":
            keep(ref.snapshot_id, f"branch {ref_name}")
        elif match is None:
            keep(ref.snapshot_id, f"tag {ref_name}")
        elif int(match.group(1)) in keep_builds:
            keep(ref.snapshot_id, ref_name)
        else:
            plan.drop_tags.append(ref_name)
    for snapshot_id in needed:  # a compaction of it made by ``settled_ms`` serves as well (its files are fewer)
        if (readable := holder(table, snapshot_id, settled_ms)) is not None:
            keep(readable, "read by the next build" if readable == snapshot_id else "next build's input, compacted")
    plan.expire = sorted(s.snapshot_id for s in table.snapshots() if s.snapshot_id not in plan.keep)
    return plan


@dataclass(frozen=True)
class Policy:
    """What the lake keeps: the builds whose tags stay, and per table the snapshots the next build reads."""

    builds: set[int]
    needed: dict[str, set[int]]
    grace_s: float = 0.0  # a compaction stands in for a needed snapshot once it is this old

    def plan(self, table: Table, name: str) -> TablePlan:
        settled_ms = int((time.time() - self.grace_s) * 1000)
        return plan_table(table, name, self.builds, self.needed.get(name, set()), settled_ms)


def policy(catalog: Catalog, keep_last: int, grace_s: float = 0.0) -> Policy:
    """The policy in the module docstring, as the catalog stands now; a compaction younger than
    ``grace_s`` does not stand in yet (readers may still be on the snapshot it replaced)."""
    tagged: set[int] = set()
    for tdef in ALL_TABLES:
        for ref_name in ensure_table(catalog, tdef).metadata.refs:
            if match := _BUILD_TAG.match(ref_name):
                tagged.add(int(match.group(1)))
    keep_builds = set(sorted(tagged)[-keep_last:] if keep_last > 0 else []) | exported_builds(catalog)
    return Policy(keep_builds, inputs_needed(catalog), grace_s)


def apply(table: Table, table_plan: TablePlan) -> None:
    """Remove the plan's tags, then expire its snapshots (metadata only: files go in ``files``)."""
    if table_plan.drop_tags:
        manage = table.manage_snapshots()
        for name in table_plan.drop_tags:
            manage = manage.remove_tag(name)
        manage.commit()
    if table_plan.expire:
        table.maintenance.expire_snapshots().by_ids(table_plan.expire).commit()
