"""What readers yield: a document to store, or a rejection bound for ``ops.quarantine``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import xxhash

from udfs.identity import content_hash


class Reason(StrEnum):
    """Why an input was quarantined; the codes are stable and documented in the README."""

    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    INVALID_UTF8 = "invalid_utf8"
    MISSING_TEXT = "missing_text"
    EMPTY_TEXT = "empty_text"
    NON_STRING_TEXT = "non_string_text"
    TOO_LARGE = "record_too_large"
    TRUNCATED = "truncated_stream"
    UNREADABLE_FILE = "unreadable_file"
    PARQUET_SCHEMA = "parquet_schema"
    EMPTY_FILE = "empty_file"
    BINARY_FILE = "binary_file"
    UNSUPPORTED_CONTENT = "unsupported_content_type"
    INVALID_XML = "invalid_xml"


class SkipReason(StrEnum):
    """Why a well-formed record was passed over on purpose: counted, never quarantined."""

    REDIRECT = "redirect"
    NON_ARTICLE_NAMESPACE = "non_article_namespace"
    NOT_WIKITEXT = "not_wikitext"


@dataclass(slots=True)
class Document:
    """One document as read: content plus where it came from."""

    content: str
    content_type: str
    uri: str
    source_id: str | None = None
    extra: str | None = None  # the record's other fields, as a JSON object string
    hash_bytes: bytes | None = None  # what doc_id hashes when not the normalised text (raw HTML)


@dataclass(slots=True)
class Rejection:
    """One input that could not become a document, with everything needed to find and replay it."""

    file: str
    location: str
    reason: Reason
    message: str
    raw: bytes
    raw_length: int | None = None  # the full length when ``raw`` holds only a prefix


@dataclass(slots=True)
class Skip:
    """A record that is fine but not a document by policy (a wiki redirect, a talk page)."""

    file: str
    location: str
    reason: SkipReason
    message: str


def doc_id(doc: Document) -> str:
    """Stable content identity: xxh3-128 hex of the raw bytes (markup) or the normalised text."""
    if doc.hash_bytes is not None:
        return xxhash.xxh3_128_hexdigest(doc.hash_bytes)
    return content_hash(doc.content)
