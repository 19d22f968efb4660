"""Run a tier's suite against an audit snapshot and say, precisely, why it failed.

Row expectations carry GE's ``mostly`` (var ``gate_mostly``): a few odd rows never hold a tier
hostage. The share is judged over all the new rows: each batch's counts are added up first. The
rows that fail are returned with their keys, to be recorded (``ops.gate_failures``), never dropped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pandas as pd

from expectations.drift import Drift

ROW_BATCH = 50_000  # rows validated at a time, so a large change never sits in memory whole
EXAMPLE_CHARS = 200  # a failure shows at most this much of a value: never a whole document
EXAMPLES = 3


def cut(value: Any, limit: int = EXAMPLE_CHARS) -> str:
    """``value`` as text of at most about ``limit`` characters, saying how long it was."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} chars)"


@dataclass(frozen=True)
class CheckResult:
    """One expectation's outcome: what it checked, what it saw, what it allowed."""

    expectation: str
    column: str
    success: bool
    observed: str
    threshold: str
    judged: bool = True  # False: there was nothing to judge, which is said, not counted as a pass

    def describe(self) -> str:
        return f"{self.expectation}({self.column}): observed {self.observed}, allowed {self.threshold}"


@dataclass(frozen=True)
class RowFailure:
    """One row that failed one row expectation: its key and (a cut of) the value that failed."""

    key: str
    expectation: str
    column: str
    value: str


class GateFailed(RuntimeError):
    """The audit snapshot did not meet its tier's suite; main was left where it was."""

    def __init__(self, tier: str, audit_snapshot: int, failures: list[CheckResult], drift: list[Drift]) -> None:
        lines = [f"  - {f.describe()}" for f in failures] + [f"  - distribution: {d.describe()}" for d in drift]
        self.result: object = None  # the build's record of this model, set by the publisher
        accept = f"\n  (a deliberate change? tierhouse build --accept-drift {tier.split('.')[-1]} --reason ...)"
        super().__init__(
            f"gate {tier}: {len(lines)} check(s) failed on audit snapshot {audit_snapshot}; "
            f"main is unchanged, the audit branch keeps the snapshot for inspection:\n"
            + "\n".join(lines)
            + (accept if drift else "")
        )
        self.failures = failures
        self.drift = drift


@cache
def _batch_definition():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("tierhouse").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole")


_THRESHOLD_KEYS = ("min_value", "max_value", "value_set", "mostly")


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _threshold(kwargs: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_number(kwargs[k])}" for k in _THRESHOLD_KEYS if kwargs.get(k) is not None)


def _run(frame: pd.DataFrame, expectations: list, result_format: Any = "SUMMARY") -> list:
    import great_expectations as gx

    suite = gx.ExpectationSuite(name="gate", expectations=expectations)
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(suite, result_format=result_format).results


@dataclass
class _Tally:
    """One row expectation's counts, added up over every batch."""

    expectation: str
    column: str
    threshold: str
    mostly: float
    counted: int = 0
    unexpected: int = 0
    examples: list[str] = field(default_factory=list)

    def result(self) -> CheckResult:
        inside = 1 - self.unexpected / self.counted if self.counted else 1.0
        observed = f"{self.unexpected:,} of {self.counted:,} rows outside ({inside:.2%} inside)"
        if self.examples:
            observed += f", e.g. {self.examples}"
        return CheckResult(self.expectation, self.column, inside >= self.mostly, observed, self.threshold)


def validate_rows(
    row_batches: Iterable[pd.DataFrame], expectations: list, key: str
) -> tuple[list[CheckResult], list[RowFailure]]:
    """Row expectations over every batch, judged once on the summed counts; and every failing row."""
    tallies: dict[tuple[str, str], _Tally] = {}
    failures: list[RowFailure] = []
    complete = {"result_format": "COMPLETE", "unexpected_index_column_names": [key]}
    for batch in row_batches:
        if not len(batch):
            continue
        for r in _run(batch, expectations, complete):
            kwargs, kind = r.expectation_config.kwargs, r.expectation_config.type
            column = kwargs.get("column", "")
            tally = tallies.setdefault(
                (kind, column), _Tally(kind, column, _threshold(kwargs), float(kwargs.get("mostly") or 1.0))
            )
            counted = r.result.get("element_count", 0)
            if kind != "expect_column_values_to_not_be_null":  # GE's mostly counts non-null values only
                counted -= r.result.get("missing_count", 0)
            tally.counted += counted
            tally.unexpected += r.result.get("unexpected_count", 0)
            for row in r.result.get("unexpected_index_list") or []:
                value = cut(row.get(column))
                failures.append(RowFailure(str(row.get(key)), kind, column, value))
                if len(tally.examples) < EXAMPLES:
                    tally.examples.append(value)
    return [t.result() for t in tallies.values()], failures


def validate_table(metrics: Mapping[str, Any], expectations: list) -> list[CheckResult]:
    """Table expectations on one row of whole-table metrics, reporting each metric's own value."""
    checks = []
    for r in _run(pd.DataFrame([dict(metrics)]), expectations):
        kwargs = r.expectation_config.kwargs
        column = kwargs["column"]
        value = metrics[column]
        if value is None:  # e.g. a verified share when no pair was judged: say so, do not pass it
            checks.append(CheckResult(r.expectation_config.type, column, True, "nothing to judge", _threshold(kwargs),
                                      judged=False))  # fmt: skip
            continue
        checks.append(CheckResult(r.expectation_config.type, column, bool(r.success), str(_number(value)),
                                  _threshold(kwargs)))  # fmt: skip
    return checks


def validate(
    tier: str, row_batches: Iterable[pd.DataFrame], metrics: Mapping[str, Any], gate: Mapping[str, Any], key: str
) -> tuple[list[CheckResult], list[RowFailure]]:
    """Run the row suite on the changed rows and the table suite on the metrics."""
    from expectations.suites import row_expectations, table_expectations

    rows, failures = validate_rows(row_batches, row_expectations(tier, gate), key)
    return rows + validate_table(metrics, table_expectations(tier, gate)), failures
