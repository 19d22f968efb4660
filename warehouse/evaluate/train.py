"""The seeded training loop and the loss of a token stream, deterministic on CPU.

Determinism: the seed fixes the initial weights (``torch.manual_seed``) and the export fixes the
data order; ``torch.use_deterministic_algorithms`` and a fixed thread count make the kernels give
the same floats on every run on the same machine and torch build.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from warehouse.evaluate.model import ModelConfig, TinyLM
from warehouse.progress import progress_bar


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation: batch of ``batch`` windows, AdamW, linear warm-up then cosine decay to 10%."""

    batch: int = 8
    lr: float = 3e-3
    warmup: float = 0.05
    weight_decay: float = 0.1
    clip: float = 1.0
    curve_points: int = 10
    threads: int = 2

    def describe(self) -> dict[str, object]:
        return asdict(self)


def set_determinism(seed: int, threads: int) -> None:
    """Seed torch and pin the kernels and thread count (see the module docstring)."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)


def windows(stream: np.ndarray, context: int) -> torch.Tensor:
    """Cut a stream into consecutive (context+1)-token windows that overlap by one token; the tail is dropped."""
    n = (len(stream) - 1) // context
    idx = np.arange(n)[:, None] * context + np.arange(context + 1)[None, :]
    return torch.from_numpy(stream[idx].astype(np.int64))


@torch.no_grad()
def stream_loss(model: TinyLM, stream: np.ndarray, batch: int = 64) -> tuple[float, int]:
    """(mean negative log-likelihood in nats per token, tokens scored) of ``stream``."""
    model.eval()
    chunks = windows(stream, model.config.context)
    total, count = 0.0, 0
    for start in range(0, len(chunks), batch):
        logp = model.token_logprobs(chunks[start : start + batch])
        total -= float(logp.double().sum())
        count += logp.numel()
    model.train()
    return (total / count if count else math.nan), count


def train(
    model: TinyLM,
    stream: np.ndarray,
    tokens: int,
    config: TrainConfig,
    probe: Callable[[], float],
    label: str,
    show: bool | None = None,
) -> list[dict[str, float]]:
    """Train on exactly ``tokens`` tokens of ``stream`` in order (wrapping round if it is shorter).

    Returns the loss curve: the mean train loss since the previous point and ``probe()``'s eval loss,
    at ``curve_points`` evenly spaced steps.
    """
    mc: ModelConfig = model.config
    per_step = config.batch * mc.context
    steps = max(1, tokens // per_step)
    needed = steps * per_step + 1
    data = np.resize(stream, needed) if len(stream) < needed else stream[:needed]
    chunks = windows(data, mc.context)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.95),
                                  weight_decay=config.weight_decay)  # fmt: skip
    warm = max(1, int(steps * config.warmup))

    def rate(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.1 + 0.45 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    marks = {round(steps * (i + 1) / config.curve_points) - 1 for i in range(config.curve_points)}
    curve, running, seen = [], 0.0, 0
    model.train()
    with progress_bar(label, steps, unit="steps", enabled=show) as advance:
        for step in range(steps):
            loss = -model.token_logprobs(chunks[step * config.batch : (step + 1) * config.batch]).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimiser.step()
            schedule.step()
            running, seen = running + float(loss.detach()), seen + 1
            if step in marks:
                curve.append({"tokens": (step + 1) * per_step, "train_loss": running / seen, "eval_loss": probe()})
                running, seen = 0.0, 0
            advance(1)
    return curve
