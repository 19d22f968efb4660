"""Where an evaluation's results go: rows of ``ops.evaluations`` and a feedback file for ``feedback import``."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import EqualTo

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


def config_key(config: Mapping[str, Any]) -> str:
    """The default eval_id: a digest of the settings that decide a run's numbers (not the arms or seeds
    asked for), so pieces of one evaluation run separately (``--arms l1,l2``, then ``--arms l3``) share it."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def run_row(eval_id: str, run: Run, tokens: int, config: Mapping[str, Any], as_of: str, at: datetime) -> dict[str, Any]:
    """The ``ops.evaluations`` row of one arm and seed."""
    return {"eval_id": eval_id, "arm": run.arm, "seed": run.seed, "tokens": tokens,
            "config": json.dumps(config, sort_keys=True), "metrics": json.dumps(run.metrics, sort_keys=True),
            "curve": json.dumps(run.curve), "manifests": json.dumps(run.manifests, sort_keys=True), "as_of": as_of,
            "evaluated_at": at}  # fmt: skip


def summary_row(
    eval_id: str, arm: str, runs: Sequence[Run], summary: Mapping[str, Any], tokens: int,
    config: Mapping[str, Any], as_of: str, at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """The row of one arm with seed NULL: its metrics are the mean, ci95 and n of every metric over ``runs``."""
    return {"eval_id": eval_id, "arm": arm, "seed": None, "tokens": tokens,
            "config": json.dumps(config, sort_keys=True), "metrics": json.dumps(summary, sort_keys=True),
            "curve": None, "manifests": json.dumps([m for r in runs for m in r.manifests]), "as_of": as_of,
            "evaluated_at": at}  # fmt: skip


def record(catalog: Catalog, records: list[dict[str, Any]]) -> None:
    """Append the rows to ``ops.evaluations`` in one commit."""
    batch = pa.Table.from_pylist(records, schema=EVALUATIONS.schema)
    commit_with_retry(lambda: ensure_table(catalog, EVALUATIONS).append(batch))


@dataclass(frozen=True)
class Recorded:
    """What ``ops.evaluations`` holds of one eval_id: its config (None if new), its runs by arm and seed,
    and for each arm the seed counts its summary rows were taken over."""

    config: dict[str, Any] | None
    runs: dict[tuple[str, int], Run]
    summarised: dict[str, set[int]]


def recorded(catalog: Catalog, eval_id: str) -> Recorded:
    """What ``eval_id`` has recorded so far."""
    if not catalog.table_exists(EVALUATIONS.name):
        return Recorded(None, {}, {})
    rows = catalog.load_table(EVALUATIONS.name).scan(row_filter=EqualTo("eval_id", eval_id)).to_arrow().to_pylist()
    runs, summarised = {}, {}
    for r in rows:
        metrics = json.loads(r["metrics"])
        if r["seed"] is None:
            summarised.setdefault(r["arm"], set()).add(metrics["eval_loss"]["n"])
        else:
            runs[r["arm"], r["seed"]] = Run(r["arm"], r["seed"], metrics, json.loads(r["curve"]),
                                            json.loads(r["manifests"]), metrics["train_seconds"])  # fmt: skip
    return Recorded(json.loads(rows[0]["config"]) if rows else None, runs, summarised)


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
