"""Where an evaluation's results go: rows of ``ops.evaluations`` and a feedback file for ``feedback import``."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog

from warehouse.catalog import commit_with_retry
from warehouse.tables import EVALUATIONS, ensure_table


@dataclass(frozen=True)
class Run:
    """One arm trained with one seed: its metrics, loss curve and the exports it read."""

    arm: str
    seed: int
    metrics: dict[str, Any]
    curve: list[dict[str, float]]
    manifests: list[dict[str, Any]]
    seconds: float


def rows(
    eval_id: str, runs: Sequence[Run], summaries: Mapping[str, dict[str, Any]], tokens: int,
    config: Mapping[str, Any], as_of: str | None, at: datetime,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per run, then one per arm with seed NULL holding the summary (mean, ci95, n per metric)."""
    base = {"eval_id": eval_id, "tokens": tokens, "config": json.dumps(config, sort_keys=True), "as_of": as_of,
            "evaluated_at": at}  # fmt: skip
    out = [
        base | {"arm": r.arm, "seed": r.seed, "metrics": json.dumps(r.metrics, sort_keys=True),
                "curve": json.dumps(r.curve), "manifests": json.dumps(r.manifests, sort_keys=True)}
        for r in runs
    ]  # fmt: skip
    for arm, summary in summaries.items():
        mine = [r for r in runs if r.arm == arm]
        out.append(base | {"arm": arm, "seed": None, "metrics": json.dumps(summary, sort_keys=True),
                           "curve": None, "manifests": json.dumps([m for r in mine for m in r.manifests])})  # fmt: skip
    return out


def record(catalog: Catalog, records: list[dict[str, Any]]) -> None:
    """Append the rows to ``ops.evaluations`` in one commit."""
    batch = pa.Table.from_pylist(records, schema=EVALUATIONS.schema)
    commit_with_retry(lambda: ensure_table(catalog, EVALUATIONS).append(batch))


def write_feedback(path: Path, losses: Mapping[str, float]) -> None:
    """``slice,loss`` CSV, the format ``tierhouse feedback import`` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["slice", "loss"])
        for key in sorted(losses):
            writer.writerow([key, f"{losses[key]:.6f}"])


def mean_ci(summary: Mapping[str, Mapping[str, Any]], key: str, digits: int = 3) -> str:
    """``mean ± ci95`` of one summarised metric, for tables; ``-`` when the metric is absent."""
    s = summary.get(key)
    if s is None:
        return "-"
    return f"{s['mean']:.{digits}f}" + ("" if s["ci95"] is None else f" ± {s['ci95']:.{digits}f}")
