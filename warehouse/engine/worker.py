"""The Ray actor that runs L1's operators on a batch and writes the results as one Parquet data file.

Each actor opens the catalog and loads lid.176 once, then measures batch after batch; only the
data file's path and row count go back to the driver, which commits it (``warehouse.engine.l1``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from udfs import langid
from udfs.registry import apply
from warehouse.engine.job import ChunkWriter
from warehouse.engine.plan import EXTRACT, FLAGS, L1Plan, flag_key
from warehouse.tables import MEASURES


class Measurer(ChunkWriter):
    """Measure L0 documents (``mode="extract"``) or re-judge stored L1 texts (``mode="flags"``)."""

    def __init__(self, catalog_kwargs: dict[str, str], plan: L1Plan, mode: str) -> None:
        super().__init__(catalog_kwargs, MEASURES)
        self.plan, self.mode = plan, mode
        self.flagged = set(plan.flagged)  # and those this actor wrote: texts that several documents share
        langid.identify("warm up")  # the model loads once per actor, not per batch

    def __call__(self, batch: pa.Table) -> pa.Table:
        extracting = self.mode == "extract"
        rows = self._extract(batch) if extracting else self._flags(batch)
        now = datetime.now(UTC)
        table = pa.Table.from_pylist([{**r, "worker": self.worker, "measured_at": now} for r in rows], self.schema)
        return self.chunk(table, batch.num_rows if extracting else len(rows))  # documents, or texts judged again

    def _extract(self, batch: pa.Table) -> list[dict[str, Any]]:
        extracted = apply("th_extract", batch.column("content"), batch.column("content_type"))
        texts = pc.struct_field(extracted, "text")
        languages = apply("th_language", texts)
        rows = [
            {"input_hash": doc, "operator": EXTRACT, "version": self.plan.extractor,
             "text": x["text"], "title": x["title"], "language_hint": x["language_hint"],
             "extraction_error": x["error"], "language": (lang or {}).get("language"),
             "language_score": (lang or {}).get("score")}
            for doc, x, lang in zip(
                batch.column("doc_id").to_pylist(), extracted.to_pylist(), languages.to_pylist(), strict=True
            )
        ]  # fmt: skip
        english = [(r["text"], s) for r, s in zip(rows, batch.column("source").to_pylist(), strict=True)
                   if r["language"] == "en"]  # fmt: skip
        hashes = apply("th_content_hash", pa.array([t for t, _ in english], pa.large_string())).to_pylist()
        return rows + self._judge((h, t, s) for h, (t, s) in zip(hashes, english, strict=True))

    def _flags(self, batch: pa.Table) -> list[dict[str, Any]]:
        columns = (batch.column(c).to_pylist() for c in ("content_hash", "text", "source"))
        todo = self.plan.todo
        return self._judge(
            (h, t, s) for h, t, s in zip(*columns, strict=True) if flag_key(h, self.plan.rules_for(s)[1]) in todo
        )

    def _judge(self, texts: Iterable[tuple[str, str, str]]) -> list[dict[str, Any]]:
        """Rule verdicts for (content hash, text, source) triples not judged yet under their source's rules."""
        pending = []
        for content_hash, text, source in texts:
            rules, key = self.plan.rules_for(source)
            if flag_key(content_hash, key) in self.flagged:
                continue
            self.flagged.add(flag_key(content_hash, key))
            pending.append((content_hash, text, rules, key))
        if not pending:
            return []
        hashes, texts_, rules, keys = map(list, zip(*pending, strict=True))
        flags = apply("th_quality_flags", pa.array(texts_, pa.large_string()), pa.array(rules)).to_pylist()
        return [
            {"input_hash": h, "operator": FLAGS, "version": k, "quality_flags": f}
            for h, k, f in zip(hashes, keys, flags, strict=True)
        ]
