"""What the tiers hold at a build: the funnel, L1's rejections, the scorers, L3's edits and L4's verdicts."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from udfs.scorers.distill import report_path
from warehouse.duck import quote_literal
from warehouse.query import LakeConnection
from warehouse.report import charts
from warehouse.report.blocks import Chart, Examples, Note, Result, Section, run, slug
from warehouse.report.pins import Pins

EXAMPLES_PER_REASON = 3
EXAMPLE_CHARS = 240

_FUNNEL_TIERS = (
    ("L0 raw", "tiers.l0_raw", "true"),
    ("L1 kept", "tiers.l1_clean", "kept"),
    ("L2 selected", "tiers.l2_selected", "true"),
    ("L3 refined", "tiers.l3_refined", "true"),
)


def _missing(pins: Pins, *names: str) -> str | None:
    absent = [n for n in names if not pins.exists(n)]
    return (
        f"no data: {', '.join(absent)} {'has' if len(absent) == 1 else 'have'} no snapshot in this lake"
        if absent
        else None
    )


def _pivot(result: Result, row: str, column: str, value: str) -> tuple[list[str], dict[str, list[float]]]:
    """Rows of (row, column, value) as categories and one series per column."""
    idx = {c: i for i, c in enumerate(result.columns)}
    categories = list(dict.fromkeys(r[idx[row]] for r in result.rows))
    series: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(categories))
    for r in result.rows:
        series[r[idx[column]]][categories.index(r[idx[row]])] = float(r[idx[value]] or 0)
    return categories, dict(series)


def funnel(con: LakeConnection, pins: Pins) -> Section:
    """Documents per tier, per source and per language: where the corpus narrows."""
    section = Section("funnel", "Tier funnel, L0 to L4")
    if missing := _missing(pins, "tiers.l0_raw", "tiers.l1_clean"):
        section.missing = missing
        return section
    parts = [
        f"SELECT '{label}' AS tier, source, count(*) AS documents FROM {pins.at(name)} WHERE {where} GROUP BY ALL"
        for label, name, where in _FUNNEL_TIERS
        if pins.exists(name)
    ]
    if pins.exists("tiers.l4_knowledge"):
        parts.append(
            f"SELECT 'L4 QA pairs' AS tier, source, count(*) FROM {pins.at('tiers.l4_knowledge')} GROUP BY ALL"
        )
    by_source = run(
        con, "funnel-source", "Documents per tier and source", "\nUNION ALL ".join(parts) + "\nORDER BY source, tier"
    )
    sources, series = _pivot(by_source, "source", "tier", "documents")
    section.blocks += [
        Chart(
            charts.bars(sources, series, xlabel="documents (log scale)", ylabel="source", log=True),
            "Documents per source in each tier, log scale",
            by_source.key,
        ),
        by_source,
    ]
    joins = [
        ("L2 selected", "tiers.l2_selected"),
        ("L3 refined", "tiers.l3_refined"),
        ("L4 QA pairs", "tiers.l4_knowledge"),
    ]
    language = [
        f"SELECT 'L1 all' AS tier, language, count(*) AS documents FROM {pins.at('tiers.l1_clean')} GROUP BY ALL",
        f"SELECT 'L1 kept', language, count(*) FROM {pins.at('tiers.l1_clean')} WHERE kept GROUP BY ALL",
    ]
    language += [
        f"SELECT '{label}', l1.language, count(*) FROM {pins.at(name, 't')}\n"
        f"  JOIN {pins.at('tiers.l1_clean', 'l1')} USING (doc_id) GROUP BY ALL"
        for label, name in joins
        if pins.exists(name)
    ]
    by_language = run(
        con,
        "funnel-language",
        "Documents per tier and language (L1's language ID)",
        "\nUNION ALL ".join(language) + "\nORDER BY language, tier",
    )
    section.blocks.append(by_language)
    return section


def rejections(con: LakeConnection, pins: Pins) -> Section:
    """Why L1 rejected documents, per rule and source, with a few examples of each."""
    section = Section("rejections", "Rejections per rule and source")
    if missing := _missing(pins, "tiers.l1_clean"):
        section.missing = missing
        return section
    l1 = pins.at("tiers.l1_clean")
    counts = run(
        con,
        "rejections-rule",
        "L1 documents rejected, per rule and source (a document may break several)",
        f"""
            SELECT reason, source, count(*) AS documents
            FROM (SELECT source, unnest(reject_reasons) AS reason FROM {l1})
            GROUP BY ALL ORDER BY documents DESC, reason, source
            """,
    )
    if not counts.rows:
        section.missing = "no data: L1 rejected no document at this build"
        return section
    reasons, series = _pivot(counts, "reason", "source", "documents")
    section.blocks += [
        Chart(
            charts.bars(reasons, series, xlabel="documents rejected (log scale)", ylabel="rule", log=True),
            "Documents rejected per L1 rule, one bar per source",
            counts.key,
        ),
        counts,
    ]
    for reason in reasons:
        listing = (
            f"SELECT doc_id, source, uri, text FROM {l1}\nWHERE list_contains(reject_reasons, "
            f"{quote_literal(reason)})\nORDER BY doc_id"
        )
        rows = con.execute(f"{listing}\nLIMIT {EXAMPLES_PER_REASON}").fetchall()
        cut = [{"doc_id": d, "source": s, "uri": u, "text": _cut(t)} for d, s, u, t in rows]
        section.blocks.append(Examples(f"examples-{slug(reason)}", f"Examples: {reason}", listing, cut))
    return section


def _cut(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= EXAMPLE_CHARS else f"{text[:EXAMPLE_CHARS]}… ({len(text):,} chars)"


def scores(con: LakeConnection, pins: Pins, models_dir: Path) -> Section:
    """Each scorer's distribution, the LLM judge beside the classifier distilled from it, and their agreement."""
    section = Section("scores", "Scores: LLM judges and distilled classifiers")
    if missing := _missing(pins, "ops.scores"):
        section.missing = missing
        return section
    table = pins.at("ops.scores")
    summary = run(
        con,
        "scores-summary",
        "Scores per scorer, model and status: a judge's quantiles beside its classifier's",
        f"""
            SELECT scorer, model, status, count(*) AS texts, round(avg(score), 3) AS mean,
                   round(quantile_cont(score, 0.1), 3) AS p10, round(quantile_cont(score, 0.5), 3) AS p50,
                   round(quantile_cont(score, 0.9), 3) AS p90
            FROM {table} GROUP BY ALL ORDER BY scorer, model, status
            """,
    )
    if not summary.rows:
        section.missing = "no data: ops.scores holds no score at this build"
        return section
    values = run(
        con,
        "scores-values",
        "Scores plotted (status ok)",
        f"SELECT scorer, score FROM {table} WHERE status = 'ok' AND score IS NOT NULL ORDER BY scorer",
    )
    samples: dict[str, list[float]] = defaultdict(list)
    for scorer, score in values.rows:
        samples[scorer].append(float(score))
    for judge in sorted(s for s in samples if not s.endswith("-distilled")):
        pair = {k: samples[k] for k in (judge, f"{judge}-distilled") if samples.get(k)}
        xlabel = f"{judge} score"
        if judge == "perplexity":  # a heavy tail (clean prose near 6, spam near 100): bins of its logarithm
            pair, xlabel = {k: [math.log10(max(v, 1e-9)) for v in vs] for k, vs in pair.items()}, "log10 perplexity"
        section.blocks.append(
            Chart(charts.histograms(pair, xlabel=xlabel), f"Histogram of {' and '.join(pair)} scores", values.key)
        )
    section.blocks.append(summary)
    agreement = run(
        con,
        "scores-agreement",
        "Judge against distilled classifier, on texts both scored",
        f"""
            SELECT j.scorer AS judge, d.scorer AS classifier, count(*) AS texts,
                   round(corr(j.score, d.score), 3) AS pearson,
                   round(avg(abs(j.score - d.score)), 3) AS mean_abs_diff,
                   round(avg((j.label = d.label)::INT), 3) AS same_label
            FROM {pins.at("ops.scores", "j")}
            JOIN {pins.at("ops.scores", "d")}
              ON d.content_hash = j.content_hash AND d.scorer = j.scorer || '-distilled'
            WHERE j.status = 'ok' AND d.status = 'ok' GROUP BY ALL ORDER BY judge
            """,
    )
    if agreement.rows:
        section.blocks.append(agreement)
    else:
        section.blocks.append(
            Note(
                "No text was scored by both a judge and its distilled classifier at this build "
                "(the classifier scores the texts the judge did not label)."
            )
        )
    section.blocks += _training_reports(models_dir, {r[1] for r in summary.rows if r[0].endswith("-distilled")})
    return section


