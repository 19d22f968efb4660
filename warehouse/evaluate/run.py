"""One evaluation: export every arm for every seed, train each, score each on the same held-out data."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from pyiceberg.catalog import Catalog

from warehouse.evaluate import holdout
from warehouse.evaluate.metrics import cloze_accuracy, losses, summarise, unigram_loss
from warehouse.evaluate.model import ModelConfig, TinyLM
from warehouse.evaluate.results import Run, config_key, record, recorded, run_row, summary_row
from warehouse.evaluate.streams import (
    Arm,
    EvaluateError,
    export_arm,
    held_out_docs,
    held_out_qa,
    read_eval,
    refuse_leaks,
    token_stream,
    training_records,
)
from warehouse.evaluate.train import TrainConfig, set_determinism, stream_loss, train
from warehouse.export.dataset import ExportResult
from warehouse.export.tokenizer import default_tokenizer

FEEDBACK_ARM = "mixed"  #: the arm whose per-slice losses are the feedback signal: it trained on the mixture


@dataclass(frozen=True)
class Plan:
    """What to run: arms, seeds, the budget, the eval file, model and training settings."""

    arms: list[Arm]
    seeds: list[int]
    tokens: int
    eval_path: Path
    mixture: Mapping[str, float]  #: the mixed arm's weights; its slices are the per-slice eval slices
    mixture_label: str
    as_of: str | None = None
    slice_tokens: int = 16_384  #: held-out tokens scored per slice
    eval_tokens: int = 65_536  #: eval-file tokens scored at the end (the curve probes its first 8,192)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class Evaluation:
    """The result: its id, every run, per-arm summaries (mean, ci95, n) and the feedback signal."""

    eval_id: str
    build_id: int
    runs: list[Run]
    summaries: dict[str, dict[str, Any]]
    feedback: dict[str, float]


def _manifest_ref(export: ExportResult) -> dict[str, Any]:
    m = export.manifest
    return {
        "export_id": export.export_id,
        "path": str(export.folder),
        "sha256": hashlib.sha256((export.folder / "manifest.json").read_bytes()).hexdigest(),
        "build": m["build"]["tag"],
        "mixture": m["mixture"]["name"],
        "seed": m["seed"],
        "tokens": m["tokens"]["exported"],
        "shares": {k: s["share"] for k, s in m["slices"].items()},
    }


def _by(docs: Sequence[Any], key: str, tokenizer: Any, limit: int) -> dict[str, np.ndarray]:
    groups: dict[str, list[str]] = {}
    for d in docs:
        groups.setdefault(d.slice if key == "slice" else f"{d.tier}/{d.source}", []).append(d.text)
    return {k: token_stream(texts, tokenizer, limit) for k, texts in sorted(groups.items())}


@dataclass(frozen=True)
class _Scored:
    """What every run is scored on: the eval file's tokens, the held-out slices, sources and L4 items."""

    tokenizer: Any
    eval_stream: np.ndarray
    slices: dict[str, np.ndarray]
    sources: dict[str, np.ndarray]
    qa: list[tuple[str, str]]


def _train_one(plan: Plan, arm: Arm, seed: int, export: ExportResult, scored: _Scored, show: bool | None) -> Run:
    """Train ``arm`` with ``seed`` on its export and score it on every held-out stream."""
    stream = token_stream((t for _, t in training_records(export, arm.staged)), scored.tokenizer)
    started = time.perf_counter()
    set_determinism(seed, plan.train.threads)
    model = TinyLM(plan.model)
    probe = scored.eval_stream[: 8_192 + 1]
    curve = train(model, stream, plan.tokens, plan.train, lambda: stream_loss(model, probe)[0],
                  f"{arm.name} seed {seed}", show)  # fmt: skip
    loss, count = stream_loss(model, scored.eval_stream)
    metrics: dict[str, Any] = {
        "eval_loss": loss,
        "eval_ppl": math.exp(loss),
        "eval_tokens": count,
        "unigram_eval_loss": unigram_loss(stream[: plan.tokens], scored.eval_stream, plan.model.vocab),
        "slices": losses(model, scored.slices),
        "sources": losses(model, scored.sources),
        "epochs": plan.tokens / max(1, len(stream)),
    }
    if scored.qa:
        metrics["l4_cloze_accuracy"] = cloze_accuracy(model, scored.qa, scored.tokenizer, seed)
        metrics["l4_items"] = len(scored.qa)
    metrics["train_seconds"] = time.perf_counter() - started
    return Run(arm.name, seed, metrics, curve, [_manifest_ref(export)], metrics["train_seconds"])


