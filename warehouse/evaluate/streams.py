"""What each arm trains on and what every arm is scored on.

Training streams come from ``tierhouse export`` (one export per arm and seed, recorded in
``ops.exports`` like any other), so they never hold a held-out document. ``mixed`` and ``staged``
read the same export: ``staged`` only reorders its records, L1-L2 first and then L3, each part
in the export's shuffled order. Held-out documents are read from the build's tiers directly, each
in the highest tier of the mixture that holds it, as an export would assign it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog

from warehouse.duck import new_connection
from warehouse.evaluate.holdout import is_held_out
from warehouse.export.dataset import ExportResult, Mixture, candidates_sql, export_stage, tier_sql
from warehouse.export.pins import PinError, resolve_build
from warehouse.export.slices import TIERS, MixtureError, Slice
from warehouse.export.tokenizer import Tokenizer
from warehouse.publish import scan_sql

ARMS = ("l1", "l2", "l3", "mixed", "staged")
STAGE = "pretrain"  #: the export stage name the arms' exports are written under


class EvaluateError(ValueError):
    """An evaluation that cannot run as asked: unknown arm, unusable eval file, leaked eval text."""


@dataclass(frozen=True)
class Arm:
    """One training arm: the mixture it exports and whether its records are staged (L1-L2, then L3)."""

    name: str
    weights: dict[str, float]
    label: str
    staged: bool = False

    @property
    def export_key(self) -> str:
        """Arms that read the same export share a key (``mixed`` and ``staged``)."""
        return "mixed" if self.name in ("mixed", "staged") else self.name


@dataclass(frozen=True)
class Doc:
    """A held-out document: the slice it belongs to, its tier and source."""

    slice: str
    tier: str
    source: str
    doc_id: str
    text: str


def parse_arms(names: str, mix: Mapping[str, float], label: str) -> list[Arm]:
    """``"l1,l2,mixed"`` as arms; ``mix`` (weights over l1-l3 slices) is what mixed and staged train on."""
    tiers = {Slice.parse(k).tier for k in mix}
    if not tiers <= {"l1", "l2", "l3"}:
        raise MixtureError(f"the mixed arm mixes L1-L3 slices only, not {sorted(tiers - {'l1', 'l2', 'l3'})}")
    arms = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        if name not in ARMS:
            raise EvaluateError(f"unknown arm {name!r}; arms: {', '.join(ARMS)}")
        if name in ("mixed", "staged"):
            arms.append(Arm(name, dict(mix), label, staged=name == "staged"))
        else:
            arms.append(Arm(name, {name: 1.0}, f"evaluate:{name}"))
    if not arms or len({a.name for a in arms}) != len(arms):
        raise EvaluateError(f"--arms {names!r}: name each arm once, from {', '.join(ARMS)}")
    return arms


def export_arm(
    catalog: Catalog, arm: Arm, as_of: str | None, tokens: int, seed: int, out: Path, show: bool
) -> ExportResult:
    """The arm's export for ``seed``, to ``out/<export key>-seed<seed>/pretrain``."""
    return export_stage(catalog, STAGE, Mixture(arm.weights, arm.label), out / f"{arm.export_key}-seed{seed}",
                        as_of=as_of, tokens=tokens, seed=seed, overwrite=True, show_progress=show)  # fmt: skip


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def training_records(export: ExportResult, staged: bool) -> list[tuple[str, str]]:
    """(tier, text) of the export's records in training order."""
    records: list[tuple[str, str]] = []
    for shard in export.manifest["shards"]:
        table = pq.read_table(export.folder / shard["path"], columns=["tier", "text"])
        records += zip(table.column("tier").to_pylist(), table.column("text").to_pylist(), strict=True)
    if staged:  # stable: each stage keeps the export's shuffled order
        records.sort(key=lambda r: TIERS[r[0]][1] >= 3)
    return records


