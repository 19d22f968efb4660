"""Put the operators on a DuckDB connection as vectorised Arrow UDFs, so dbt SQL can call them."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

import duckdb
import pyarrow as pa

from udfs import chain, dedup, extract, facts, heuristics, identity, langid, repairs
from udfs.editors import guards, triage
from udfs.knowledge import qa
from udfs.scorers import sql as scorers


@dataclass(frozen=True)
class Udf:
    """A SQL name, a per-row Python function, and the SQL and Arrow types around it."""

    name: str
    fn: Callable[..., object]
    params: tuple[str, ...]
    returns: str
    arrow_type: pa.DataType
    batch: bool = False  # ``fn`` takes whole columns (lists) and returns a list: for batched tokenisers
    #: bump when the operator's output changes for the same input: stored measurements record the
    #: version that made them (``th_version``), so only those of an older version are recomputed
    version: str = "1"


def _struct(**fields: pa.DataType) -> pa.DataType:
    return pa.struct(list(fields.items()))


_FACT = _struct(question=pa.string(), answer=pa.string(), evidence=pa.string())
_SCORE = _struct(
    status=pa.string(), score=pa.float64(), label=pa.string(), raw=pa.string(), error=pa.string(),
    backend=pa.string(), requests=pa.int64(), tokens_in=pa.int64(), tokens_out=pa.int64(), seconds=pa.float64(),
)  # fmt: skip
_SCORE_SQL = (
    "STRUCT(status VARCHAR, score DOUBLE, label VARCHAR, raw VARCHAR, error VARCHAR, "
    "backend VARCHAR, requests BIGINT, tokens_in BIGINT, tokens_out BIGINT, seconds DOUBLE)"
)
_SCORER = _struct(name=pa.string(), model=pa.string(), prompt_version=pa.string())
_SCORER_SQL = "STRUCT(name VARCHAR, model VARCHAR, prompt_version VARCHAR)"

UDFS: tuple[Udf, ...] = (
    Udf(
        "th_extract",
        lambda content, ctype: asdict(extract.extract(content, ctype)),
        ("VARCHAR", "VARCHAR"),
        "STRUCT(text VARCHAR, title VARCHAR, language_hint VARCHAR, error VARCHAR)",
        _struct(text=pa.large_string(), title=pa.string(), language_hint=pa.string(), error=pa.string()),
        version="resiliparse-4",  # 2: fenced code, line pass; 3: article blocks; 4: short content checked
    ),
    Udf(
        "th_language",
        lambda text: dict(zip(("language", "score"), langid.identify(text), strict=True)),
        ("VARCHAR",),
        "STRUCT(language VARCHAR, score DOUBLE)",
        _struct(language=pa.string(), score=pa.float64()),
        version="lid176-1",
    ),
    Udf("th_content_hash", identity.content_hash, ("VARCHAR",), "VARCHAR", pa.string()),
    Udf(
        "th_quality_flags",
        heuristics.flag_texts,
        ("VARCHAR", "VARCHAR"),
        "VARCHAR[]",
        pa.list_(pa.string()),
        batch=True,
    ),
    Udf(
        "th_c4_chain",
        chain.chain_texts,
        ("VARCHAR", "VARCHAR"),
        "STRUCT(text VARCHAR, flags VARCHAR[])",
        _struct(text=pa.large_string(), flags=pa.list_(pa.string())),
        batch=True,
    ),
    Udf("th_minhash", dedup.signature_texts, ("VARCHAR",), "BLOB", pa.binary(), batch=True),
    Udf("th_scorer_id", scorers.scorer_ids, ("VARCHAR",), _SCORER_SQL, _SCORER, batch=True),
    Udf("th_judge", scorers.judge_texts, ("VARCHAR", "VARCHAR", "BIGINT"), _SCORE_SQL, _SCORE, batch=True),
    Udf(
        "th_distill",
        scorers.distill_lists,
        ("VARCHAR[]", "VARCHAR[]", "VARCHAR"),
        _SCORER_SQL,
        _SCORER,
        batch=True,
    ),
    Udf("th_classify", scorers.classify_texts, ("VARCHAR", "VARCHAR"), _SCORE_SQL, _SCORE, batch=True),
    Udf(
        "th_classifier_report",
        scorers.classifier_reports,
        ("VARCHAR",),
        "STRUCT(labels BIGINT, spearman DOUBLE, accuracy DOUBLE)",
        _struct(labels=pa.int64(), spearman=pa.float64(), accuracy=pa.float64()),
        batch=True,
    ),
    Udf("th_ask", scorers.ask_texts, ("VARCHAR", "VARCHAR", "VARCHAR", "BIGINT"), _SCORE_SQL, _SCORE, batch=True),
    Udf("th_needs_edit", triage.needs_llm, ("VARCHAR",), "VARCHAR", pa.string()),
    Udf(
        "th_edit_guard",
        lambda before, after, limits: guards.reject_reason(before, after, guards.Limits(**json.loads(limits))),
        ("VARCHAR", "VARCHAR", "VARCHAR"),
        "VARCHAR",
        pa.string(),
    ),
    Udf("th_similarity", guards.similarity, ("VARCHAR", "VARCHAR"), "DOUBLE", pa.float64()),
    Udf("th_parse_qa", qa.parse_qa, ("VARCHAR",), "STRUCT(question VARCHAR, answer VARCHAR, evidence VARCHAR)", _FACT),
    Udf("th_answer_agreement", qa.agreement, ("VARCHAR", "VARCHAR"), "DOUBLE", pa.float64()),
    Udf("th_repair", repairs.repair, ("VARCHAR",), "VARCHAR", pa.large_string()),
    Udf("th_edit_ratio", repairs.edit_ratio, ("VARCHAR", "VARCHAR"), "DOUBLE", pa.float64()),
    Udf(
        "th_facts",
        facts.definitional_facts,
        ("VARCHAR", "INTEGER"),
        "STRUCT(question VARCHAR, answer VARCHAR, evidence VARCHAR)[]",
        pa.list_(_FACT),
    ),
    Udf("th_fact_verdict", facts.check, ("VARCHAR", "VARCHAR", "VARCHAR"), "VARCHAR", pa.string()),
    Udf("th_evidence_in_source", qa.evidence_in_source, ("VARCHAR", "VARCHAR"), "BOOLEAN", pa.bool_()),
)


def versions() -> dict[str, str]:
    """Every operator's version, by SQL name."""
    return {u.name: u.version for u in UDFS}


