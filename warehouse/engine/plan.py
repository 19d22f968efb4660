"""What the L1 operators are asked to compute: operator versions and each source's rule profile."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from udfs.registry import version_of

EXTRACT = "l1_extract"  # th_extract then th_language: one row per L0 document
FLAGS = "th_quality_flags"  # the Gopher/C4/FineWeb verdicts: one row per English text and rule profile
KEY_SEP = "\x1f"


@dataclass(frozen=True)
class L1Plan:
    """The versions L1's model compares against, so the engine measures exactly what the SQL will join.

    ``extractor`` is L1's ``extractor`` column value; ``rules`` maps each source to (the rules JSON the
    flags operator is configured with, the ``quality_rules`` key its verdicts are stored under).
    """

    extractor: str
    rules: dict[str, tuple[str, str]]
    default_rules: tuple[str, str] = ("{}", "")
    full_refresh: bool = False
    todo: frozenset[str] = field(default_factory=frozenset)  # flag keys of stored L1 texts to judge again
    flagged: frozenset[str] = field(default_factory=frozenset)  # flag keys ops.measures already holds

    def rules_for(self, source: str) -> tuple[str, str]:
        return self.rules.get(source, self.default_rules)


def flag_key(content_hash: str, rules_key: str) -> str:
    """How a flags result is looked up: (content hash, rules key) in one string."""
    return f"{content_hash}{KEY_SEP}{rules_key}"


def resolve(con: duckdb.DuckDBPyConnection, extractor_sql: str, rules_sql: str, key_sql: str) -> L1Plan:
    """Evaluate the model's own SQL expressions (macros l1_extractor, l1_rules_literal, l1_rules_key)
    for every source in L0, so the engine and the model cannot disagree about versions or profiles."""
    (extractor,) = con.execute(f"SELECT {extractor_sql}").fetchone()
    rows = con.execute(
        f"SELECT source, {rules_sql}, {key_sql} FROM (SELECT DISTINCT source FROM tiers.l0_raw UNION SELECT '')"
    ).fetchall()
    by_source = {source: (rules, key) for source, rules, key in rows}
    return L1Plan(extractor, by_source, by_source[""])


def default_plan() -> L1Plan:
    """The plan L1's model resolves under its default vars (l1_rules {}, no source profiles): for running
    the job on its own, as the Ray tests and benchmarks/ray.py do."""
    return L1Plan(
        f"{version_of('th_extract')}+{version_of('th_language')}", {}, ("{}", f"{{}}@{version_of('th_quality_flags')}")
    )
