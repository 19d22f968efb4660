"""The reader interface and the small helpers every reader shares."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from warehouse.ingest.records import Document, Reason, Rejection, Skip

Item = Document | Rejection | Skip


@dataclass
class ReadOptions:
    """Per-ingest knobs every reader sees."""

    text_field: str = "text"
    id_field: str | None = None
    max_record_bytes: int = 16 * 1024 * 1024
    advance: Callable[[int], None] = field(default=lambda n: None)  # progress, in input bytes
    wiki_infobox: bool = False  # MediaWiki dumps: keep each article's infobox facts in ``extra``


class Reader(Protocol):
    """Turns one input file into documents and rejections, in file order, in bounded memory."""

    name: str

    def read(self, path: Path, uri: str, options: ReadOptions) -> Iterator[Item]: ...


def clip(raw: bytes, limit: int) -> tuple[bytes, int | None]:
    """Keep at most ``limit`` bytes of a rejected input, remembering the full length if clipped."""
    if len(raw) <= limit:
        return raw, None
    return raw[:limit], len(raw)


def unreadable(uri: str, exc: OSError) -> Rejection:
    """The quarantine row of a file that cannot be opened or read."""
    return Rejection(uri, "file", Reason.UNREADABLE_FILE, f"{type(exc).__name__}: {exc.strerror or exc}", b"")


def read_whole_file(path: Path, uri: str, options: ReadOptions) -> bytes | Rejection:
    """A one-document file's bytes, or why it cannot be a document (unreadable, empty, too large)."""
    limit = options.max_record_bytes
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        return unreadable(uri, exc)
    options.advance(size)
    if len(raw) > limit:
        message = f"{size} bytes exceeds the {limit}-byte record limit"
        return Rejection(uri, "file", Reason.TOO_LARGE, message, raw[:limit], size)
    if not raw:
        return Rejection(uri, "file", Reason.EMPTY_FILE, "file is empty (0 bytes)", raw)
    if not raw.strip():
        return Rejection(uri, "file", Reason.EMPTY_TEXT, f"file holds only whitespace ({len(raw)} bytes)", raw)
    return raw


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def decode_markup(raw: bytes, declared: str | None = None) -> str | None:
    """Decode HTML bytes: UTF-8 first, then the declared or ``<meta>`` charset; None if neither fits."""
    candidates = ["utf-8"]
    if declared:
        candidates.append(declared)
    found = _META_CHARSET.search(raw[:4096])
    if found:
        candidates.append(found.group(1).decode("ascii", "replace"))
    for encoding in candidates:
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def undecodable(uri: str, location: str, raw: bytes, limit: int, exc_hint: str = "") -> Rejection:
    """A rejection for bytes that are not valid UTF-8 (nor a declared charset)."""
    try:
        raw.decode("utf-8")
        detail = exc_hint
    except UnicodeDecodeError as exc:
        detail = f"invalid UTF-8 at byte {exc.start}: {exc.reason}"
    body, full = clip(raw, limit)
    return Rejection(uri, location, Reason.INVALID_UTF8, detail or "not decodable", body, full)
