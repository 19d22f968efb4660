"""The scorer functions SQL calls (registered by ``udfs.registry``); each takes whole columns.

th_scorer_id(config)                    -> the (name, model, prompt_version) a judge config scores as
th_judge(text, config, total)           -> one LLM judgement or perplexity per text (total sizes the progress bar)
th_distill(texts[], targets[], config)  -> the id of a classifier trained on a judge's labels, or NULL
th_classify(text, model)                -> a distilled classifier's score of each text
th_classifier_report(model)             -> how a distilled classifier agreed with its judge's labels
th_ask(text, question, config, total)   -> a verifier's answer to each question from its text alone
(a judge config whose prompt answers in text makes th_judge a generator: an edit, a QA pair)
"""

from __future__ import annotations

import json
import sys

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from udfs.scorers import config as scorer_config
from udfs.scorers.base import ScorerId

BATCH = 64  # texts per backend call, so the progress bar moves during a DuckDB vector of 2048
_bars: dict[str, tuple[Progress, int, list[int]]] = {}


def _advance(config: str, total: int, n: int) -> None:
    """One bar per judge config for the whole query, on stderr when it is a terminal."""
    if config not in _bars:
        bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        bar.disable = not sys.stderr.isatty()
        bar.start()
        name = scorer_config.judge_id(config)
        _bars[config] = (bar, bar.add_task(f"LLM {name.name} ({name.model})", total=total), [0])
    bar, task, done = _bars[config]
    bar.advance(task, n)
    done[0] += n
    if done[0] >= total:
        bar.stop()
        del _bars[config]


def _id(scorer: ScorerId) -> dict[str, str]:
    return {"name": scorer.name, "model": scorer.model, "prompt_version": scorer.prompt_version}


def scorer_ids(configs: list[str]) -> list[dict[str, str]]:
    return [_id(scorer_config.judge_id(c)) for c in configs]


def judge_texts(texts: list[str], configs: list[str], totals: list[int]) -> list[dict[str, object]]:
    return ask_texts(texts, None, configs, totals)


def ask_texts(
    texts: list[str], questions: list[str] | None, configs: list[str], totals: list[int]
) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    for start in range(0, len(texts), BATCH):
        config = configs[start]
        asked = questions[start : start + BATCH] if questions is not None else None
        scorer = scorer_config.judge(config)
        batch = texts[start : start + BATCH]
        scored = scorer.score(batch) if asked is None else scorer.score(batch, asked)
        results += [s.to_dict() for s in scored]
        _advance(config, int(totals[start]), len(scored))
    return results


def distill_lists(texts: list[list[str]], targets: list[list[str]], configs: list[str]) -> list[dict | None]:
    from udfs.scorers.distill import MIN_LABELS, distill  # scikit-learn loads only when a classifier is needed

    out = []
    for batch_texts, batch_targets, config in zip(texts, targets, configs, strict=True):
        teacher = scorer_config.judge_id(config)
        values = [float(t) for t in batch_targets] if scorer_config.is_numeric(config) else list(batch_targets)
        spec = json.loads(config)
        limits = spec.get("min_labels", MIN_LABELS), spec.get("retrain_share", 0.0)
        trained = distill(teacher, batch_texts, values, *limits)
        out.append(_id(trained) if trained else None)
    return out


def classifier_reports(models: list[str]) -> list[dict[str, object]]:
    """Each classifier's training report: its labels, and its out-of-fold Spearman (scores) or accuracy (labels)."""
    from udfs.scorers.distill import report

    saved = [report(m) for m in models]
    return [{k: r.get(k) for k in ("labels", "spearman", "accuracy")} for r in saved]


def classify_texts(texts: list[str], models: list[str]) -> list[dict[str, object]]:
    from udfs.scorers.distill import classifier

    results: list[dict[str, object]] = []
    for start in range(0, len(texts), 4096):
        results += [s.to_dict() for s in classifier(models[start]).score(texts[start : start + 4096])]
    return results
