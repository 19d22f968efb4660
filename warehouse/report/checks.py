"""What the build checked, changed and cost: gates, the diff against an earlier build, the ledger, evaluations."""

from __future__ import annotations

from warehouse.publish import key_column
from warehouse.query import LakeConnection
from warehouse.report import charts
from warehouse.report.blocks import Chart, Note, Section, run
from warehouse.report.pins import Pins
from warehouse.tables import BY_NAME

#: the tables a build writes, in the order of the tiers
BUILT = (
    "tiers.l1_clean",
    "tiers.l2_selected",
    "tiers.l3_refined",
    "tiers.l4_knowledge",
    "ops.scores",
    "ops.edits",
    "ops.qa",
)
_GATE_TYPE = (
    '[{"expectation": "VARCHAR", "column": "VARCHAR", "success": "BOOLEAN", "observed": "VARCHAR", '
    '"threshold": "VARCHAR"}]'
)
_DRIFT_TYPE = (
    '[{"source": "VARCHAR", "metric": "VARCHAR", "observed": "DOUBLE", "previous": "DOUBLE", "allowed": "VARCHAR", '
    '"verdict": "VARCHAR", "new_rows": "BIGINT", "main_rows": "BIGINT"}]'
)


def _record(pins: Pins) -> str:
    builds = pins.at("ops.builds")
    return f"SELECT unnest(json_keys(models)) AS model, models FROM {builds} WHERE build_id = {pins.build_id}"


def overview(con: LakeConnection, pins: Pins) -> Section:
    """The build's record: status, timing, code revision, and what each model did."""
    section = Section("overview", "Build record")
    section.blocks.append(
        run(
            con,
            "overview-build",
            "The build's record (ops.builds)",
            f"""
            SELECT build_id, status, started_at, ended_at,
                   round(epoch(ended_at - started_at), 1) AS seconds, git_rev
            FROM {pins.at("ops.builds")} WHERE build_id = {pins.build_id}
            """,
        )
    )
    section.blocks.append(
        run(
            con,
            "overview-models",
            "What each model did",
            f"""
            WITH m AS ({_record(pins)}),
            r AS (SELECT model, json_extract(models, '$."' || model || '"') AS r FROM m)
            SELECT model,
                   coalesce(json_extract_string(r, '$.status'), json_extract_string(r, '$.dbt_status'))
                       AS result,
                   json_extract_string(r, '$.total_rows')::BIGINT AS rows,
                   json_extract_string(r, '$.rows_added')::BIGINT AS entered,
                   json_extract_string(r, '$.rows_removed')::BIGINT AS left_tier
            FROM r WHERE model <> 'dbt_tests' ORDER BY model
            """,
        )
    )
    return section


def gates(con: LakeConnection, pins: Pins) -> Section:
    """Each gate's checks with what it observed and what it allowed, the distribution checks, and failed rows."""
    section = Section("gates", "Gates: observed value against threshold")
    checks = run(
        con,
        "gates-checks",
        "Each gate's expectations (from the build's record)",
        f"""
            WITH m AS ({_record(pins)})
            SELECT model, c.expectation, c.column AS column_name, c.observed, c.threshold,
                   CASE WHEN c.success THEN 'passed' ELSE 'FAILED' END AS verdict
            FROM m, unnest(from_json(json_extract(models, '$."' || model || '".gate'), '{_GATE_TYPE}')) AS t(c)
            ORDER BY model, c.expectation, c.column
            """,
    )
    if not checks.rows:
        section.missing = "no data: this build's record holds no gate check"
        return section
    section.blocks.append(checks)
    drift = run(
        con,
        "gates-drift",
        "Distribution checks against main: observed, previous, allowed",
        f"""
            WITH m AS ({_record(pins)})
            SELECT model, d.source, d.metric, round(d.observed, 4) AS observed, round(d.previous, 4) AS previous,
                   d.allowed, d.verdict, d.new_rows, d.main_rows
            FROM m, unnest(from_json(json_extract(models, '$."' || model || '".drift.checks'), '{_DRIFT_TYPE}'))
                 AS t(d)
            ORDER BY d.verdict = 'not_judged', model, d.source, d.metric
            """,
    )
    section.blocks.append(
        drift
        if drift.rows
        else Note("No distribution check was recorded for this build (a first build has nothing to compare with).")
    )
    if pins.exists("ops.gate_failures"):
        failed = run(
            con,
            "gates-failed-rows",
            "Rows that failed a row check (ops.gate_failures)",
            f"""
            SELECT table_name, expectation, column_name, count(*) AS rows_failed
            FROM {pins.at("ops.gate_failures")} WHERE build = '{pins.tag}'
            GROUP BY ALL ORDER BY rows_failed DESC
            """,
        )
        section.blocks.append(failed if failed.rows else Note("No row failed a row check in this build."))
    else:
        section.blocks.append(Note("ops.gate_failures has no rows in this lake: no row has ever failed a row check."))
    return section


