"""The acquisition-cost ledger: what each build's LLM steps cost, per tier, source and step.

Every row of the LLM caches (``ops.scores``, ``ops.edits``, ``ops.qa``) records its backend,
requests, tokens and wall-clock seconds. At the end of a build the rows it made become ledger
rows in ``ops.costs``: calls made, calls failed, and results served from the cache (stored results
of the build's current models and prompts for texts the step's tier still holds), with an
estimated cost from the prices in var ``llm_prices`` (per backend: ``hour`` for the machine's
time, ``input_per_million`` / ``output_per_million`` for tokens). A source is the tier's source
of the text (the first in name order when several sources hold the same text).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog

from udfs.scorers.config import judge_id
from warehouse.builds import Build
from warehouse.catalog import commit_with_retry
from warehouse.duck import quote_literal
from warehouse.publish import scan_sql
from warehouse.tables import COSTS, ensure_table

PRICE_KEYS = ("hour", "input_per_million", "output_per_million")
_SEP = "\x1f"


@dataclass(frozen=True)
class LlmStep:
    """An LLM cache table, the tier it serves, and how its rows name their step, model and text."""

    table: str
    model: str  # the dbt model that writes it
    tier: str
    step: str  # SQL naming the step of a row
    model_column: str
    made_at: str
    owner: str  # the tier table whose rows hold the texts, and the column matching content_hash
    owner_key: str
    owner_filter: str = "true"
    llm_only: str = "true"


STEPS = (
    LlmStep("ops.scores", "scores", "l2_selected", "scorer", "model", "scored_at", "tiers.l1_clean", "content_hash",
            "kept", "scorer NOT LIKE '%-distilled'"),
    LlmStep("ops.edits", "edits", "l3_refined", "editor", "model", "edited_at", "tiers.l3_refined", "edit_hash",
            "edit_hash IS NOT NULL"),
    LlmStep("ops.qa", "qa", "l4_knowledge", "'qa'", "generator_model", "generated_at", "tiers.l3_refined",
            "content_hash"),
)  # fmt: skip


def check_prices(prices: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """The ``llm_prices`` var, validated: backend -> {hour, input_per_million, output_per_million}."""
    checked = {}
    for backend, spec in (prices or {}).items():
        unknown = set(spec) - set(PRICE_KEYS)
        if unknown:
            raise ValueError(f"llm_prices.{backend}: unknown keys {sorted(unknown)}; prices take {list(PRICE_KEYS)}")
        checked[backend] = {k: float(spec.get(k, 0.0)) for k in PRICE_KEYS}
    return checked


def cost_sql(prices: Mapping[str, Mapping[str, float]]) -> str:
    """A SQL expression: the estimated cost of one cache row from its backend and usage columns."""
    cases = " ".join(
        f"WHEN {quote_literal(b)} THEN coalesce(backend_seconds, 0) / 3600 * {p['hour']} "
        f"+ coalesce(tokens_in, 0) / 1e6 * {p['input_per_million']} "
        f"+ coalesce(tokens_out, 0) / 1e6 * {p['output_per_million']}"
        for b, p in prices.items()
    )
    return f"(CASE backend {cases} ELSE 0.0 END)" if cases else "0.0"


def _current(step: LlmStep, build_vars: Mapping[str, Any]) -> str:
    """SQL: rows made by the models and prompts this build's vars name (what a cache hit must match)."""
    llm = build_vars.get("llm")

    def ident(prompt: str, version: str) -> Any:
        return judge_id(json.dumps({"prompt": prompt, "version": version, "llm": llm}))

    if step.table == "ops.scores":
        ids = [ident(p, v) for p, v in (build_vars.get("l2_judges") or {}).items()]
        if build_vars.get("l2_perplexity"):
            ids.append(judge_id(json.dumps({"scorer": "perplexity", **build_vars["l2_perplexity"]})))
        keys = [_SEP.join((i.name, i.model, i.prompt_version)) for i in ids]
        column = "concat_ws(chr(31), scorer, model, prompt_version)"
    elif step.table == "ops.edits":
        editor = build_vars.get("l3_editor") or {}
        i = ident(editor["prompt"], editor["version"]) if editor else None
        keys = [_SEP.join((i.name, i.model, i.prompt_version))] if i else []
        column = "concat_ws(chr(31), editor, model, prompt_version)"
    else:
        g, v = (build_vars.get(k) or {} for k in ("l4_generator", "l4_verifier"))
        if not (g and v):
            return "false"
        gi, vi = ident(g["prompt"], g["version"]), ident(v["prompt"], v["version"])
        keys = [_SEP.join((gi.model, gi.prompt_version, vi.model, vi.prompt_version))]
        column = "concat_ws(chr(31), generator_model, generator_version, verifier_model, verifier_version)"
    return f"{column} IN ({', '.join(map(quote_literal, keys))})" if keys else "false"


