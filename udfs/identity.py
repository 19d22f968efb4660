"""Content identity: the normal form a text is hashed in, and the hash."""

from __future__ import annotations

import unicodedata

import xxhash


def normalise_text(text: str) -> str:
    """The form a text's identity is computed on: NFC, Unix newlines, no outer whitespace."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text.strip()


def content_hash(text: str) -> str:
    """xxh3-128 hex of the normalised text: equal texts get equal hashes, whatever their provenance."""
    return xxhash.xxh3_128_hexdigest(normalise_text(text).encode("utf-8"))
