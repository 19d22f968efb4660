"""One evaluation: export every arm for every seed, train each, score each on the same held-out data."""

from __future__ import annotations

import hashlib
import math
import time
import uuid
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
from warehouse.evaluate.results import Run, record, rows
from warehouse.evaluate.streams import (
    Arm,
    EvaluateError,
    export_arm,
    held_out_docs,
    held_out_qa,
    read_eval,
    text_digest,
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


def evaluate(catalog: Catalog, plan: Plan, out: Path, show: bool | None = None) -> Evaluation:
    """Run ``plan``; exports go under ``out``; results are appended to ``ops.evaluations``."""
    tokenizer = default_tokenizer()
    build_id, docs = held_out_docs(catalog, plan.mixture, plan.as_of, plan.slice_tokens * 8)
    as_of = f"build-{build_id}"  # every arm and seed reads the same build, even if a new one lands meanwhile
    slices = _by(docs, "slice", tokenizer, plan.slice_tokens)
    sources = _by(docs, "source", tokenizer, plan.slice_tokens)
    qa = held_out_qa(catalog, build_id)
    show_exports = bool(show)
    exports: dict[tuple[str, int], ExportResult] = {}
    for seed in plan.seeds:
        for arm in plan.arms:
            if (arm.export_key, seed) not in exports:
                exports[arm.export_key, seed] = export_arm(catalog, arm, as_of, plan.tokens, seed, out, show_exports)
    trained: set[str] = set()
    for export in exports.values():
        trained |= {text_digest(text) for _, text in training_records(export, False)}
    eval_stream = token_stream(read_eval(plan.eval_path, trained), tokenizer, plan.eval_tokens)
    if len(eval_stream) <= plan.model.context:
        raise EvaluateError(f"--eval {plan.eval_path}: {len(eval_stream)} tokens, fewer than one window "
                            f"of {plan.model.context + 1}")  # fmt: skip
    probe = eval_stream[: 8_192 + 1]

    runs = []
    for seed in plan.seeds:
        for arm in plan.arms:
            export = exports[arm.export_key, seed]
            stream = token_stream((t for _, t in training_records(export, arm.staged)), tokenizer)
            started = time.perf_counter()
            set_determinism(seed, plan.train.threads)
            model = TinyLM(plan.model)
            curve = train(model, stream, plan.tokens, plan.train, lambda m=model: stream_loss(m, probe)[0],
                          f"{arm.name} seed {seed}", show)  # fmt: skip
            loss, count = stream_loss(model, eval_stream)
            metrics: dict[str, Any] = {
                "eval_loss": loss,
                "eval_ppl": math.exp(loss),
                "eval_tokens": count,
                "unigram_eval_loss": unigram_loss(stream[: plan.tokens], eval_stream, plan.model.vocab),
                "slices": losses(model, slices),
                "sources": losses(model, sources),
                "epochs": plan.tokens / max(1, len(stream)),
            }
            if qa:
                metrics["l4_cloze_accuracy"] = cloze_accuracy(model, qa, tokenizer, seed)
                metrics["l4_items"] = len(qa)
            seconds = time.perf_counter() - started
            metrics["train_seconds"] = seconds
            runs.append(Run(arm.name, seed, metrics, curve, [_manifest_ref(export)], seconds))

    summaries = {arm.name: summarise([r.metrics for r in runs if r.arm == arm.name]) for arm in plan.arms}
    feedback = {}
    if FEEDBACK_ARM in summaries:
        feedback = {k: summaries[FEEDBACK_ARM][f"slices.{k}"]["mean"] for k in plan.mixture
                    if f"slices.{k}" in summaries[FEEDBACK_ARM]}  # fmt: skip
    eval_id = uuid.uuid4().hex[:16]
    config = {
        "arms": [a.name for a in plan.arms],
        "seeds": plan.seeds,
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
    record(catalog, rows(eval_id, runs, summaries, plan.tokens, config, as_of, datetime.now(UTC)))
    return Evaluation(eval_id, build_id, runs, summaries, feedback)
