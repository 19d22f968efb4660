"""Chunked reading of plain, gzip, bzip2 and zstd files that reports truncation instead of hiding it."""

from __future__ import annotations

import bz2
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

import zstandard

CHUNK = 1 << 20


class BrokenStream(Exception):
    """The compressed stream is cut short or corrupt; everything before it was already yielded."""

    def __init__(self, codec: str, compressed_offset: int, detail: str) -> None:
        super().__init__(f"{codec} stream {detail} at compressed byte {compressed_offset}")
        self.codec = codec
        self.compressed_offset = compressed_offset


class _Decoder(Protocol):
    eof: bool
    unused_data: bytes

    def decompress(self, data: bytes) -> bytes: ...


def codec_of(path: Path) -> str:
    """``gzip``, ``bzip2``, ``zstd`` or ``plain``, by suffix."""
    suffix = path.suffix.lower()
    if suffix in {".gz", ".gzip"}:
        return "gzip"
    if suffix in {".bz2", ".bzip2"}:
        return "bzip2"
    if suffix in {".zst", ".zstd"}:
        return "zstd"
    return "plain"


def _gzip_decoder() -> _Decoder:
    return zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)


def _bzip2_decoder() -> _Decoder:
    return bz2.BZ2Decompressor()


def _zstd_decoder() -> _Decoder:
    return zstandard.ZstdDecompressor().decompressobj()


_DECODERS: dict[str, Callable[[], _Decoder]] = {"gzip": _gzip_decoder, "bzip2": _bzip2_decoder, "zstd": _zstd_decoder}


def _decompressed(fh: BinaryIO, codec: str) -> Iterator[bytes]:
    new_decoder = _DECODERS[codec]
    decoder, fed = new_decoder(), False
    while chunk := fh.read(CHUNK):
        while chunk:
            fed = True
            try:
                out = decoder.decompress(chunk)
            except (zlib.error, OSError, zstandard.ZstdError) as exc:  # bz2 raises OSError
                raise BrokenStream(codec, fh.tell(), f"is corrupt ({exc})") from exc
            if out:
                yield out
            if decoder.eof:  # one member/frame ended; concatenated ones may follow
                chunk = decoder.unused_data
                decoder, fed = new_decoder(), False
            else:
                chunk = b""
    if fed:
        raise BrokenStream(codec, fh.tell(), "ends without its end-of-stream marker")


def iter_chunks(fh: BinaryIO, codec: str) -> Iterator[bytes]:
    """Decompressed chunks of ``fh``; raises :class:`BrokenStream` after the last recoverable one."""
    if codec == "plain":
        while chunk := fh.read(CHUNK):
            yield chunk
    else:
        yield from _decompressed(fh, codec)
