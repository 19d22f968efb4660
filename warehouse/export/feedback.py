"""Feedback from a training run, and the next mixture it proposes.

A feedback file gives a loss per slice (the slices of the mixture it trained on): CSV with columns
``slice,loss[,reference_loss]``, or JSON, either a list of such objects or ``{slice: loss}`` /
``{slice: {"loss": .., "reference_loss": ..}}``. Other columns are kept but not used.

The rule is DoReMi's excess-loss reweighting, taken one bounded step at a time:

1. excess_i = loss_i - reference_i, where reference_i is the slice's reference loss (a reference
   model's, as in DoReMi) or, when the file gives none, the mixture's weighted mean loss;
2. p_i ∝ w_i · exp(eta · excess_i): slices the model finds harder than their reference gain weight;
3. p_i ← (1 - k · floor) · p_i + floor over the k slices, so every slice keeps at least ``floor``;
4. w'_i = w_i + a · (p_i - w_i), with the largest a ≤ 1 that moves no weight by more than ``max_step``.

A slice the file does not mention has excess 0. Each step is a convex combination of two weight
vectors that sum to 1, so the result sums to 1, and stays at or above ``floor`` once it was.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from warehouse.export.slices import MixtureError

RULE = "doremi-excess-loss"


@dataclass(frozen=True)
class Rule:
    """The reweighting rule's parameters: learning rate, largest move per weight, smallest weight."""

    eta: float = 1.0
    max_step: float = 0.1
    floor: float = 0.02

    def __post_init__(self) -> None:
        if self.eta <= 0 or not 0 < self.max_step <= 1 or self.floor < 0:
            raise MixtureError(f"feedback rule needs eta > 0, 0 < max_step <= 1, floor >= 0; got {self}")

    def describe(self) -> dict[str, Any]:
        return {"rule": RULE, **asdict(self)}


@dataclass(frozen=True)
class Signal:
    """One slice's loss, and its reference loss if the file gives one."""

    loss: float
    reference: float | None = None


def _number(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise MixtureError(f"{where}: {value!r} is not a number") from exc
    if not math.isfinite(number):
        raise MixtureError(f"{where}: {value!r} is not a finite number")
    return number


def _signal(record: Mapping[str, Any], where: str) -> Signal:
    if "loss" not in record:
        raise MixtureError(f"{where}: no 'loss' given")
    ref = record.get("reference_loss")
    return Signal(_number(record["loss"], where), None if ref in (None, "") else _number(ref, where))


def read_feedback(path: Path) -> tuple[dict[str, Signal], str]:
    """The signals in a CSV or JSON feedback file, and the file's sha256; errors name file and row."""
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    text = raw.decode("utf-8-sig")
    signals: dict[str, Signal] = {}
    if path.suffix.lower() == ".json" or text.lstrip()[:1] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MixtureError(f"feedback {path}: invalid JSON ({exc})") from exc
        if isinstance(data, Mapping):
            items = [(k, v if isinstance(v, Mapping) else {"loss": v}) for k, v in data.items()]
        elif isinstance(data, list):
            items = [(r.get("slice") if isinstance(r, Mapping) else None, r) for r in data]
        else:
            raise MixtureError(f"feedback {path}: expected a JSON object or list, not {type(data).__name__}")
        for i, (key, record) in enumerate(items):
            if not key or not isinstance(record, Mapping):
                raise MixtureError(f"feedback {path} entry {i + 1}: needs a slice and a loss")
            signals[str(key)] = _signal(record, f"feedback {path} slice {key}")
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "slice" not in reader.fieldnames:
            raise MixtureError(f"feedback {path}: a CSV needs a header with 'slice' and 'loss'")
        for line, record in enumerate(reader, start=2):
            signals[record["slice"].strip()] = _signal(record, f"feedback {path} line {line}")
    if not signals:
        raise MixtureError(f"feedback {path}: no slices in it")
    return signals, digest


def propose(weights: Mapping[str, float], signals: Mapping[str, Signal], rule: Rule) -> dict[str, float]:
    """The next weights under the module's rule; an unknown slice in ``signals`` is an error."""
    unknown = sorted(set(signals) - set(weights))
    if unknown:
        raise MixtureError(f"feedback names slices the mixture lacks: {unknown}; its slices: {sorted(weights)}")
    k = len(weights)
    if rule.floor * k > 1:
        raise MixtureError(f"floor {rule.floor} is too high for {k} slices (at most {1 / k:.4f})")
    mass = sum(weights[key] for key in signals)
    mean = (
        sum(weights[key] * s.loss for key, s in signals.items()) / mass
        if mass > 0
        else sum(s.loss for s in signals.values()) / len(signals)
    )
    excess = dict.fromkeys(weights, 0.0)
    for key, s in signals.items():
        excess[key] = s.loss - (s.reference if s.reference is not None else mean)
    peak = max(excess.values())
    raw = {key: weights[key] * math.exp(rule.eta * (excess[key] - peak)) for key in weights}
    total = sum(raw.values()) or 1.0
    target = {key: (1 - k * rule.floor) * raw[key] / total + rule.floor for key in weights}
    largest = max(abs(target[key] - weights[key]) for key in weights)
    step = 1.0 if largest <= rule.max_step else rule.max_step / largest
    return {key: weights[key] + step * (target[key] - weights[key]) for key in weights}