def _owner_sql(catalog: Catalog, step: LlmStep) -> str:
    """Each text of the step's tier (main) with the first source, in name order, that holds it."""
    table = catalog.load_table(step.owner)
    return (
        f"SELECT {step.owner_key} AS h, min(source) AS source FROM {scan_sql(table)} "
        f"WHERE {step.owner_filter} GROUP BY 1"
    )


def build_ledger(con: duckdb.DuckDBPyConnection, catalog: Catalog, build: Build) -> pa.Table:
    """The ledger rows of one build: one per (tier, source, step, model) that called or reused an LLM."""
    cost = cost_sql(check_prices(build.vars.get("llm_prices") or {}))
    rows: list[dict[str, Any]] = []
    for step in STEPS:
        result = build.models.get(step.model)
        snapshot = result and (result.get("audit_snapshot_id") if result.get("status") == "gate_failed"
                               else result.get("snapshot_id"))  # fmt: skip
        table = catalog.load_table(step.table)
        summary = table.snapshot_by_id(snapshot).summary.additional_properties if snapshot else {}
        if not int(summary.get("total-records", 0)):
            continue  # not run, or nothing cached yet: no call made, none served
        scan = scan_sql(table, snapshot)
        fresh = f"t.{step.made_at} >= {quote_literal(build.started_at.isoformat())}::TIMESTAMPTZ"
        query = f"""
            WITH owner AS ({_owner_sql(catalog, step)}),
            r AS (
                SELECT t.*, {step.step} AS step_name, {step.model_column} AS model_name, o.source AS owner_source,
                       {fresh} AS fresh, {_current(step, build.vars)} AS current_config, {cost} AS row_cost
                FROM {scan} t LEFT JOIN owner o ON o.h = t.content_hash
                WHERE {step.llm_only}
            )
            SELECT coalesce(owner_source, '(not in tier)') AS source, step_name AS step,
                   coalesce(max(backend) FILTER (fresh), max(backend)) AS backend, model_name AS model,
                   coalesce(sum(requests) FILTER (fresh), 0)::BIGINT AS calls,
                   count(*) FILTER (NOT fresh AND status <> 'failed' AND owner_source IS NOT NULL AND current_config)
                       AS cached,
                   count(*) FILTER (fresh AND status = 'failed') AS failed,
                   coalesce(sum(tokens_in) FILTER (fresh), 0)::BIGINT AS tokens_in,
                   coalesce(sum(tokens_out) FILTER (fresh), 0)::BIGINT AS tokens_out,
                   coalesce(sum(backend_seconds) FILTER (fresh), 0.0) AS backend_seconds,
                   coalesce(sum(row_cost) FILTER (fresh), 0.0) AS cost
            FROM r GROUP BY ALL HAVING calls > 0 OR cached > 0 ORDER BY source, step, model
        """
        for record in con.execute(query).to_arrow_table().to_pylist():
            rows.append({"build_id": build.build_id, "tier": step.tier, **record})
    return pa.Table.from_pylist(rows, schema=COSTS.schema)


def record_build_costs(con: duckdb.DuckDBPyConnection, catalog: Catalog, build: Build) -> pa.Table:
    """Append the build's ledger rows to ``ops.costs`` (one commit) and return them."""
    ledger = build_ledger(con, catalog, build)
    if ledger.num_rows:
        commit_with_retry(lambda: ensure_table(catalog, COSTS).append(ledger))
    return ledger


def export_cost(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    pins: Mapping[str, int],
    documents: str,
    prices: Mapping[str, Any],
) -> dict[str, Any]:
    """What the LLM work on the exported documents (``documents``: a relation of doc_ids) cost, per
    tier it served: every cached result made for their texts up to the pinned build, at its prices."""
    cost = cost_sql(check_prices(prices))
    by_tier: dict[str, dict[str, float]] = {}
    for step in STEPS:
        if step.table not in pins or step.owner not in pins:
            continue
        scan = scan_sql(catalog.load_table(step.table), pins[step.table])
        owner = scan_sql(catalog.load_table(step.owner), pins[step.owner])
        query = f"""
            WITH texts AS (
                SELECT DISTINCT o.{step.owner_key} AS h FROM {owner} o
                WHERE o.doc_id IN (SELECT doc_id FROM {documents}) AND o.{step.owner_key} IS NOT NULL
            )
            SELECT count(*) AS results, coalesce(sum(requests), 0)::BIGINT AS calls,
                   coalesce(sum(tokens_in), 0)::BIGINT AS tokens_in, coalesce(sum(tokens_out), 0)::BIGINT AS tokens_out,
                   round(coalesce(sum(backend_seconds), 0), 6)::DOUBLE AS backend_seconds,
                   round(coalesce(sum({cost}), 0), 6)::DOUBLE AS cost
            FROM {scan} t WHERE {step.llm_only} AND t.content_hash IN (SELECT h FROM texts)
        """
        record = con.execute(query).to_arrow_table().to_pylist()[0]
        if record["results"]:
            by_tier[step.tier] = record
    total = round(float(sum(r["cost"] for r in by_tier.values())), 6)
    return {"total": total, "prices": check_prices(prices), "by_tier": by_tier}
