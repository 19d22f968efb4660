"""Build records: one ``ops.builds`` row per build, and the ``build-<id>`` tags that pin it."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog

from warehouse.catalog import commit_with_retry
from warehouse.publish import ModelResult
from warehouse.tables import ALL_TABLES, BUILDS, ensure_table

_TAG = re.compile(r"^build-(\d+)$")


def build_tag(build_id: int) -> str:
    return f"build-{build_id}"


def next_build_id(catalog: Catalog) -> int:
    """One more than any build recorded or tagged: a build killed before its record still owns its id."""
    seen = [0]
    builds = ensure_table(catalog, BUILDS)
    if builds.metadata.current_snapshot_id is not None:
        seen += builds.scan(selected_fields=("build_id",)).to_arrow().column("build_id").to_pylist()
    for tdef in ALL_TABLES:
        if tdef.namespace == "tiers" and catalog.table_exists(tdef.name):
            refs = catalog.load_table(tdef.name).metadata.refs
            seen += [int(m.group(1)) for name in refs if (m := _TAG.match(name))]
    return max(seen) + 1


def git_revision(path: Path) -> str | None:
    """The commit of the dbt models (with ``-dirty`` if they have uncommitted changes), if under git."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=path, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


@dataclass
class Build:
    """A build in progress: its id, when it started, its vars, and what each model did."""

    build_id: int
    started_at: datetime
    vars: dict[str, Any]
    git_rev: str | None
    models: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, result: ModelResult) -> None:
        self.models[result.model] = result.to_dict()

    def finish(self, catalog: Catalog, statuses: dict[str, dict[str, str]]) -> str:
        """Write the ``ops.builds`` row; models dbt skipped or failed before publishing are noted too,
        and the data tests' outcomes are kept under ``dbt_tests``."""
        tests: dict[str, str] = {}
        for node, info in statuses.items():
            if info["type"] == "model":
                entry = self.models.setdefault(node, {"model": node, "status": info["status"]})
                entry["dbt_status"] = info["status"]
                if info["status"] == "error":
                    entry["error"] = info.get("message")
            else:
                tests[node] = info["status"]
        if tests:
            self.models["dbt_tests"] = tests
        failed = any(info["status"] not in {"success", "pass"} for info in statuses.values())
        status = "failed" if failed else "success"
        row = pa.Table.from_pylist(
            [
                {
                    "build_id": self.build_id,
                    "started_at": self.started_at,
                    "ended_at": datetime.now(UTC),
                    "status": status,
                    "vars": json.dumps(self.vars, sort_keys=True, default=str),
                    "git_rev": self.git_rev,
                    "models": json.dumps(self.models, sort_keys=True, default=str),
                }
            ],
            schema=BUILDS.schema,
        )
        commit_with_retry(lambda: ensure_table(catalog, BUILDS).append(row))
        return status


def list_builds(catalog: Catalog) -> list[dict[str, Any]]:
    """Every recorded build, newest first, with its per-model results decoded."""
    table = ensure_table(catalog, BUILDS)
    if table.metadata.current_snapshot_id is None:
        return []
    rows = table.scan().to_arrow().to_pylist()
    for r in rows:
        r["vars"] = json.loads(r["vars"] or "{}")
        r["models"] = json.loads(r["models"] or "{}")
    return sorted(rows, key=lambda r: r["build_id"], reverse=True)
