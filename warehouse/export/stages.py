"""Training stages and their default mixtures, read from the one config home: dbt var ``export_stages``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from warehouse.export.slices import MixtureError, normalise

OVERFLOW = ("renormalise", "repeat")


@dataclass(frozen=True)
class Stage:
    """A stage's defaults: slice weights and what a slice short of tokens does (renormalise or repeat)."""

    name: str
    weights: dict[str, float]
    overflow: str = "renormalise"
    max_repeat: int = 1

    def __post_init__(self) -> None:
        if self.overflow not in OVERFLOW:
            raise MixtureError(f"stage {self.name}: overflow {self.overflow!r} is not one of {', '.join(OVERFLOW)}")
        if self.max_repeat < 1:
            raise MixtureError(f"stage {self.name}: max_repeat must be >= 1, not {self.max_repeat}")


def load_stages(project_dir: Path) -> dict[str, Stage]:
    """Every stage of ``dbt_project.yml``'s ``export_stages`` var."""
    path = project_dir / "dbt_project.yml"
    config: dict[str, Any] = (yaml.safe_load(path.read_text()).get("vars") or {}).get("export_stages") or {}
    if not config:
        raise MixtureError(f"{path} defines no export_stages var")
    stages = {}
    for name, spec in config.items():
        unknown = set(spec) - {"mix", "overflow", "max_repeat"}
        if unknown:
            raise MixtureError(f"{path}: export_stages.{name} has unknown keys {sorted(unknown)}")
        stages[name] = Stage(
            name,
            normalise({str(k): float(v) for k, v in spec["mix"].items()}),
            str(spec.get("overflow", "renormalise")),
            int(spec.get("max_repeat", 1)),
        )
    return stages