def token_stream(texts: Iterable[str], tokenizer: Tokenizer, limit: int | None = None) -> np.ndarray:
    """The texts' tokens, each text followed by EOS, cut to ``limit`` tokens."""
    ids: list[int] = []
    for text in texts:
        ids += tokenizer.encode(text)
        ids.append(tokenizer.eos)
        if limit is not None and len(ids) >= limit:
            break
    return np.asarray(ids[:limit] if limit is not None else ids, dtype=np.int32)


def held_out_docs(
    catalog: Catalog, weights: Mapping[str, float], as_of: str | None, chars_per_slice: int
) -> tuple[int, list[Doc]]:
    """(build id, held-out documents of each slice of ``weights``, in seeded hash order, about
    ``chars_per_slice`` characters of text per slice)."""
    tiers = sorted({Slice.parse(k).tier for k in weights})
    build_id, pins = resolve_build(catalog, as_of, [TIERS[t][0] for t in tiers])
    scans = {t: scan_sql(catalog.load_table(TIERS[t][0]), pins[TIERS[t][0]]) for t in tiers}
    texts = " UNION ALL ".join(f"SELECT '{t}' AS tier, * FROM ({tier_sql(t, scans[t])})" for t in tiers)
    rows = (
        new_connection()
        .execute(
            f"""WITH c AS ({candidates_sql(weights, scans, 0, held_out=True)}),
        t AS (SELECT c.slice, c.tier, c.source, c.doc_id, t.text, c.order_key, c.item_id
              FROM c JOIN ({texts}) t ON t.item_id = c.item_id AND t.tier = c.tier),
        r AS (SELECT *, sum(length(text)) OVER (PARTITION BY slice ORDER BY order_key, item_id) AS cum FROM t)
        SELECT slice, tier, source, doc_id, text FROM r WHERE cum - length(text) < {int(chars_per_slice)}
        ORDER BY slice, order_key, item_id"""
        )
        .fetchall()
    )
    return build_id, [Doc(*row) for row in rows]


def held_out_qa(catalog: Catalog, build_id: int) -> list[tuple[str, str]]:
    """(question, answer) of the build's L4 items whose documents are held out; none if L4 is not in the build."""
    try:
        _, pins = resolve_build(catalog, f"build-{build_id}", [TIERS["l4"][0]])
    except PinError:
        return []
    scan = scan_sql(catalog.load_table(TIERS["l4"][0]), pins[TIERS["l4"][0]])
    rows = new_connection().execute(f"SELECT doc_id, question, answer FROM {scan} ORDER BY qa_id").fetchall()
    return [(q, a) for doc_id, q, a in rows if is_held_out(doc_id)]


def read_eval(path: Path) -> list[tuple[int, str]]:
    """(line, text) of an eval file (JSONL with a ``text`` field, else the whole file is one text).

    A record whose ``doc_id`` is outside the held-out split is an error naming the file and line.
    """
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        records = [(1, {"text": raw})]
    else:
        records = []
        for line, body in enumerate(raw.splitlines(), start=1):
            if not body.strip():
                continue
            try:
                record = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise EvaluateError(f"--eval {path} line {line}: not JSON ({exc})") from exc
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise EvaluateError(f"--eval {path} line {line}: needs a string field 'text'")
            records.append((line, record))
    for line, record in records:
        doc_id = record.get("doc_id")
        if doc_id is not None and not is_held_out(str(doc_id)):
            raise EvaluateError(f"--eval {path} line {line}: doc_id {doc_id} is not in the held-out split")
    if not any(r["text"].strip() for _, r in records):
        raise EvaluateError(f"--eval {path}: no text in it")
    return [(line, r["text"]) for line, r in records]


def refuse_leaks(path: Path, texts: list[tuple[int, str]], export: ExportResult) -> None:
    """An eval text that ``export`` (a training export) holds is an error naming the file and line: it would leak."""
    trained = {text_digest(text) for _, text in training_records(export, False)}
    for line, text in texts:
        if text_digest(text) in trained:
            raise EvaluateError(f"--eval {path} line {line}: this text is in a training export (it would leak)")
