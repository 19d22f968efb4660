"""Readers per input format, and the rules that pick one for a file."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

from warehouse.ingest.readers.base import Item, Reader, ReadOptions
from warehouse.ingest.readers.html import HtmlFileReader
from warehouse.ingest.readers.jsonl import JsonlReader
from warehouse.ingest.readers.mediawiki import MediaWikiReader, is_mediawiki_dump
from warehouse.ingest.readers.parquet import ParquetReader
from warehouse.ingest.readers.textfiles import TextFileReader
from warehouse.ingest.readers.warc import WarcReader

READERS: dict[str, Reader] = {
    r.name: r
    for r in (JsonlReader(), ParquetReader(), TextFileReader(), HtmlFileReader(), WarcReader(), MediaWikiReader())
}
FORMATS = tuple(READERS)

_BY_SUFFIX = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".warc": "warc",
    ".arc": "warc",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
}
_COMPRESSION = {".gz", ".gzip", ".bz2", ".bzip2", ".zst", ".zstd"}


def detect_format(path: Path) -> str:
    """The format a file's name implies (``data.jsonl.zst`` is jsonl), else what its content shows:
    a ``<mediawiki>`` root element makes a dump whatever the name; anything else is text."""
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in _COMPRESSION:
        suffixes.pop()
    by_name = _BY_SUFFIX.get(suffixes[-1], "text") if suffixes else "text"
    if by_name == "text" and is_mediawiki_dump(path):
        return "mediawiki"
    return by_name


@dataclass(frozen=True)
class InputFile:
    """One file to read, the reader chosen for it, and the URI its documents will carry."""

    path: Path
    format: str
    uri: str

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0


def _walk(root: Path, pattern: str | None) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if pattern is None or fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(name, pattern):
                found.append(path)
    return found


def expand_inputs(
    paths: list[Path], fmt: str | None = None, pattern: str | None = None, uri_prefix: str | None = None
) -> list[InputFile]:
    """Files under ``paths`` (directories walked in sorted order, hidden entries skipped).

    A path that does not exist is kept, so its reader reports it as unreadable rather
    than the ingest forgetting it.
    """
    if fmt is not None and fmt not in READERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    inputs = []
    for given in paths:
        root = Path(given)
        files = _walk(root, pattern) if root.is_dir() else [root]
        for path in files:
            if uri_prefix is not None:
                rel = path.relative_to(root).as_posix() if root.is_dir() else path.name
                uri = uri_prefix.rstrip("/") + "/" + rel
            else:
                uri = path.absolute().as_uri()
            inputs.append(InputFile(path, fmt or detect_format(path), uri))
    return inputs


__all__ = ["FORMATS", "READERS", "InputFile", "Item", "ReadOptions", "detect_format", "expand_inputs"]
