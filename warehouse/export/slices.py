"""Mixture weights over slices of the tiers: a slice is a tier (``l2``) or a tier's source (``l2/sotu``).

Tiers nest (L3 holds L2's documents, L2 holds some of L1's kept ones), so a mixture exports each
document once, from the highest tier of the mixture that holds it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

#: export tier name -> (lake table, level); L1 exports only its kept rows
TIERS: dict[str, tuple[str, int]] = {
    "l1": ("tiers.l1_clean", 1),
    "l2": ("tiers.l2_selected", 2),
    "l3": ("tiers.l3_refined", 3),
    "l4": ("tiers.l4_knowledge", 4),
}


class MixtureError(ValueError):
    """A mixture that cannot be used: unknown tier, bad weight, or slices of different shapes."""


@dataclass(frozen=True)
class Slice:
    """One weighted part of a mixture: a whole tier, or one source within a tier."""

    tier: str
    source: str | None = None

    @property
    def key(self) -> str:
        return self.tier if self.source is None else f"{self.tier}/{self.source}"

    @classmethod
    def parse(cls, key: str) -> Slice:
        tier, _, source = key.strip().partition("/")
        if tier not in TIERS:
            raise MixtureError(f"unknown tier {tier!r} in slice {key!r}; tiers: {', '.join(TIERS)}")
        if _ and not source:
            raise MixtureError(f"slice {key!r} names no source after '/'")
        return cls(tier, source or None)


def normalise(weights: Mapping[str, float]) -> dict[str, float]:
    """Validate slice weights and scale them to sum to 1 (keys sorted, so equal mixtures compare equal)."""
    if not weights:
        raise MixtureError("a mixture needs at least one slice")
    for key, weight in weights.items():
        Slice.parse(key)
        if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise MixtureError(f"slice {key!r} has weight {weight!r}; weights are finite numbers >= 0")
    total = float(sum(weights.values()))
    if total <= 0:
        raise MixtureError("a mixture's weights must not all be 0")
    slices = [Slice.parse(k) for k in weights]
    if any(s.tier == "l4" for s in slices) and any(s.tier != "l4" for s in slices):
        raise MixtureError("l4 holds question/answer records: it cannot be mixed with document tiers")
    for tier in {s.tier for s in slices}:
        levels = {s.source is None for s in slices if s.tier == tier}
        if len(levels) > 1:
            raise MixtureError(f"tier {tier} is weighted both whole and per source; use one or the other")
    return {k.strip(): weights[k] / total for k in sorted(weights)}


def parse_mix(text: str) -> dict[str, float]:
    """``"l2:0.7,l3:0.3"`` (or ``"l2/sotu:1,l2/debian_handbook:2"``) as normalised weights."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.rpartition(":")
        if not sep or not key:
            raise MixtureError(f"mix entry {part!r} is not SLICE:WEIGHT (e.g. l2:0.7)")
        try:
            weights[key.strip()] = float(value)
        except ValueError as exc:
            raise MixtureError(f"mix entry {part!r}: weight {value!r} is not a number") from exc
    return normalise(weights)
