"""Run a tier's suite against an audit snapshot and say, precisely, why it failed."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pandas as pd

ROW_BATCH = 50_000  # rows validated at a time, so a large change never sits in memory whole


@dataclass(frozen=True)
class CheckResult:
    """One expectation's outcome: what it checked, what it saw, what it allowed."""

    expectation: str
    column: str
    success: bool
    observed: str
    threshold: str

    def describe(self) -> str:
        return f"{self.expectation}({self.column}): observed {self.observed}, allowed {self.threshold}"


class GateFailed(RuntimeError):
    """The audit snapshot did not meet its tier's suite; main was left where it was."""

    def __init__(self, tier: str, audit_snapshot: int, failures: list[CheckResult]) -> None:
        lines = "\n".join(f"  - {f.describe()}" for f in failures)
        self.result: object = None  # the build's record of this model, set by the publisher
        super().__init__(
            f"gate {tier}: {len(failures)} expectation(s) failed on audit snapshot {audit_snapshot}; "
            f"main is unchanged, the audit branch keeps the snapshot for inspection:\n{lines}"
        )
        self.failures = failures


@cache
def _batch_definition():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("tierhouse").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole")


_THRESHOLD_KEYS = ("min_value", "max_value", "value_set")


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _results(frame: pd.DataFrame, expectations: list, metrics: Mapping[str, Any] | None = None) -> list[CheckResult]:
    """Validate ``frame``; with ``metrics`` (a one-row frame of table facts) report each fact's value."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name="gate", expectations=expectations)
    outcome = _batch_definition().get_batch(batch_parameters={"dataframe": frame}).validate(suite)
    checks = []
    for r in outcome.results:
        kwargs = r.expectation_config.kwargs
        seen = r.result.get("observed_value")
        if metrics is not None and kwargs.get("column") in metrics:
            seen = _number(metrics[kwargs["column"]])
        elif seen is None:
            unexpected = r.result.get("unexpected_count", 0)
            sample = r.result.get("partial_unexpected_list", [])[:3]
            seen = f"{unexpected} of {r.result.get('element_count', 0)} rows outside" + (
                f", e.g. {sample}" if unexpected else ""
            )
        threshold = ", ".join(f"{k}={_number(kwargs[k])}" for k in _THRESHOLD_KEYS if kwargs.get(k) is not None)
        checks.append(
            CheckResult(r.expectation_config.type, kwargs.get("column", ""), bool(r.success), str(seen), threshold)
        )
    return checks


def _merge(runs: Iterable[list[CheckResult]]) -> list[CheckResult]:
    """One result per expectation over all row batches: failed if any batch failed."""
    merged: dict[tuple[str, str], CheckResult] = {}
    for checks in runs:
        for c in checks:
            key = (c.expectation, c.column)
            if key not in merged or (merged[key].success and not c.success):
                merged[key] = c
    return list(merged.values())


def validate(
    tier: str, row_batches: Iterable[pd.DataFrame], metrics: Mapping[str, Any], gate: Mapping[str, Any]
) -> list[CheckResult]:
    """Run the row suite on each batch of changed rows and the table suite on the metrics."""
    from expectations.suites import row_expectations, table_expectations

    runs = [_results(batch, row_expectations(tier, gate)) for batch in row_batches if len(batch)]
    runs.append(_results(pd.DataFrame([dict(metrics)]), table_expectations(tier, gate), metrics))
    return _merge(runs)
