"""Distribution checks: per source, the rows a build adds or changes against what ``main`` holds.

Row checks cannot see a broken extractor, a language-ID change, a scorer that degenerates, a source
turned to boilerplate or an editor whose every edit fails its guards: each row still looks like a
row. Their shares do not. Every threshold is a key of the ``gate_drift`` var; a share over fewer
than ``min_rows`` rows on either side is not judged, and a first build has nothing to compare with.
A change must be both larger than its threshold and ``min_z`` standard errors from noise to fail.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

PASSED, FAILED, ACCEPTED, NOT_JUDGED = "passed", "failed", "accepted", "not_judged"

#: Tables without a ``source`` column: a row's source is that of its text in the table it was made from.
_SOURCE_FROM = {"scores": "tiers.l1_clean", "qa": "tiers.l3_refined"}

#: Per tier, the shares compared: (side, source, metric, rows counted, rows that hit) over ``sides``.
_SHARES = {
    "l1_clean": """
        SELECT side, source, 'kept_share' AS metric, count(*) AS n, count(*) FILTER (kept) AS hits
        FROM sides GROUP BY ALL
        UNION ALL SELECT side, source, 'extraction_failed_share', count(*),
            count(*) FILTER (extraction_error IS NOT NULL) FROM sides GROUP BY ALL
        UNION ALL SELECT side, source, 'und_share', count(*), count(*) FILTER (language = 'und') FROM sides GROUP BY ALL
        UNION ALL SELECT s.side, s.source, 'reject_share:' || r.reason, count(*),
            count(*) FILTER (list_contains(s.reject_reasons, r.reason))
        FROM sides s JOIN (SELECT DISTINCT source, unnest(reject_reasons) AS reason FROM sides) r USING (source)
        GROUP BY ALL
    """,
    "scores": """
        SELECT side, source, 'failed_share:' || scorer AS metric, count(*) AS n,
            count(*) FILTER (status = 'failed') AS hits FROM sides GROUP BY ALL
        UNION ALL SELECT side, source, 'unparsed_share:' || scorer, count(*), count(*) FILTER (status = 'unparsed')
        FROM sides GROUP BY ALL
    """,
    # decided edits only: 'not_needed' and 'pending' say nothing about the editor
    "l3_refined": """
        SELECT side, source, 'accepted_share' AS metric, count(*) AS n, count(*) FILTER (llm_edit = 'accepted') AS hits
        FROM sides WHERE llm_edit NOT IN ('not_needed', 'pending') GROUP BY ALL
    """,
    "qa": """
        SELECT side, source, 'verified_share' AS metric, count(*) AS n, count(*) FILTER (verdict = 'verified') AS hits
        FROM sides WHERE verdict IS NOT NULL GROUP BY ALL
    """,
}
_LANGUAGES = "SELECT side, source, language, count(*) FROM sides GROUP BY ALL"
_QUANTILES = """
    SELECT side, source, scorer, count(*), quantile_cont(score, [0.1, 0.5, 0.9])
    FROM sides WHERE status = 'ok' AND score IS NOT NULL GROUP BY ALL
"""


@dataclass(frozen=True)
class Drift:
    """One metric of one source: the new rows' value, main's, the rule, and what was decided."""

    source: str
    metric: str
    observed: float | None
    previous: float | None
    allowed: str
    verdict: str
    new_rows: int
    main_rows: int
    note: str = ""

    def describe(self) -> str:
        text = (
            f"source {self.source}: {self.metric} observed {_show(self.observed)} over {self.new_rows:,} new rows, "
            f"previous {_show(self.previous)} over {self.main_rows:,} rows in main, allowed {self.allowed}"
        )
        return f"{text} ({self.note})" if self.note else text


@dataclass
class DriftReport:
    """The comparison of a tier's new rows with main: what it was compared with, and each check."""

    compared_with: str
    checks: list[Drift]
    accepted: dict[str, Any] | None = None

    @property
    def failures(self) -> list[Drift]:
        return [c for c in self.checks if c.verdict == FAILED]

    def to_dict(self) -> dict[str, Any]:
        return {"compared_with": self.compared_with, "checks": [asdict(c) for c in self.checks],
                "accepted": self.accepted}  # fmt: skip


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _sides(con: duckdb.DuckDBPyConnection, tier: str, new: str, main: str) -> None:
    """Temp view ``sides``: the new rows and main's rows, each with its side and source."""

    def sourced(relation: str) -> str:
        if tier not in _SOURCE_FROM:
            return f"SELECT * FROM {relation}"
        texts = f"SELECT content_hash, any_value(source) AS source FROM {_SOURCE_FROM[tier]} GROUP BY 1"
        source = "coalesce(t.source, '(no source)') AS source"
        return f"SELECT r.*, {source} FROM {relation} r LEFT JOIN ({texts}) t USING (content_hash)"

    con.execute(
        f"CREATE OR REPLACE TEMP VIEW sides AS SELECT 'new' AS side, * FROM ({sourced(new)}) "
        f"UNION ALL BY NAME SELECT 'main' AS side, * FROM ({sourced(main)})"
    )


