"""Mixtures as small versioned records in ``ops.mixtures``: ``NAME@VERSION`` -> slice weights.

A mixture names its parent and, when feedback proposed it, the feedback (file, digest, signals)
and the rule with its parameters, so ``tierhouse mixtures`` shows each mixture's lineage.
"""

from __future__ import annotations

import getpass
import json
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog

from warehouse.catalog import commit_with_retry
from warehouse.export.slices import MixtureError, normalise
from warehouse.tables import MIXTURES, ensure_table

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class StoredMixture:
    """One version of a named mixture."""

    name: str
    version: int
    stage: str
    weights: dict[str, float]
    created_at: datetime
    created_by: str | None
    parent: str | None
    feedback: dict[str, Any] | None
    rule: dict[str, Any] | None
    note: str | None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def list_mixtures(catalog: Catalog) -> list[StoredMixture]:
    """Every stored mixture version, by name then version."""
    table = ensure_table(catalog, MIXTURES)
    if table.metadata.current_snapshot_id is None:
        return []
    out = []
    for r in table.scan().to_arrow().to_pylist():
        out.append(
            StoredMixture(
                r["name"], r["version"], r["stage"], json.loads(r["weights"]), r["created_at"], r["created_by"],
                r["parent"], json.loads(r["feedback"]) if r["feedback"] else None,
                json.loads(r["rule"]) if r["rule"] else None, r["note"],
            )
        )  # fmt: skip
    return sorted(out, key=lambda m: (m.name, m.version))


def get_mixture(catalog: Catalog, ref: str) -> StoredMixture:
    """``NAME`` (its newest version) or ``NAME@VERSION``; the error lists what exists."""
    name, _, version = ref.partition("@")
    found = [m for m in list_mixtures(catalog) if m.name == name]
    if version:
        found = [m for m in found if str(m.version) == version]
    if not found:
        known = sorted({m.ref for m in list_mixtures(catalog)})
        raise MixtureError(f"no mixture {ref!r}; stored: {', '.join(known) or 'none (tierhouse mixtures create)'}")
    return found[-1]


def save_mixture(
    catalog: Catalog,
    name: str,
    stage: str,
    weights: Mapping[str, float],
    *,
    parent: str | None = None,
    feedback: Mapping[str, Any] | None = None,
    rule: Mapping[str, Any] | None = None,
    note: str | None = None,
) -> StoredMixture:
    """Store the next version of ``name`` (version 1 if new)."""
    if not _NAME.match(name) or "@" in name:
        raise MixtureError(f"mixture name {name!r}: use letters, digits, '_', '.', '-'")
    weights = {k: round(v, 6) for k, v in normalise(weights).items()}
    table = ensure_table(catalog, MIXTURES)

    def attempt() -> StoredMixture:
        table.refresh()
        versions = [m.version for m in list_mixtures(catalog) if m.name == name]
        mixture = StoredMixture(
            name, max(versions, default=0) + 1, stage, weights, datetime.now(UTC),
            f"{getpass.getuser()}@{socket.gethostname()}", parent, dict(feedback) if feedback else None,
            dict(rule) if rule else None, note,
        )  # fmt: skip
        row = {
            "name": mixture.name, "version": mixture.version, "stage": stage,
            "weights": json.dumps(weights, sort_keys=True), "created_at": mixture.created_at,
            "created_by": mixture.created_by, "parent": parent,
            "feedback": json.dumps(feedback, sort_keys=True) if feedback else None,
            "rule": json.dumps(rule, sort_keys=True) if rule else None, "note": note,
        }  # fmt: skip
        table.append(pa.Table.from_pylist([row], schema=MIXTURES.schema))
        return mixture

    return commit_with_retry(attempt)
