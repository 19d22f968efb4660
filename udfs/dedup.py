"""MinHash-LSH near-duplicate detection, vectorised over whole batches of documents.

The pieces are plain functions over NumPy arrays so that they run from SQL (``th_minhash``),
from Python, and inside the incremental runner (``warehouse/fuzzy.py``) alike:

- ``shingles``: word n-grams of simplified text, hashed to 64 bits, for a whole batch at once;
- ``MinHasher``: signatures by multiply-shift hashing, one matrix product per slice of shingles
  instead of one Python loop per document;
- ``band_keys``: the LSH bucket of each signature in each band;
- ``similarity``: the Jaccard estimate of two signatures (the share of equal minima);
- ``UnionFind``: clusters whose root is always the smallest member, so the kept document of a
  cluster is decided by the order the caller gives (earliest ingested, then ``doc_id``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import regex
import xxhash

_NUMBER = regex.compile(r"\p{Nd}+(?:[.,]\p{Nd}+)?")
_WORD = regex.compile(r"[\p{L}\p{N}_]+")
_MARK = regex.compile(r"\p{M}+")
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd constant (golden ratio) for combining 64-bit hashes
_SLICE = 1 << 13  # shingles hashed per matrix product: bounds memory at _SLICE x permutations x 8 bytes
_CHUNK_CHARS = 1 << 20  # text shingled at a time


@dataclass(frozen=True)
class MinHashConfig:
    """How documents are shingled, signed and bucketed.

    With ``bands`` b and ``rows`` r, a pair at Jaccard J becomes a candidate with probability
    1 - (1 - J^r)^b; the defaults (25 x 8 = 200 permutations) catch 99% of pairs at J = 0.8.
    A candidate counts as a duplicate only if its estimated Jaccard reaches ``threshold``
    (the estimate's standard error is about 0.03 near 0.8 with 200 permutations), which trims
    the pairs that banding lets through from below 0.8.
    """

    shingle_size: int = 5
    bands: int = 25
    rows: int = 8
    threshold: float = 0.77
    seed: int = 1

    def __post_init__(self) -> None:
        if self.shingle_size < 1 or self.bands < 1 or self.rows < 1:
            raise ValueError(f"shingle_size, bands and rows must be positive: {self}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {self.threshold}")

    @property
    def permutations(self) -> int:
        return self.bands * self.rows

    @property
    def key(self) -> str:
        """What a stored signature depends on (the threshold only filters pairs, so it is not part)."""
        return f"w{self.shingle_size}-b{self.bands}r{self.rows}-s{self.seed}"


def simplified_words(text: str) -> list[str]:
    """Lower-cased words without punctuation or diacritics, numbers folded to ``0``."""
    text = text.lower()
    if not text.isascii():
        text = _MARK.sub("", unicodedata.normalize("NFKD", text))
    return _WORD.findall(_NUMBER.sub("0", text))


def _mix(values: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (xor-shift-multiply), so combined hashes stay well spread."""
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xFF51AFD7ED558CCD)
    return values ^ (values >> np.uint64(33))


