"""HTML files, kept as raw markup: text extraction is an L1 operator, not ingest's job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from warehouse.ingest.readers.base import Item, ReadOptions, decode_markup, read_whole_file, undecodable
from warehouse.ingest.records import Document, Rejection


class HtmlFileReader:
    """One HTML page per file; doc_id hashes the raw bytes so re-encoding never changes identity."""

    name = "html"

    def read(self, path: Path, uri: str, options: ReadOptions) -> Iterator[Item]:
        raw = read_whole_file(path, uri, options)
        if isinstance(raw, Rejection):
            yield raw
            return
        markup = decode_markup(raw)
        if markup is None:
            yield undecodable(uri, "file", raw, options.max_record_bytes)
            return
        yield Document(markup, "text/html", uri, hash_bytes=raw)
