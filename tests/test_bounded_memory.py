"""Builds in bounded memory: the pieces that hold, each checked on its own.

The audit append streams a large change in byte-bounded chunks into one snapshot, a memory limit
DuckDB cannot read is refused naming the setting, and the rules' tokenizer keeps its vocabulary and
span cache under their bounds however much new text passes (the growth outside DuckDB's limit that
benchmarks/RESULTS.md traced). A test that a whole L1 build's peak RSS stays bounded under a DuckDB
limit below its text is not here: it would cost minutes of the CI budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from udfs.heuristics import SpanTokenizer
from warehouse.duck import new_connection
from warehouse.memory.append import append_query
from warehouse.tables import L1_CLEAN, ensure_table


def test_append_streams_a_large_change_in_chunks_as_one_snapshot(catalog, corpus):
    """The audit append writes a chunk's data files before reading the next, all in one snapshot."""
    texts = [json.loads(p.read_text())["text"] for p in sorted(corpus["sotu"].paths[0].glob("*.json"))[:40]]
    given = {"doc_id": [f"doc-{i}" for i in range(40)], "source": ["sotu"] * 40, "content_hash": ["h"] * 40}
    docs = pa.table(
        {f.name: given.get(f.name, texts if f.name == "text" else pa.nulls(40, f.type)) for f in L1_CLEAN.schema}
    )
    con = new_connection()
    con.register("docs", docs)
    table = ensure_table(catalog, L1_CLEAN)
    with table.transaction() as tx:
        rows = append_query(tx, table.io, con, "SELECT * FROM docs", L1_CLEAN.schema, "main", chunk_bytes=100_000)
    table = catalog.load_table(L1_CLEAN.name)
    files = [task.file for task in table.scan().plan_files()]
    assert rows == 40 and len(table.snapshots()) == 1
    assert len(files) >= docs.nbytes // 100_000 // 2  # about a file per 100 KB chunk, never one for all
    assert sum(f.record_count for f in files) == 40
    assert sorted(table.scan().to_arrow().column("text").to_pylist()) == sorted(texts)


def test_a_memory_limit_duckdb_cannot_read_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match="TIERHOUSE_MEMORY_LIMIT='lots'"):
        new_connection(memory_limit="lots")


def test_the_rules_tokenizer_stays_bounded_on_new_text_with_unchanged_tokens(corpus):
    """Real e-mails bring new token strings all the time: spaCy's vocabulary of a tokenizer that is never
    rebuilt grows past the bound many times over, the bounded one rebuilds and stays under it, and both
    give the same tokens for every text."""
    paths = sorted(Path(corpus["spamassassin"].paths[0]).glob("*/*.json"))[:300]
    texts = [json.loads(p.read_bytes())["text"] for p in paths]
    bounded = SpanTokenizer(cache_spans=500, max_strings=5_000, max_spans=2_000)
    unbounded = SpanTokenizer()
    largest = 0
    for text in texts:
        assert bounded(text) == unbounded(text)
        largest = max(largest, len(bounded.spacy.vocab.strings))
    assert len(unbounded.spacy.vocab.strings) > 3 * 5_000 and unbounded.rebuilds == 0  # the growth is planted
    assert largest < 5_000 and bounded.rebuilds >= 3
    assert bounded.cache_info().currsize <= 500 < unbounded.cache_info().currsize
