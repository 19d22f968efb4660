"""Put the operators on a DuckDB connection as vectorised Arrow UDFs, so dbt SQL can call them."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from udfs import extract, facts, heuristics, identity, langid, repairs


@dataclass(frozen=True)
class Udf:
    """A SQL name, a per-row Python function, and the SQL and Arrow types around it."""

    name: str
    fn: Callable[..., object]
    params: tuple[str, ...]
    returns: str
    arrow_type: pa.DataType
    batch: bool = False  # ``fn`` takes the whole column (a list) and returns a list: for batched tokenisers


def _struct(**fields: pa.DataType) -> pa.DataType:
    return pa.struct(list(fields.items()))


_FACT = _struct(question=pa.string(), answer=pa.string(), evidence=pa.string())

UDFS: tuple[Udf, ...] = (
    Udf(
        "th_extract",
        lambda content, ctype: dict(zip(("text", "title"), extract.extract(content, ctype), strict=True)),
        ("VARCHAR", "VARCHAR"),
        "STRUCT(text VARCHAR, title VARCHAR)",
        _struct(text=pa.large_string(), title=pa.string()),
    ),
    Udf(
        "th_language",
        lambda text: dict(zip(("language", "score"), langid.identify(text), strict=True)),
        ("VARCHAR",),
        "STRUCT(language VARCHAR, score DOUBLE)",
        _struct(language=pa.string(), score=pa.float64()),
    ),
    Udf("th_content_hash", identity.content_hash, ("VARCHAR",), "VARCHAR", pa.string()),
    Udf("th_quality_flags", heuristics.flag_texts, ("VARCHAR",), "VARCHAR[]", pa.list_(pa.string()), batch=True),
    Udf("th_repair", repairs.repair, ("VARCHAR",), "VARCHAR", pa.large_string()),
    Udf("th_edit_ratio", repairs.edit_ratio, ("VARCHAR", "VARCHAR"), "DOUBLE", pa.float64()),
    Udf(
        "th_facts",
        facts.definitional_facts,
        ("VARCHAR", "INTEGER"),
        "STRUCT(question VARCHAR, answer VARCHAR, evidence VARCHAR)[]",
        pa.list_(_FACT),
    ),
    Udf(
        "th_verify",
        lambda answer, evidence, source: dict(
            zip(("verdict", "confidence"), facts.verify(answer, evidence, source), strict=True)
        ),
        ("VARCHAR", "VARCHAR", "VARCHAR"),
        "STRUCT(verdict VARCHAR, confidence DOUBLE)",
        _struct(verdict=pa.string(), confidence=pa.float64()),
    ),
)


def _vectorised(udf: Udf) -> Callable[..., pa.Array]:
    """Apply ``udf.fn`` to each row of whole Arrow batches; NULL in, NULL out."""

    def run(*columns: pa.ChunkedArray) -> pa.Array:
        if udf.batch:
            values = columns[0].to_pylist()
            done = iter(udf.fn([v for v in values if v is not None]))
            return pa.array([None if v is None else next(done) for v in values], type=udf.arrow_type)
        rows = zip(*(c.to_pylist() for c in columns), strict=True)
        return pa.array([None if any(v is None for v in row) else udf.fn(*row) for row in rows], type=udf.arrow_type)

    # DuckDB reads the arity off the signature, so *args will not do.
    arity = {1: lambda a: run(a), 2: lambda a, b: run(a, b), 3: lambda a, b, c: run(a, b, c)}
    return arity[len(udf.params)]


def register(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create every ``th_*`` function on ``con`` (replacing older registrations); returns their names."""
    for udf in UDFS:
        with contextlib.suppress(duckdb.InvalidInputException):
            con.remove_function(udf.name)
        con.create_function(udf.name, _vectorised(udf), list(udf.params), udf.returns, type="arrow", side_effects=False)
    return [u.name for u in UDFS]