def _training_reports(models_dir: Path, models: set[str]) -> list[Note]:
    """The agreement each classifier of this build measured on labels it was not trained on (a file, not SQL)."""
    notes = []
    for model in sorted(models):
        path = report_path(model, models_dir)
        if path is None:
            continue
        saved = json.loads(path.read_text())
        keys = ("labels", "folds", "n_train", "n_test", "spearman", "within_one", "accuracy")
        shown = {k: saved.get(k) for k in keys}
        described = ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items() if v is not None
        )
        notes.append(Note(f"Training report {path.name} (out-of-fold or held-out LLM labels): {described}."))
    return notes


def edits(con: LakeConnection, pins: Pins) -> Section:
    """What became of L3's LLM edits: accepted, rejected by a guard, failed, not needed, pending."""
    section = Section("edits", "L3 edit outcomes")
    if missing := _missing(pins, "tiers.l3_refined"):
        section.missing = missing
        return section
    result = run(
        con,
        "edits-outcome",
        "L3 documents per edit outcome and source",
        f"""
            SELECT coalesce(llm_edit, 'none') AS outcome, source, count(*) AS documents
            FROM {pins.at("tiers.l3_refined")} GROUP BY ALL ORDER BY outcome, source
            """,
    )
    if not result.rows:
        section.missing = "no data: L3 holds no document at this build"
        return section
    outcomes, series = _pivot(result, "outcome", "source", "documents")
    section.blocks += [
        Chart(
            charts.bars(outcomes, series, xlabel="documents (log scale)", ylabel="edit outcome", log=True),
            "L3 documents per edit outcome, per source",
            result.key,
        ),
        result,
    ]
    return section


