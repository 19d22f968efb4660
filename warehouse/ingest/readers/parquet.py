"""Parquet files: the text column becomes the content, the other columns are kept as JSON."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.ingest.readers.base import Item, ReadOptions, clip
from warehouse.ingest.records import Document, Reason, Rejection

BATCH_ROWS = 4096


def _file_head(path: Path, limit: int) -> tuple[bytes, int | None]:
    try:
        with path.open("rb") as fh:
            return clip(fh.read(limit + 1), limit)
    except OSError:
        return b"", None


def _json(row: dict) -> bytes:
    return orjson.dumps(row, default=str)


class ParquetReader:
    """Streams row groups in batches; a file whose schema lacks a string text column is quarantined whole."""

    name = "parquet"

    def read(self, path: Path, uri: str, options: ReadOptions) -> Iterator[Item]:
        field = options.text_field
        try:
            size = path.stat().st_size
            if size == 0:
                yield Rejection(uri, "file", Reason.EMPTY_FILE, "file is empty (0 bytes)", b"")
                return
            parquet = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            raw, full = _file_head(path, options.max_record_bytes)
            yield Rejection(uri, "file", Reason.UNREADABLE_FILE, f"not a readable Parquet file: {exc}", raw, full)
            return
        schema = parquet.schema_arrow
        problem = None
        if field not in schema.names:
            problem = f"no column {field!r} (columns: {', '.join(schema.names)})"
        elif not (pa.types.is_string(schema.field(field).type) or pa.types.is_large_string(schema.field(field).type)):
            problem = f"column {field!r} is {schema.field(field).type}, not a string"
        if problem:
            raw, full = _file_head(path, options.max_record_bytes)
            yield Rejection(uri, "file", Reason.PARQUET_SCHEMA, f"wrong Parquet schema: {problem}", raw, full)
            options.advance(size)
            return
        id_field = options.id_field if options.id_field in schema.names else None
        rows_per_byte = size / max(parquet.metadata.num_rows, 1)
        row = 0
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            yield from self._batch(batch, row, uri, options, id_field)
            row += batch.num_rows
            options.advance(int(batch.num_rows * rows_per_byte))

    @staticmethod
    def _batch(batch: pa.RecordBatch, first_row: int, uri: str, options: ReadOptions, id_field: str | None):
        field = options.text_field
        texts = batch.column(field).to_pylist()
        ids = batch.column(id_field).to_pylist() if id_field else [None] * batch.num_rows
        others = batch.drop_columns([c for c in (field, id_field) if c]).to_pylist()
        for i, (text, source_id, rest) in enumerate(zip(texts, ids, others, strict=True)):
            where = f"row {first_row + i}"
            if text is None or not text.strip():
                full = {field: text, **({id_field: source_id} if id_field else {}), **rest}
                reason, what = (Reason.NON_STRING_TEXT, "null") if text is None else (Reason.EMPTY_TEXT, "empty")
                yield Rejection(uri, where, reason, f"{field!r} is {what}", _json(full))
                continue
            if len(text) > options.max_record_bytes:
                body, length = clip(text.encode(), options.max_record_bytes)
                message = f"text of {length} bytes exceeds the {options.max_record_bytes}-byte record limit"
                yield Rejection(uri, where, Reason.TOO_LARGE, message, body, length)
                continue
            extra = _json(rest).decode() if rest else None
            sid = None if source_id is None else str(source_id)
            yield Document(text, "text/plain", f"{uri}#row={first_row + i}", sid, extra)
