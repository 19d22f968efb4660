"""How many tokens each slice contributes: the weights, the budget, and a rule for short slices.

Each slice is asked for ``budget * weight`` tokens. A slice that holds fewer can give at most
its tokens (``renormalise``) or its tokens repeated up to ``max_repeat`` times (``repeat``); what
it cannot give goes to the slices that still have room, in proportion to their weights (water
filling), so the budget is met whenever the slices together can meet it. Without a budget, the
budget is the largest one every weighted slice meets without repeating a document. A slice takes
documents in its seeded order until it reaches its target, so it overshoots by less than one document.
"""

from __future__ import annotations

from collections.abc import Mapping


def default_budget(weights: Mapping[str, float], available: Mapping[str, int]) -> int:
    """The largest budget that every weighted slice holding anything covers from its own tokens, once
    (an empty slice's weight goes to the others)."""
    ratios = [available[k] / w for k, w in weights.items() if w > 0 and available.get(k, 0) > 0]
    return int(min(ratios)) if ratios else 0


def allocate(
    weights: Mapping[str, float], available: Mapping[str, int], budget: int, overflow: str, max_repeat: int
) -> dict[str, float]:
    """Target tokens per slice (see the module docstring); slices with no room get what they have."""
    capacity = {k: available.get(k, 0) * (max_repeat if overflow == "repeat" else 1) for k in weights}
    targets: dict[str, float] = {}
    active = {k for k, w in weights.items() if w > 0}
    remaining = float(budget)
    while active:
        total = sum(weights[k] for k in active)
        wanted = {k: remaining * weights[k] / total for k in active}
        short = {k for k in active if wanted[k] > capacity[k]}
        if not short:
            targets.update(wanted)
            break
        for k in short:
            targets[k] = float(capacity[k])
            remaining -= capacity[k]
        active -= short
    return {k: targets.get(k, 0.0) for k in weights}
