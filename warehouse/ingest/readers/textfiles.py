"""Plain-text and Markdown files: one document per file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from warehouse.ingest.readers.base import Item, ReadOptions, read_whole_file, undecodable
from warehouse.ingest.records import Document, Reason, Rejection

_SNIFF_BYTES = 8192


class TextFileReader:
    """A text file is a document; a file with NUL bytes is binary and goes to quarantine."""

    name = "text"

    def read(self, path: Path, uri: str, options: ReadOptions) -> Iterator[Item]:
        raw = read_whole_file(path, uri, options)
        if isinstance(raw, Rejection):
            yield raw
            return
        if b"\x00" in raw[:_SNIFF_BYTES]:
            yield Rejection(uri, "file", Reason.BINARY_FILE, "NUL bytes in the first 8 KiB: not a text file", raw)
            return
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            yield undecodable(uri, "file", raw, options.max_record_bytes)
            return
        content_type = "text/markdown" if path.suffix.lower() in {".md", ".markdown"} else "text/plain"
        yield Document(text, content_type, uri)