def evaluate(
    catalog: Catalog, plan: Plan, out: Path, show: bool | None = None, eval_id: str | None = None
) -> Evaluation:
    """Run ``plan``; exports go under ``out``. Each arm and seed's row is appended to ``ops.evaluations`` as
    soon as it is trained; those ``eval_id`` already holds are read back instead of trained again, so a long
    evaluation can run in pieces. Then a summary row per arm that trained anything new or has none over
    this many seeds yet (its runs may have been trained by a piece killed before its summaries)."""
    tokenizer = default_tokenizer()
    build_id, docs = held_out_docs(catalog, plan.mixture, plan.as_of, plan.slice_tokens * 8)
    as_of = f"build-{build_id}"  # every arm and seed reads the same build, even if a new one lands meanwhile
    texts = read_eval(plan.eval_path)
    eval_stream = token_stream((t for _, t in texts), tokenizer, plan.eval_tokens)
    if len(eval_stream) <= plan.model.context:
        raise EvaluateError(f"--eval {plan.eval_path}: {len(eval_stream)} tokens, fewer than one window "
                            f"of {plan.model.context + 1}")  # fmt: skip
    qa = held_out_qa(catalog, build_id)
    config = {
        "as_of": as_of,
        "tokens": plan.tokens,
        "mixture": {"name": plan.mixture_label, "weights": dict(plan.mixture)},
        "model": plan.model.describe(),
        "train": plan.train.describe(),
        "tokenizer": tokenizer.describe(),
        "holdout": holdout.describe(),
        "eval_file": {"path": str(plan.eval_path), "sha256": hashlib.sha256(plan.eval_path.read_bytes()).hexdigest()},
        "slice_tokens": plan.slice_tokens,
        "eval_tokens": plan.eval_tokens,
        "l4_items": len(qa),
        "torch": version("torch"),
    }
    config = json.loads(json.dumps(config))  # as ops.evaluations stores it (tuples become lists), to compare
    eval_id = eval_id or config_key(config)
    stored = recorded(catalog, eval_id)
    if stored.config is not None and stored.config != config:
        differ = sorted(k for k in config.keys() | stored.config.keys() if config.get(k) != stored.config.get(k))
        raise EvaluateError(f"evaluation {eval_id} was recorded with other settings ({', '.join(differ)} differ); "
                            "give another --eval-id")  # fmt: skip
    scored = _Scored(tokenizer, eval_stream, _by(docs, "slice", tokenizer, plan.slice_tokens),
                     _by(docs, "source", tokenizer, plan.slice_tokens), qa)  # fmt: skip
    exports: dict[tuple[str, int], ExportResult] = {}
    fresh: set[str] = set()
    done = stored.runs
    for seed in plan.seeds:
        for arm in plan.arms:
            if (arm.name, seed) in done:
                continue
            key = (arm.export_key, seed)
            if key not in exports:
                exports[key] = export_arm(catalog, arm, as_of, plan.tokens, seed, out, bool(show))
                refuse_leaks(plan.eval_path, texts, exports[key])
            run = _train_one(plan, arm, seed, exports[key], scored, show)
            record(catalog, [run_row(eval_id, run, plan.tokens, config, as_of, datetime.now(UTC))])
            done[arm.name, seed] = run
            fresh.add(arm.name)

    runs = [done[a.name, s] for s in plan.seeds for a in plan.arms]
    summaries = {arm.name: summarise([r.metrics for r in runs if r.arm == arm.name]) for arm in plan.arms}
    at = datetime.now(UTC)
    stale = [a.name for a in plan.arms if a.name in fresh or len(plan.seeds) not in stored.summarised.get(a.name, ())]
    record_rows = [summary_row(eval_id, a, [r for r in runs if r.arm == a], summaries[a], plan.tokens, config, as_of,
                               at) for a in stale]  # fmt: skip
    if record_rows:
        record(catalog, record_rows)
    feedback = {}
    if FEEDBACK_ARM in summaries:
        feedback = {k: summaries[FEEDBACK_ARM][f"slices.{k}"]["mean"] for k in plan.mixture
                    if f"slices.{k}" in summaries[FEEDBACK_ARM]}  # fmt: skip
    return Evaluation(eval_id, build_id, runs, summaries, feedback)
