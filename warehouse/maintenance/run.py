"""Run the retention policy over every table, then delete what no kept snapshot references."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyiceberg.catalog import Catalog

from warehouse.buildlock import BuildLock
from warehouse.maintenance import compaction, files, retention
from warehouse.maintenance.compaction import Compaction
from warehouse.tables import ALL_TABLES, ensure_table

DEFAULT_KEEP_BUILDS = 10
DEFAULT_GRACE_S = 3600.0
DEFAULT_SMALL_FILE = 32 * 1024 * 1024  # a data file under this is small
DEFAULT_MIN_SMALL_FILES = 4  # a table with this many small files is compacted
DEFAULT_COMPACT_SHARE = 0.1  # a compaction rewrites at most this share of a table's data bytes


@dataclass
class TableReport:
    """What maintenance did (or, in a dry run, would do) to one table."""

    table: str
    snapshots_kept: int
    snapshots_expired: int
    tags_dropped: list[str]
    files_removed: int
    bytes_removed: int
    bytes_before: int
    files_too_recent: int = 0
    compaction: Compaction | None = None


@dataclass
class Report:
    dry_run: bool
    tables: list[TableReport] = field(default_factory=list)

    @property
    def bytes_removed(self) -> int:
        return sum(t.bytes_removed for t in self.tables)

    @property
    def bytes_before(self) -> int:
        return sum(t.bytes_before for t in self.tables)


def maintain(
    catalog: Catalog,
    *,
    keep_builds: int = DEFAULT_KEEP_BUILDS,
    grace_s: float = DEFAULT_GRACE_S,
    dry_run: bool = False,
    compact_below: int = DEFAULT_SMALL_FILE,
    compact_min_files: int = DEFAULT_MIN_SMALL_FILES,
    compact_share: float = DEFAULT_COMPACT_SHARE,
) -> Report:
    """Expire what the retention policy does not keep, compact tables with many small files, and delete
    the files no remaining snapshot uses (a dry run only plans the expiry and the deletions).

    Holds the build lock throughout (as ``maintain``, taking no build id), so no build publishes
    meanwhile; files younger than ``grace_s`` are left for a later run (an ingest may not have
    committed them yet).
    """
    report = Report(dry_run)
    with BuildLock(catalog, purpose="maintain"):
        rules = retention.policy(catalog, keep_builds, grace_s)
        for tdef in ALL_TABLES:
            table = ensure_table(catalog, tdef)
            table_plan = rules.plan(table, tdef.name)
            before = files.table_bytes(table)
            expired, dropped, compacted = list(table_plan.expire), table_plan.drop_tags, None
            if not dry_run:
                retention.apply(table, table_plan)
                table = catalog.load_table(tdef.name)
                compacted = compaction.compact(table, tdef.name, compact_below, compact_min_files, compact_share,
                                               files.read_elsewhere(table))  # fmt: skip
                table = catalog.load_table(tdef.name)
                if compacted is not None:  # with no grace period, it stands in for what it packed at once
                    table_plan = rules.plan(table, tdef.name)
                    retention.apply(table, table_plan)
                    expired += table_plan.expire
                    table = catalog.load_table(tdef.name)
            # after expiry, whatever the table now holds (a concurrent ingest's new snapshot included)
            kept = set(table_plan.keep) if dry_run else {s.snapshot_id for s in table.snapshots()}
            unused = files.orphans(table, kept, grace_s)
            removable = [o for o in unused if not o.too_recent]
            if not dry_run:
                files.remove(table, removable)
            report.tables.append(
                TableReport(
                    tdef.name, len(table_plan.keep), len(expired), dropped, len(removable),
                    sum(o.bytes for o in removable), before, len(unused) - len(removable), compacted,
                )
            )  # fmt: skip
    return report
