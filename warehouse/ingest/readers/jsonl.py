"""JSON Lines, plain or gzip/zstd compressed: one document per line, read in bounded chunks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from warehouse.ingest.readers.base import Item, ReadOptions, clip, unreadable
from warehouse.ingest.readers.streams import BrokenStream, codec_of, iter_chunks
from warehouse.ingest.records import Document, Reason, Rejection

_MISSING = object()


class JsonlReader:
    """Parses each line on its own, so one bad line costs one quarantine row, not the file."""

    name = "jsonl"

    def read(self, path: Path, uri: str, options: ReadOptions) -> Iterator[Item]:
        try:
            fh = path.open("rb")
        except OSError as exc:
            yield unreadable(uri, exc)
            return
        with fh:
            yield from self._lines(fh, codec_of(path), uri, options)

    def _lines(self, fh, codec: str, uri: str, options: ReadOptions) -> Iterator[Item]:
        limit = options.max_record_bytes
        line_no = 0
        carry = b""
        oversize_len = 0  # > 0 while skipping the rest of a line already known to be too large
        seen_bytes = 0
        read_pos = 0
        try:
            for chunk in iter_chunks(fh, codec):
                seen_bytes += len(chunk)
                pos = fh.tell()
                options.advance(pos - read_pos)
                read_pos = pos
                if oversize_len:
                    end = chunk.find(b"\n")
                    if end < 0:
                        oversize_len += len(chunk)
                        continue
                    line_no += 1
                    yield self._too_large(uri, line_no, carry, oversize_len + end, limit)
                    carry, oversize_len, chunk = b"", 0, chunk[end + 1 :]
                lines = (carry + chunk).split(b"\n") if carry else chunk.split(b"\n")
                carry = lines.pop()
                for line in lines:
                    line_no += 1
                    item = self._parse(line, line_no, uri, options)
                    if item is not None:
                        yield item
                if len(carry) > limit:
                    oversize_len, carry = len(carry), carry[:limit]
        except BrokenStream as exc:
            message = f"{exc}; the last {len(carry)} decompressed bytes form an incomplete line"
            body, full = clip(carry, limit)
            yield Rejection(uri, f"line {line_no + 1}", Reason.TRUNCATED, message, body, full)
            return
        except OSError as exc:
            yield Rejection(uri, f"line {line_no + 1}", Reason.UNREADABLE_FILE, f"read failed: {exc}", carry)
            return
        if oversize_len:
            yield self._too_large(uri, line_no + 1, carry, oversize_len, limit)
        elif carry:
            item = self._parse(carry, line_no + 1, uri, options)
            if item is not None:
                yield item
        if seen_bytes == 0:
            yield Rejection(uri, "file", Reason.EMPTY_FILE, "file holds no data", b"")

    @staticmethod
    def _too_large(uri: str, line_no: int, head: bytes, length: int, limit: int) -> Rejection:
        message = f"line of {length} bytes exceeds the {limit}-byte record limit"
        return Rejection(uri, f"line {line_no}", Reason.TOO_LARGE, message, head[:limit], length)

    def _parse(self, line: bytes, line_no: int, uri: str, options: ReadOptions) -> Item | None:
        record = line.strip()
        if not record:
            return None  # blank lines separate nothing and hold nothing
        where = f"line {line_no}"
        if len(record) > options.max_record_bytes:
            return self._too_large(uri, line_no, record, len(record), options.max_record_bytes)
        try:
            obj = orjson.loads(record)
        except orjson.JSONDecodeError as exc:
            try:
                record.decode("utf-8")
            except UnicodeDecodeError as bad:
                message = f"invalid UTF-8 at byte {bad.start}: {bad.reason}"
                return Rejection(uri, where, Reason.INVALID_UTF8, message, record)
            return Rejection(uri, where, Reason.INVALID_JSON, f"invalid JSON ({exc})", record)
        if type(obj) is not dict:
            return Rejection(uri, where, Reason.NOT_AN_OBJECT, f"a JSON {type(obj).__name__}, not an object", record)
        field = options.text_field
        text = obj.pop(field, _MISSING)
        if text is _MISSING:
            return Rejection(uri, where, Reason.MISSING_TEXT, f"no {field!r} field", record)
        if not isinstance(text, str):
            kind = "null" if text is None else type(text).__name__
            return Rejection(uri, where, Reason.NON_STRING_TEXT, f"{field!r} is {kind}, not a string", record)
        if not text.strip():
            return Rejection(uri, where, Reason.EMPTY_TEXT, f"{field!r} is empty", record)
        source_id = None
        if options.id_field is not None:
            value = obj.pop(options.id_field, None)
            source_id = None if value is None else str(value)
        extra = orjson.dumps(obj).decode() if obj else None
        return Document(text, "text/plain", f"{uri}#line={line_no}", source_id, extra)