def shingles(texts: Sequence[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashed word ``size``-grams of every text, flat, and each text's start offset into them.

    A text with fewer than ``size`` words yields one shingle of all its words; an empty one none.
    Returns ``(hashes, offsets)`` with ``len(offsets) == len(texts) + 1``.
    """
    words = [simplified_words(t) for t in texts]
    counts = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
    vocabulary = {w: xxhash.xxh3_64_intdigest(w.encode()) for w in set().union(*words)}
    flat = np.fromiter((vocabulary[w] for ws in words for w in ws), dtype=np.uint64, count=int(counts.sum()))
    per_doc = np.where(counts >= size, counts - size + 1, np.minimum(counts, 1))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(per_doc, out=offsets[1:])
    word_starts = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(counts[:-1], out=word_starts[1:])
    # position p of the flat shingle array starts at word word_starts[doc] + (p - offsets[doc])
    doc_of = np.repeat(np.arange(len(texts)), per_doc)
    first_word = word_starts[doc_of] + (np.arange(offsets[-1]) - offsets[doc_of])
    width = np.minimum(counts[doc_of], size)
    hashes = np.zeros(offsets[-1], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(size):
            in_gram = k < width
            word = flat[np.where(in_gram, first_word + k, 0)]
            hashes = np.where(in_gram, (hashes ^ word) * _MIX, hashes)
        return _mix(hashes), offsets


class MinHasher:
    """Signatures of ``config.permutations`` 32-bit minima, for whole batches of texts.

    Permutation i maps a shingle hash x to the top 32 bits of ``a_i * x + b_i`` (mod 2^64) with
    ``a_i`` odd: multiply-shift hashing, which needs no modulo and vectorises as one product.
    """

    def __init__(self, config: MinHashConfig | None = None) -> None:
        self.config = config or MinHashConfig()
        rng = np.random.default_rng(self.config.seed)
        n = self.config.permutations
        self._a = rng.integers(0, 2**63, size=n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self._b = rng.integers(0, 2**63, size=n, dtype=np.uint64)

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), permutations)`` uint32; a text with no words gets all ``0xFFFFFFFF``."""
        out = np.full((len(texts), self.config.permutations), np.iinfo(np.uint32).max, dtype=np.uint32)
        start = 0
        while start < len(texts):  # about _CHUNK_CHARS of text at a time bounds the word lists' memory
            end, size = start + 1, len(texts[start])
            while end < len(texts) and size + len(texts[end]) <= _CHUNK_CHARS:
                size += len(texts[end])
                end += 1
            self._sign(texts[start:end], out[start:end])
            start = end
        return out

    def _sign(self, texts: Sequence[str], out: np.ndarray) -> None:
        hashes, offsets = shingles(texts, self.config.shingle_size)
        doc_of = np.repeat(np.arange(len(texts)), np.diff(offsets))
        for start in range(0, len(hashes), _SLICE):
            docs = doc_of[start : start + _SLICE]
            with np.errstate(over="ignore"):
                permuted = np.multiply(hashes[start : start + _SLICE, None], self._a)
                permuted += self._b
            permuted >>= np.uint64(32)
            firsts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
            owners = docs[firsts]
            out[owners] = np.minimum(out[owners], np.minimum.reduceat(permuted, firsts, axis=0).astype(np.uint32))


def band_keys(signatures: np.ndarray, config: MinHashConfig) -> np.ndarray:
    """``(n, bands)`` int64: the bucket of each signature in each band (equal rows, equal key)."""
    rows = signatures.reshape(len(signatures), config.bands, config.rows).astype(np.uint64)
    keys = np.full(rows.shape[:2], np.uint64(config.seed), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(config.rows):
            keys = (keys ^ rows[:, :, r]) * _MIX
        return _mix(keys).view(np.int64)


def similarity(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Estimated Jaccard of each row pair of two ``(n, permutations)`` signature arrays."""
    return (left == right).mean(axis=1)


def signature_bytes(signatures: np.ndarray) -> list[bytes]:
    """One little-endian byte string per signature, for storage."""
    little = signatures.astype("<u4", copy=False)
    return [row.tobytes() for row in little]


@lru_cache(maxsize=1)
def _default_hasher() -> MinHasher:
    return MinHasher()


def signature_texts(texts: list[str]) -> list[bytes]:
    """Signatures under the default configuration, as bytes: ``th_minhash`` in SQL."""
    return signature_bytes(_default_hasher().signatures(texts))


def signatures_from_bytes(blobs: Iterable[bytes], permutations: int) -> np.ndarray:
    """The inverse of ``signature_bytes``."""
    return np.frombuffer(b"".join(blobs), dtype="<u4").reshape(-1, permutations)


class UnionFind:
    """Disjoint sets over ``0..n-1`` whose root is the smallest member.

    Number the nodes in keeper order and the root of each cluster is its keeper, whatever
    order the edges arrive in.
    """

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, node: int) -> int:
        parent = self.parent
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def roots(self) -> list[int]:
        return [self.find(i) for i in range(len(self.parent))]