def diff(con: LakeConnection, pins: Pins) -> Section:
    """Per tier, the rows that entered, left and changed since the build it is compared with."""
    section = Section("diff", "Diff against the previous build")
    if pins.previous is None:
        section.missing = f"no data: no build before build {pins.build_id} is recorded or tagged: nothing to compare"
        return section
    before = int(pins.previous["build_id"])
    section.title = f"Diff against build {before}" + (
        " (tagged, not recorded)" if "models" not in pins.previous else ""
    )
    parts, skipped = [], []
    for name in BUILT:
        if not (pins.tagged(name, pins.build_id) and pins.tagged(name, before)):
            skipped.append(name)
            continue
        key = key_column(BY_NAME[name])
        parts.append(
            f"SELECT '{name}' AS table_name, coalesce(b.source, a.source) AS source,\n"
            f"       count(*) FILTER (a.k IS NULL) AS entered, count(*) FILTER (b.k IS NULL) AS left_tier,\n"
            f"       count(*) FILTER (a.h <> b.h) AS changed\n"
            f"FROM (SELECT {key} AS k, {_source(name)} AS source, hash(t) AS h FROM {pins.at(name, 't', before)}) a\n"
            f"FULL JOIN (SELECT {key} AS k, {_source(name)} AS source, hash(t) AS h FROM {pins.at(name, 't')}) b\n"
            f"  USING (k) GROUP BY ALL"
        )
    if not parts:
        section.missing = f"no data: no table carries both build-{before} and {pins.tag} tags"
        return section
    section.blocks.append(
        run(
            con,
            "diff-tables",
            f"Rows entered, left and changed from build {before} to {pins.build_id}, per table and source",
            "\nUNION ALL ".join(parts) + "\nORDER BY table_name, source",
        )
    )
    section.blocks.append(
        Note(
            f"Why rows left: tierhouse diff TABLE build-{before} {pins.tag}"
            + (f". Not compared (missing a tag): {', '.join(skipped)}." if skipped else ".")
        )
    )
    return section


def _source(name: str) -> str:
    return "t.source" if "source" in BY_NAME[name].schema.names else "NULL"


def cost(con: LakeConnection, pins: Pins) -> Section:
    """The build's cost ledger (``tierhouse cost --build N``)."""
    section = Section("cost", "Cost ledger")
    if not pins.exists("ops.costs"):
        section.missing = "no data: ops.costs is empty in this lake; no build has recorded an LLM cost yet"
        return section
    ledger = run(
        con,
        "cost-ledger",
        "LLM calls, cache hits, tokens, seconds and estimated cost per tier, source and step",
        f"""
            SELECT tier, source, step, backend, model, calls, cached, failed, tokens_in, tokens_out,
                   round(backend_seconds, 1) AS seconds, round(cost, 4) AS cost
            FROM {pins.at("ops.costs")} WHERE build_id = {pins.build_id} ORDER BY tier, source, step, model
            """,
    )
    if not ledger.rows:
        section.missing = f"no data: build {pins.build_id} recorded no LLM cost (no call made, none served from cache)"
        return section
    section.blocks.append(ledger)
    section.blocks.append(
        run(
            con,
            "cost-total",
            "Totals",
            f"""
            SELECT sum(calls) AS calls, sum(cached) AS cached, sum(failed) AS failed,
                   round(sum(cost), 4) AS cost
            FROM {pins.at("ops.costs")} WHERE build_id = {pins.build_id}
            """,
        )
    )
    return section


_CURVE_TYPE = '[{"tokens": "BIGINT", "train_loss": "DOUBLE", "eval_loss": "DOUBLE"}]'


def evaluation(con: LakeConnection, pins: Pins) -> Section:
    """``tierhouse evaluate`` runs of this build from ``ops.evaluations``: each arm's result and its loss curve."""
    section = Section("evaluation", "Evaluation")
    if not pins.exists("ops.evaluations"):
        section.missing = "no evaluation has been run: this lake has no ops.evaluations table"
        return section
    runs = f"{pins.at('ops.evaluations')} WHERE seed IS NOT NULL AND as_of = '{pins.tag}'"
    arms = run(
        con,
        "evaluation-arms",
        "Proxy models trained on this build's exports, per evaluation and arm (eval loss in nats per token)",
        f"""
        SELECT eval_id, arm, any_value(tokens) AS tokens, count(*) AS seeds,
               round(avg((metrics->>'$.eval_loss')::DOUBLE), 4) AS eval_loss,
               round(stddev_samp((metrics->>'$.eval_loss')::DOUBLE), 4) AS eval_loss_sd,
               round(avg((metrics->>'$.unigram_eval_loss')::DOUBLE), 4) AS unigram_loss
        FROM {runs} GROUP BY ALL ORDER BY eval_id, arm
        """,
    )
    if not arms.rows:
        section.missing = f"no evaluation of build {pins.build_id} is recorded in ops.evaluations"
        return section
    curves = run(
        con,
        "evaluation-curves",
        "Eval loss during training, mean over seeds",
        f"""
        WITH p AS (SELECT eval_id, arm, unnest(from_json(curve, '{_CURVE_TYPE}')) AS p FROM {runs})
        SELECT eval_id, arm, p.tokens AS tokens, round(avg(p.eval_loss), 4) AS eval_loss, count(*) AS seeds
        FROM p GROUP BY ALL ORDER BY eval_id, arm, tokens
        """,
    )
    lines: dict[str, tuple[list[float], list[float]]] = {}
    for eval_id, arm, tokens, loss, _ in curves.rows:
        xs, ys = lines.setdefault(f"{arm} ({eval_id[:8]})", ([], []))
        xs.append(tokens)
        ys.append(loss)
    chart = charts.lines(lines, xlabel="training tokens", ylabel="eval loss (nats/token)")
    section.blocks += [Chart(chart, "Eval loss per arm during training", curves.key), arms, curves]
    return section
