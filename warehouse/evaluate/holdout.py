"""The held-out split: documents whose salted doc_id hash falls under a fixed threshold.

Every export leaves these documents out (``warehouse.export.dataset``), so the eval text, the
per-slice losses and the L4 items ``tierhouse evaluate`` scores never reach a training run. The
rule depends on the doc_id alone, so a document stays on its side of the split across builds, and
L4 items (which carry their source document's doc_id) fall on the same side as their evidence.
The rule has no dependencies, so the export can import it without importing torch.
"""

from __future__ import annotations

import hashlib

FRACTION = 0.1  #: share of documents held out
SALT = "tierhouse-holdout:"
#: the first 8 hex digits of md5(SALT || doc_id) compared as text: equal-length lowercase hex sorts as numbers
THRESHOLD = f"{int(FRACTION * 16**8):08x}"


def held_out_sql(column: str = "doc_id") -> str:
    """A DuckDB predicate: true when the row's ``column`` is in the held-out split."""
    return f"substr(md5('{SALT}' || {column}), 1, 8) < '{THRESHOLD}'"


def is_held_out(doc_id: str) -> bool:
    """The same rule in Python."""
    return hashlib.md5(f"{SALT}{doc_id}".encode()).hexdigest()[:8] < THRESHOLD


def describe() -> dict[str, object]:
    """What a manifest records about the split."""
    return {"fraction": FRACTION, "rule": f"md5('{SALT}' || doc_id)[:8] < '{THRESHOLD}'"}