class _Judge:
    """Applies the ``gate_drift`` rules to pairs of (new, main) measurements."""

    def __init__(self, rules: Mapping[str, Any]) -> None:
        self.rules = rules
        self.min_rows = int(rules["min_rows"])
        self.min_z = float(rules["min_z"])

    def _counted(self, source: str, metric: str, new: float | None, old: float | None, allowed: str,
                 n: tuple[int, int]) -> Drift | None:  # fmt: skip
        """A check over too few rows, not judged; None when it has enough."""
        if min(n) >= self.min_rows:
            return None
        if n[1] == 0:
            note = "main holds none of this source: nothing to compare"
        else:
            note = f"fewer {'new rows' if n[0] < self.min_rows else 'rows in main'} than min_rows {self.min_rows}"
        return Drift(source, metric, new, old, allowed, NOT_JUDGED, *n, note)

    def share(self, source: str, metric: str, new: tuple[int, int], old: tuple[int, int]) -> Drift:
        """Two shares (n, hits) differ by more than the metric's max change, beyond sampling noise."""
        limit = float(self.rules[metric.split(":", 1)[0]])
        (n1, h1), (n0, h0) = new, old
        p1, p0 = (h1 / n1 if n1 else None), (h0 / n0 if n0 else None)
        allowed = f"change <= {limit:g} (gate_drift.{metric.split(':', 1)[0]})"
        if skipped := self._counted(source, metric, p1, p0, allowed, (n1, n0)):
            return skipped
        pooled = (h1 + h0) / (n1 + n0)
        noise = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        change = abs(p1 - p0)
        failed = change > limit and change > self.min_z * noise
        return Drift(source, metric, p1, p0, allowed, FAILED if failed else PASSED, n1, n0)

    def distance(self, source: str, new: Mapping[str, int], old: Mapping[str, int]) -> Drift:
        """Total variation distance between two language mixes (0: the same, 1: nothing in common)."""
        limit = float(self.rules["language_distance"])
        n1, n0 = sum(new.values()), sum(old.values())
        allowed = f"distance <= {limit:g} (gate_drift.language_distance)"
        metric = "language_distance"
        if skipped := self._counted(source, metric, None, None, allowed, (n1, n0)):
            return skipped
        tvd = 0.5 * sum(abs(new.get(k, 0) / n1 - old.get(k, 0) / n0) for k in {*new, *old})
        return Drift(source, metric, tvd, 0.0, allowed, FAILED if tvd > limit else PASSED, n1, n0,
                     "previous is main's mix itself")  # fmt: skip

    def quantiles(
        self, source: str, scorer: str, new: tuple[int, list[float]], old: tuple[int, list[float]]
    ) -> list[Drift]:
        """A scorer's 10/50/90% quantiles: the spread may not collapse or explode, nor any quantile move far."""
        ratio, shift = float(self.rules["score_spread_ratio"]), float(self.rules["score_quantile_shift"])
        (n1, q1), (n0, q0) = new, old
        spread1, spread0 = (q1[2] - q1[0] if q1 else None), (q0[2] - q0[0] if q0 else None)
        spread_rule = f"between {ratio:g} and {1 / ratio:g} x previous (gate_drift.score_spread_ratio)"
        shift_rule = f"shift <= {shift:g} x main's 10-90% spread (gate_drift.score_quantile_shift)"
        spread_metric, shift_metric = f"score_spread:{scorer}", f"score_quantile_shift:{scorer}"
        if skipped := self._counted(source, spread_metric, spread1, spread0, spread_rule, (n1, n0)):
            return [skipped, self._counted(source, shift_metric, None, None, shift_rule, (n1, n0))]
        if spread0 <= 0:
            note = "main's scores do not vary"
            return [Drift(source, m, None, None, r, NOT_JUDGED, n1, n0, note)
                    for m, r in ((spread_metric, spread_rule), (shift_metric, shift_rule))]  # fmt: skip
        collapsed = not ratio * spread0 <= spread1 <= spread0 / ratio
        moved = max(abs(a - b) for a, b in zip(q1, q0, strict=True)) / spread0
        quantiles = "10/50/90% " + "/".join(f"{q:.3g}" for q in q1) + " against " + "/".join(f"{q:.3g}" for q in q0)
        return [
            Drift(source, spread_metric, spread1, spread0, spread_rule, FAILED if collapsed else PASSED, n1, n0),
            Drift(source, shift_metric, moved, 0.0, shift_rule, FAILED if moved > shift else PASSED, n1, n0,
                  quantiles),
        ]  # fmt: skip