def verdicts(con: LakeConnection, pins: Pins) -> Section:
    """Every QA pair tried, with its verdict; only verified ones reach L4."""
    section = Section("verdicts", "L4 verdicts")
    if missing := _missing(pins, "ops.qa"):
        section.missing = missing
        return section
    result = run(
        con,
        "verdicts-qa",
        "QA pairs per verdict (ops.qa; verified pairs enter L4)",
        f"""
            SELECT coalesce(verdict, status) AS verdict, count(*) AS pairs,
                   round(avg(confidence), 3) AS mean_agreement
            FROM {pins.at("ops.qa")} GROUP BY ALL ORDER BY pairs DESC, verdict
            """,
    )
    if not result.rows:
        section.missing = "no data: no QA pair was tried by this build"
        return section
    names = [r[0] for r in result.rows]
    section.blocks += [
        Chart(
            charts.bars(names, {"pairs": [r[1] for r in result.rows]}, xlabel="QA pairs", ylabel="verdict"),
            "QA pairs per verdict",
            result.key,
        ),
        result,
    ]
    if pins.exists("tiers.l4_knowledge"):
        section.blocks.append(
            run(
                con,
                "verdicts-l4",
                "L4 pairs per source and verdict",
                f"SELECT source, verdict, count(*) AS pairs FROM {pins.at('tiers.l4_knowledge')} "
                "GROUP BY ALL ORDER BY source, verdict",
            )
        )
    return section
