"""WARC and WARC.gz: HTML response (and resource) records, stored as raw markup with provenance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
from fastwarc.warc import ArchiveIterator, WarcRecordType

from warehouse.ingest.readers.base import Item, ReadOptions, clip, decode_markup, undecodable, unreadable
from warehouse.ingest.records import Document, Reason, Rejection

HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = HTML_TYPES | {"text/plain"}


class WarcReader:
    """Reads records with fastwarc; non-text payloads and cut-off records go to quarantine."""

    name = "warc"

    def read(self, path: Path, uri: str, options: ReadOptions) -> Iterator[Item]:
        try:
            size = path.stat().st_size
        except OSError as exc:
            yield unreadable(uri, exc)
            return
        if size == 0:
            yield Rejection(uri, "file", Reason.EMPTY_FILE, "file is empty (0 bytes)", b"")
            return
        records = ArchiveIterator(
            str(path),
            record_types=WarcRecordType.response | WarcRecordType.resource,
            parse_http=True,
            fsspec_args=False,
        )
        where, count = "file", 0
        try:
            for record in records:
                count += 1
                where = f"record at byte {record.stream_pos}"
                yield self._record(record, uri, where, options)
        except OSError as exc:
            yield Rejection(uri, where, Reason.TRUNCATED, f"WARC stream broke after {count} records: {exc}", b"")
        options.advance(size)

    @staticmethod
    def _record(record, uri: str, where: str, options: ReadOptions) -> Item:
        limit = options.max_record_bytes
        target = record.headers.get("WARC-Target-URI") or f"{uri}#{where}"
        if record.is_http:
            content_type = (record.http_content_type or "").lower()
            charset = record.http_charset
        else:
            content_type = (record.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            charset = None
        body = record.reader.read()
        if len(body) < record.content_length:
            message = f"record cut short: {len(body)} of {record.content_length} payload bytes"
            raw, full = clip(body, limit)
            return Rejection(uri, where, Reason.TRUNCATED, message, raw, full)
        if content_type not in TEXT_TYPES:
            raw, full = clip(body, limit)
            message = f"{target}: content type {content_type or 'missing'!r} is not text"
            return Rejection(uri, where, Reason.UNSUPPORTED_CONTENT, message, raw, full)
        if len(body) > limit:
            raw, full = clip(body, limit)
            message = f"{target}: {len(body)} bytes exceeds the {limit}-byte record limit"
            return Rejection(uri, where, Reason.TOO_LARGE, message, raw, full)
        markup = decode_markup(body, charset)
        if markup is None:
            return undecodable(uri, where, body, limit)
        extra = {
            "warc_file": uri,
            "warc_offset": record.stream_pos,
            "warc_record_id": record.record_id,
            "warc_date": record.headers.get("WARC-Date"),
        }
        if record.is_http:
            extra["http_status"] = record.http_headers.status_code
        kind = "text/html" if content_type in HTML_TYPES else "text/plain"
        return Document(markup, kind, target, None, orjson.dumps(extra).decode(), hash_bytes=body)