def compare(con: duckdb.DuckDBPyConnection, tier: str, new: str, main: str, main_rows: int,
            rules: Mapping[str, Any]) -> DriftReport:  # fmt: skip
    """The distribution checks of ``tier``: relation ``new`` (this build's rows) against ``main``."""
    if tier not in _SHARES:
        return DriftReport("no distribution checks for this tier", [])
    if main_rows == 0:
        return DriftReport("first build: nothing to compare (main is empty)", [])
    _sides(con, tier, new, main)
    judge = _Judge(rules)
    shares: dict[tuple[str, str], dict[str, tuple[int, int]]] = defaultdict(dict)
    for side, source, metric, n, hits in con.execute(_SHARES[tier]).fetchall():
        shares[(source, metric)][side] = (n, hits)
    new_sources = {source for (source, _), sides in shares.items() if "new" in sides}
    checks = []
    for (source, metric), sides in sorted(shares.items()):
        if source in new_sources:
            checks.append(judge.share(source, metric, sides.get("new", (0, 0)), sides.get("main", (0, 0))))
    if tier == "l1_clean":
        mixes: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
        for side, source, language, n in con.execute(_LANGUAGES).fetchall():
            mixes[source][side][language] = n
        checks += [judge.distance(s, m["new"], m.get("main", {})) for s, m in sorted(mixes.items()) if "new" in m]
    if tier == "scores":
        spreads: dict[tuple[str, str], dict[str, tuple[int, list[float]]]] = defaultdict(dict)
        for side, source, scorer, n, q in con.execute(_QUANTILES).fetchall():
            spreads[(source, scorer)][side] = (n, list(q))
        for (source, scorer), sides in sorted(spreads.items()):
            if "new" in sides:
                checks += judge.quantiles(source, scorer, sides["new"], sides.get("main", (0, [])))
    con.execute("DROP VIEW sides")
    return DriftReport(f"main ({main_rows:,} rows)", checks)


def accept(report: DriftReport, acceptance: Mapping[str, Any] | None, tier: str) -> DriftReport:
    """Mark failed checks accepted when ``gate_accept_drift`` names the tier with who accepts and why."""
    if not acceptance or not report.failures:
        return report
    by, reason = acceptance.get("by"), acceptance.get("reason")
    if not by or not reason:
        raise ValueError(f"gate_accept_drift for {tier} needs 'by' and 'reason' (who accepts the change, and why)")
    accepted = [f"{c.metric}@{c.source}" for c in report.failures]
    report.checks = [Drift(**{**asdict(c), "verdict": ACCEPTED}) if c.verdict == FAILED else c for c in report.checks]
    report.accepted = {"by": str(by), "reason": str(reason), "checks": accepted}
    return report
