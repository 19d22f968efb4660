"""Scores of a trained model, a baseline to beat, and means with confidence intervals over seeds."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from scipy import stats

from warehouse.evaluate.model import TinyLM
from warehouse.evaluate.train import stream_loss
from warehouse.export.tokenizer import Tokenizer

CHOICES = 4  #: answers per cloze item: the right one and three other held-out items' answers


def unigram_loss(train: np.ndarray, evaluate: np.ndarray, vocab: int) -> float:
    """Nats per token on ``evaluate`` of the add-one unigram model of ``train``: the floor a model must beat."""
    counts = np.bincount(train, minlength=vocab).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[evaluate].mean())


@torch.no_grad()
def _answer_logprob(model: TinyLM, prompt: list[int], answer: list[int]) -> float:
    """Mean log p of the answer's tokens after the prompt (the prompt's start is cut to fit the context)."""
    ids = (prompt + answer)[-(model.config.context + 1) :]
    model.eval()
    logp = model.token_logprobs(torch.tensor([ids]))[0, -len(answer) :]
    model.train()
    return float(logp.mean())


def cloze_accuracy(model: TinyLM, items: Sequence[tuple[str, str]], tokenizer: Tokenizer, seed: int) -> float | None:
    """Share of held-out L4 questions whose own answer the model ranks first among ``CHOICES``
    (the others drawn, seeded, from the other items' answers); chance is 1/CHOICES. None below 2 items."""
    if len(items) < 2:
        return None
    rng = random.Random(seed)
    right = 0
    for i, (question, answer) in enumerate(items):
        others = [a for j, (_, a) in enumerate(items) if j != i and a != answer]
        options = [answer, *rng.sample(others, min(CHOICES - 1, len(others)))]
        prompt = tokenizer.encode(f"Question: {question}\nAnswer:")
        scores = [_answer_logprob(model, prompt, tokenizer.encode(" " + option)[: model.config.context // 2])
                  for option in options]  # fmt: skip
        right += int(int(np.argmax(scores)) == 0)
    return right / len(items)


def losses(model: TinyLM, streams: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Nats per token on each named stream that is long enough for one window."""
    out = {}
    for key, stream in streams.items():
        loss, count = stream_loss(model, stream)
        if count:
            out[key] = loss
    return out


def _flatten(metrics: Mapping[str, object], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            flat |= _flatten(value, f"{prefix}{key}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = float(value)
    return flat


def summarise(per_seed: Sequence[Mapping[str, object]]) -> dict[str, dict[str, float | int | None]]:
    """Every numeric metric (nested keys joined by '.'): mean, the 95% Student-t half-width over seeds
    (None for one seed) and n."""
    flats = [_flatten(m) for m in per_seed]
    out: dict[str, dict[str, float | int | None]] = {}
    for key in sorted(set().union(*flats)):
        values = np.array([f[key] for f in flats if key in f])
        half = None
        if len(values) > 1:
            half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
        out[key] = {"mean": float(values.mean()), "ci95": half, "n": int(len(values))}
    return out