def versions_digest() -> str:
    """One string that changes whenever any operator's version does: part of every model's fingerprint."""
    return hashlib.sha256(json.dumps(versions(), sort_keys=True).encode()).hexdigest()[:16]


def version_of(name: str) -> str:
    """Operator ``name``'s version (SQL: ``th_version(name)``); unknown names list the known ones."""
    known = versions()
    if name not in known:
        raise KeyError(f"th_version: no operator {name!r}; operators: {', '.join(sorted(known))}")
    return known[name]


BY_NAME: dict[str, Udf] = {u.name: u for u in UDFS}


def apply(name: str, *columns: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Operator ``name`` over whole Arrow columns, NULL in, NULL out: what its SQL function computes,
    callable outside DuckDB too (the Ray engine runs operators through this, so results are identical)."""
    return _apply(BY_NAME[name], *columns)


def _apply(udf: Udf, *columns: pa.Array | pa.ChunkedArray) -> pa.Array:
    rows = list(zip(*(c.to_pylist() for c in columns), strict=True))
    if udf.batch:
        present = [row for row in rows if not any(v is None for v in row)]
        done = iter(udf.fn(*map(list, zip(*present, strict=True))) if present else [])
        return pa.array([None if any(v is None for v in row) else next(done) for row in rows], type=udf.arrow_type)
    return pa.array([None if any(v is None for v in row) else udf.fn(*row) for row in rows], type=udf.arrow_type)


def _vectorised(udf: Udf, before_batch: Callable[[], None]) -> Callable[..., pa.Array]:
    """Apply ``udf.fn`` to each row of whole Arrow batches, calling ``before_batch`` first; NULL in, NULL out."""

    def run(*columns: pa.ChunkedArray) -> pa.Array:
        before_batch()
        return _apply(udf, *columns)

    # DuckDB reads the arity off the signature, so *args will not do.
    arity = {
        1: lambda a: run(a),
        2: lambda a, b: run(a, b),
        3: lambda a, b, c: run(a, b, c),
        4: lambda a, b, c, d: run(a, b, c, d),
    }
    return arity[len(udf.params)]


def _nothing() -> None:
    """Run nothing before a batch: outside a build no ceiling applies."""


def register(con: duckdb.DuckDBPyConnection, before_batch: Callable[[], None] = _nothing) -> list[str]:
    """Create every ``th_*`` function on ``con`` (replacing older registrations); returns their names.
    ``before_batch`` runs before each batch of each operator: a build checks its memory ceiling there."""
    for udf in UDFS:
        with contextlib.suppress(duckdb.InvalidInputException):
            con.remove_function(udf.name)
        con.create_function(
            udf.name, _vectorised(udf, before_batch), list(udf.params), udf.returns,
            type="arrow", side_effects=False, null_handling="special",  # NULL in, NULL out: _vectorised
        )  # fmt: skip
    with contextlib.suppress(duckdb.InvalidInputException):
        con.remove_function("th_version")
    con.create_function("th_version", version_of, ["VARCHAR"], "VARCHAR")
    return [*(u.name for u in UDFS), "th_version"]
